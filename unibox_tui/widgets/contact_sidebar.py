"""The contact sidebar (`p`): who the customer is, their other conversations and tickets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ..core import clock
from ..core.queries import ContactDetail
from .glyphs import glyph
from .safe_text import safe, safe_line


def is_unknown_visitor(detail: ContactDetail) -> bool:
    """A contact the channel made up from an identity (a chat visitor id, a phone number):
    no name of its own yet, so the sidebar offers to create a real contact."""
    values = {value for _, value in detail.identities}
    return not detail.name.strip() or detail.name in values


class ContactSidebar(VerticalScroll):
    DEFAULT_CSS = """
    ContactSidebar {
        display: none;
        width: 34;
        border-left: solid $pane-border;
        padding: 0 1;
    }
    ContactSidebar.-open { display: block; }
    ContactSidebar #contact-details { height: auto; }
    ContactSidebar #past { height: auto; max-height: 14; border: none; padding: 0; }
    ContactSidebar #past-title { height: auto; margin-top: 1; text-style: bold; }
    """

    class OpenConversation(Message):
        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    def __init__(self, now: Callable[[], datetime]) -> None:
        super().__init__(id="sidebar")
        self.now = now
        self.detail: ContactDetail | None = None
        self._pending: tuple[ContactDetail | None, str | None, Text | None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="contact-details")
        yield Static(Text("Past conversations · enter opens"), id="past-title")
        yield OptionList(id="past")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def on_mount(self) -> None:
        if self._pending is not None:
            self.show(*self._pending)

    def show(
        self, detail: ContactDetail | None, current_id: str | None, extra: Text | None = None
    ) -> None:
        """`extra`: more about the customer, first (a chat visitor's page and browser).
        Before the sidebar has its parts (a chat visitor's signal can come while the inbox
        is still being put together), what to show waits for them."""
        self.detail = detail
        if not self.children:
            self._pending = (detail, current_id, extra)
            return
        self._pending = None
        details = self.query_one("#contact-details", Static)
        past = self.query_one("#past", OptionList)
        past.clear_options()
        if detail is None:
            details.update(Text("No conversation selected.", style="dim"))
            return
        shown = self._details(detail)
        if extra is not None:
            shown = extra.copy().append("\n\n").append_text(shown)
        details.update(shown)
        now = self.now()
        for row in detail.conversations:
            label = Text(f"{glyph(row.channel_kind)} ")
            label.append_text(safe_line(row.subject or row.preview, limit=60))
            label.append(f"  {row.status} · {clock.age(row.last_message_at, now)}", style="dim")
            if row.id == current_id:
                label.append("  (this one)", style="italic")
            past.add_option(Option(label, id=row.id))

    def _details(self, detail: ContactDetail) -> Text:
        text = Text()
        text.append_text(safe_line(detail.name or "(no name)", "bold"))
        text.append("\n")
        if is_unknown_visitor(detail):
            text.append("Unknown visitor — press C to create a contact\n", style="italic")
        for kind, value in detail.identities:
            text.append(f"{kind}: ", style="dim")
            text.append_text(safe_line(value))
            text.append("\n")
        text.append("company: ", style="dim")
        text.append_text(safe_line(detail.company or "—"))
        text.append("\nowner: ", style="dim")
        text.append(f"@{detail.owner}" if detail.owner else "—")
        if detail.notes.strip():
            text.append("\n\nnotes\n", style="dim")
            text.append_text(safe(detail.notes.strip()))
        if detail.tickets:
            text.append("\n\ntickets\n", style="dim")
            for ticket in detail.tickets:
                text.append(f"#{ticket.number} ")
                text.append_text(safe_line(ticket.title, limit=60))
                text.append(f"\n  {ticket.stage} · {ticket.priority} · {ticket.status}\n", "dim")
        return text

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.OpenConversation(event.option.id))
