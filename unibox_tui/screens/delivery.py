"""Replies that did not certainly arrive: the `D` action offers, for each failed or uncertain
reply of the open conversation, to send it again or (uncertain only) to mark it as sent.
core/outbox.py says when a reply is uncertain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from ..core import commands, queries
from ..core.text import one_line
from ..widgets.safe_text import safe_line
from .pickers import Choice, PickerScreen

if TYPE_CHECKING:
    from .inbox import InboxScreen

UNSETTLED = ("failed", "uncertain")


def choices(messages: list[queries.MessageRow]) -> list[Choice[tuple[str, str]]]:
    """(action, message id) choices for the replies that need a decision, newest first."""
    found: list[Choice[tuple[str, str]]] = []
    for m in reversed(messages):
        if m.kind != "outgoing" or m.delivery_state not in UNSETTLED:
            continue
        what = one_line(m.body, 50)
        state = "may not have arrived" if m.delivery_state == "uncertain" else "failed"
        label = Text(f"Send again ({state}): ")
        label.append_text(safe_line(what, limit=50))
        found.append(Choice(("resend", m.id), label))
        if m.delivery_state == "uncertain":
            label = Text("Mark as sent (it arrived): ")
            label.append_text(safe_line(what, limit=50))
            found.append(Choice(("mark_sent", m.id), label))
    return found


def open_picker(screen: InboxScreen) -> None:
    need = screen._need()
    if need is None:
        return
    row, me = need
    found = choices(queries.thread(screen.uapp.ws, row.id, access=screen.uapp.access))
    if not found:
        screen.notify("Every reply here was delivered or is on its way.", markup=False)
        return

    def chosen(value: tuple[str, str] | None) -> None:
        if value is None:
            return
        action, message_id = value
        fn = commands.resend if action == "resend" else commands.mark_sent
        screen.run_command(fn, message_id, actor=me, now=screen.uapp.now())

    screen.app.push_screen(PickerScreen("Reply not delivered", found), chosen)
