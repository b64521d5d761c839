# ruff: noqa: F401  (the TYPE_CHECKING imports mirror the lazy names for type checkers)
"""Commands: the ONLY code that changes workspace state (DESIGN.md).

Each command is a plain function taking the workspace and validated arguments, running in
one write transaction, and raising a typed `UniboxError` for an illegal request. `actor` is
the agent doing it (id or handle). The CLI, the TUI and the engine all call these.

The submodules (and with them SQLModel) load on first use — `commands.reply(...)` imports
`commands.conversations` then — so importing this package costs nothing at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "admin": (
        "Deactivated",
        "InitResult",
        "activate_agent",
        "check_admin",
        "deactivate_agent",
        "init_workspace",
        "remove_inbox",
        "remove_team",
        "rename_inbox",
        "set_agent",
        "set_inbox_access",
        "set_team_members",
        "update_inbox",
    ),
    "bots": ("BotTurn", "bot_turn", "expire_bot_sessions"),
    "chatflows": (
        "remove_article",
        "save_article",
        "save_chatflow",
        "set_chatflow_enabled",
    ),
    "contacts": (
        "add_identity",
        "create_contact",
        "merge_contacts",
        "normalize_identity",
        "save_contact",
        "update_contact",
    ),
    "conversations": (
        "CommentResult",
        "assign",
        "assign_team",
        "close",
        "comment",
        "mark_read",
        "move_inbox",
        "reopen",
        "reply",
        "snooze",
        "unsend",
        "wake_due",
    ),
    "many": ("BulkResult", "bulk"),
    "chat": ("email_transcript", "visitor_email"),
    "delivery": ("apply_status", "apply_watermark", "mark_sent", "record_echo", "resend"),
    "merging": ("MergeResult", "merge_conversations"),
    "forms": ("FormSubmission", "submit_form"),
    "drafts": ("clear_draft", "save_draft"),
    "routing": ("RoutingView", "set_inbox_hours", "set_routing", "show_routing"),
    "forwarding": ("forward",),
    "incoming": (
        "Incoming",
        "IncomingAttachment",
        "IngestResult",
        "Prepared",
        "ingest",
        "ingest_many",
        "link_identities",
        "prepare",
        "set_sync_state",
    ),
    "notifications": (
        "Arrivals",
        "mark_notifications_read",
        "note_new_conversations",
        "note_watched_arrivals",
    ),
    "pipelines": (
        "create_pipeline",
        "remove_pipeline",
        "set_inbox_pipeline",
        "set_stages",
    ),
    "setup": (
        "add_channel",
        "add_team_member",
        "create_agent",
        "create_inbox",
        "create_team",
        "delete_snippet",
        "remove_channel",
        "save_snippet",
        "set_availability",
        "set_channel_enabled",
        "update_channel",
    ),
    "slack": ("remove_slack", "set_slack"),
    "tags": ("tag", "untag"),
    "tickets": ("close_ticket", "create_ticket", "update_ticket"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and editors: the same names, eagerly
    from .admin import (
        Deactivated,
        InitResult,
        activate_agent,
        check_admin,
        deactivate_agent,
        init_workspace,
        remove_inbox,
        remove_team,
        rename_inbox,
        set_agent,
        set_inbox_access,
        set_team_members,
        update_inbox,
    )
    from .bots import BotTurn, bot_turn, expire_bot_sessions
    from .chat import email_transcript, visitor_email
    from .chatflows import remove_article, save_article, save_chatflow, set_chatflow_enabled
    from .contacts import (
        add_identity,
        create_contact,
        merge_contacts,
        normalize_identity,
        save_contact,
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
        unsend,
        wake_due,
    )
    from .delivery import apply_status, apply_watermark, mark_sent, record_echo, resend
    from .drafts import clear_draft, save_draft
    from .forms import FormSubmission, submit_form
    from .forwarding import forward
    from .incoming import (
        Incoming,
        IncomingAttachment,
        IngestResult,
        Prepared,
        ingest,
        ingest_many,
        link_identities,
        prepare,
        set_sync_state,
    )
    from .many import BulkResult, bulk
    from .merging import MergeResult, merge_conversations
    from .notifications import (
        Arrivals,
        mark_notifications_read,
        note_new_conversations,
        note_watched_arrivals,
    )
    from .pipelines import create_pipeline, remove_pipeline, set_inbox_pipeline, set_stages
    from .routing import RoutingView, set_inbox_hours, set_routing, show_routing
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
    from .slack import remove_slack, set_slack
    from .tags import tag, untag
    from .tickets import close_ticket, create_ticket, update_ticket
