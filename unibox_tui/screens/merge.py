"""“Merge into…”: the picker of conversations the one on screen can merge into.

The contact's own conversations come first (a customer who wrote twice about one thing is
the usual case), then the latest conversations of every view the agent sees; typing filters
them by subject, contact, inbox or id, and a whole conversation id typed or pasted is looked
up even when it is in neither list. All of it is keyed look-ups and one keyset page: cheap
enough for the UI thread at any workspace size.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text

from ..core import clock, queries
from ..core.access import Access
from ..core.db import Workspace
from ..core.errors import UniboxError
from ..core.ids import is_id
from ..widgets.safe_text import safe_line
from .pickers import Choice

RECENT = 100  # latest conversations offered after the contact's own
OWN = 50


def _choice(row: queries.ConversationRow, own: bool, now: datetime) -> Choice[str]:
    label = Text("● " if own else "  ", style="bold" if own else "dim")
    label.append_text(safe_line(row.subject or row.preview or "(no subject)", "bold", limit=40))
    label.append("  ")
    label.append_text(safe_line(row.contact_name, limit=20))
    label.append(
        f"  {row.status} · {clock.age(row.last_message_at, now)}",
        style="dim",
    )
    search = f"{row.subject} {row.preview[:80]} {row.contact_name} {row.inbox} {row.id}"
    return Choice(row.id, label, search)


def merge_choices(
    ws: Workspace, row: queries.ConversationRow, access: Access, now: datetime
) -> list[Choice[str]]:
    """The conversations `row` may merge into: its contact's first, then the latest."""
    seen = {row.id}
    out: list[Choice[str]] = []
    try:
        own = queries.contact(ws, row.contact_id, access=access, history=OWN).conversations
    except UniboxError:
        own = []
    for other in own:
        if other.id not in seen:
            seen.add(other.id)
            out.append(_choice(other, True, now))
    view = queries.view("all", ws=ws, access=access)
    with ws.read() as conn:
        latest = queries.list_page(conn, view, limit=RECENT).rows
    for other in latest:
        if other.id not in seen:
            seen.add(other.id)
            out.append(_choice(other, False, now))
    return out


def typed_id(
    ws: Workspace, row: queries.ConversationRow, access: Access, now: Callable[[], datetime]
) -> Callable[[str], Choice[str] | None]:
    """A picker's `typed`: a whole conversation id becomes a choice (one key look-up)."""

    def lookup(text: str) -> Choice[str] | None:
        text = text.strip()
        if not is_id(text) or text == row.id:
            return None
        try:
            found = queries.conversation(ws, queries.resolve_conversation(ws, text), access=access)
        except UniboxError:
            return None
        return (
            None
            if found.id == row.id
            else _choice(found, found.contact_id == row.contact_id, now())
        )

    return lookup
