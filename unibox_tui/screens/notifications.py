"""The notifications list (`b`): mentions (with the comment that mentions you) and
assignments, newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from ..core import clock, commands, queries
from ..core.db import Workspace
from ..core.queries import NotificationRow
from ..widgets.safe_text import safe_line
from .list_keys import ListKeys
from .on_app import OnApp

KIND_LABEL = {"mention": "@ mention", "assigned": "→ assigned", "new_conversation": "+ new"}

if TYPE_CHECKING:
    pass


def notification_label(note: NotificationRow, now: datetime) -> Text:
    text = Text("● " if not note.read else "  ", style="bold")
    text.append(f"{KIND_LABEL.get(note.kind, note.kind):<12}", style="dim")
    # A mention shows the comment that mentions you (and then the subject, dim); the text
    # quotes teammates' and customers' words: cleaned, never markup.
    text.append_text(safe_line(note.summary, "bold" if not note.read else "", limit=200))
    if note.kind == "mention" and note.comment is not None and note.subject:
        text.append("  · ", style="dim")
        text.append_text(safe_line(note.subject, "dim", limit=60))
    text.append(f"  {clock.age(note.created_at, now)}", style="dim")
    return text


class NotificationsScreen(OnApp, ListKeys, ModalScreen[str | None]):
    """Enter opens the conversation (and marks that notification read)."""

    BINDINGS = [*actions.bindings(actions.MODAL), *actions.bindings(actions.NOTIFICATIONS)]
    DEFAULT_CSS = """
    NotificationsScreen { align: center middle; }
    NotificationsScreen > Vertical {
        width: 90%; height: 80%; border: round $accent; background: $surface; padding: 0 1;
    }
    NotificationsScreen #notes-title { text-style: bold; height: 1; }
    NotificationsScreen OptionList { height: 1fr; border: none; }
    NotificationsScreen #notes-hint { color: $text-muted; height: 1; }
    """

    def __init__(self, ws: Workspace, me: str, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.ws, self.me, self.now = ws, me, now
        self.notes: list[NotificationRow] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Notifications", id="notes-title")
            yield OptionList(id="notes")
            yield Static("enter open · R mark all read · esc close", id="notes-hint")

    def on_mount(self) -> None:
        self.reload()
        self.query_one(OptionList).focus()

    def reload(self) -> None:
        self.notes = queries.notifications(self.ws, self.me)
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        now = self.now()
        if not self.notes:
            options.add_option(Option(Text("Nothing yet.", style="dim italic"), disabled=True))
            return
        options.add_options([Option(notification_label(n, now)) for n in self.notes])
        options.highlighted = min(highlighted or 0, len(self.notes) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        note = self.notes[event.option_index]
        self.uapp.commands.run(commands.mark_notifications_read, self.me, [note.id])
        self.dismiss(note.conversation_id)

    def action_read_all(self) -> None:
        def marked(count: int) -> None:
            self.reload()
            self.notify(f"{count} marked read", markup=False)

        self.uapp.commands.run(commands.mark_notifications_read, self.me, then=marked)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
