"""Commands: the ONLY code that changes workspace state (DESIGN.md).

Each command is a plain function taking the workspace and validated arguments, running in
one write transaction, and raising a typed `UniboxError` for an illegal request. `actor` is
the agent doing it (id or handle). The CLI, the TUI and the engine all call these.
"""

from .contacts import (
    add_identity,
    create_contact,
    merge_contacts,
    normalize_identity,
    update_contact,
)
from .conversations import (
    CommentResult,
    assign,
    assign_team,
    close,
    comment,
    mark_read,
    move_inbox,
    reopen,
    reply,
    snooze,
    wake_due,
)
from .ingest import (
    Incoming,
    IncomingAttachment,
    IngestResult,
    ingest,
    ingest_many,
    set_sync_state,
)
from .notifications import mark_notifications_read
from .setup import (
    add_channel,
    add_team_member,
    create_agent,
    create_inbox,
    create_team,
    delete_snippet,
    remove_channel,
    save_snippet,
    set_availability,
    set_channel_enabled,
    update_channel,
)
from .tickets import close_ticket, create_ticket, update_ticket

__all__ = [
    "CommentResult",
    "Incoming",
    "IncomingAttachment",
    "IngestResult",
    "add_channel",
    "add_identity",
    "add_team_member",
    "assign",
    "assign_team",
    "close",
    "close_ticket",
    "comment",
    "create_agent",
    "create_contact",
    "create_inbox",
    "create_team",
    "create_ticket",
    "delete_snippet",
    "ingest",
    "ingest_many",
    "mark_notifications_read",
    "mark_read",
    "merge_contacts",
    "move_inbox",
    "normalize_identity",
    "remove_channel",
    "reopen",
    "reply",
    "save_snippet",
    "set_availability",
    "set_channel_enabled",
    "set_sync_state",
    "snooze",
    "update_channel",
    "update_contact",
    "update_ticket",
    "wake_due",
]
