"""Search (`/`): full-text over all history, results while you type.

The query runs in a worker thread (FTS5 through queries.search_on), so typing never waits on
it; a newer keystroke cancels the older search. Enter opens the highlighted result and hands
the whole result list back to the inbox, where `n`/`N` walk through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from ..core import clock, queries
from ..core.access import Access
from ..core.db import Workspace
from ..core.queries import SearchHit
from ..widgets.glyphs import glyph
from ..widgets.safe_text import highlighted, safe_line

LIMIT = 50


@dataclass
class SearchResult:
    query: str
    hits: list[SearchHit]
    index: int  # the one opened


def hit_label(hit: SearchHit, now: datetime, match_style: str = "bold reverse") -> Text:
    """Two lines: channel, contact, subject, status, age; then the snippet, matches marked."""
    row = hit.row
    text = Text(f"{glyph(row.channel_kind)} ")
    text.append_text(safe_line(row.contact_name, "bold", limit=40))
    text.append("  ")
    text.append_text(safe_line(row.subject or row.preview, limit=80))
    text.append(f"  {row.status} · {clock.age(row.last_message_at, now)}", style="dim")
    text.append("\n   ")
    text.append_text(highlighted(hit.snippet, hit.highlights, match_style))
    return text


class SearchScreen(ModalScreen[SearchResult | None]):
    BINDINGS = actions.bindings(actions.PICKER)
    DEFAULT_CSS = """
    SearchScreen { align: center top; }
    SearchScreen > Vertical {
        width: 90%; height: 90%; margin-top: 1;
        border: round $accent; background: $surface; padding: 0 1;
    }
    SearchScreen #search-status { color: $text-muted; height: 1; }
    SearchScreen OptionList { height: 1fr; border: none; padding: 0; }
    """

    def __init__(
        self, ws: Workspace, now: Callable[[], datetime], access: Access, query: str = ""
    ) -> None:
        super().__init__()
        self.ws, self.now, self.initial = ws, now, query
        self.access = access  # what the agent may read: hits come only from those inboxes
        self.hits: list[SearchHit] = []
        self.query_text = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(
                value=self.initial,
                placeholder="search all conversations: words, names, order numbers…",
                id="search-input",
            )
            yield Static("", id="search-status")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        if self.initial:
            self.run_search(self.initial)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, text: str) -> None:
        query = queries.fts_query(text)
        if query is None:
            hits: list[SearchHit] = []
        else:
            with self.ws.read() as conn:
                hits = queries.search_on(conn, query, LIMIT, access=self.access)
        self.app.call_from_thread(self.show_hits, text, hits)

    def show_hits(self, text: str, hits: list[SearchHit]) -> None:
        if text != self.query_one(Input).value:
            return  # a newer search is on its way
        self.hits, self.query_text = hits, text
        options = self.query_one("#search-results", OptionList)
        options.clear_options()
        now = self.now()
        options.add_options([Option(hit_label(h, now)) for h in hits])
        options.highlighted = 0 if hits else None
        status = (
            f"{len(hits)} result{'s' if len(hits) != 1 else ''}"
            + (" (newest first; refine to see older)" if len(hits) == LIMIT else "")
            + " · ↑↓ choose · enter open · n/N next/previous later · esc close"
            if text.strip()
            else "type to search"
        )
        self.query_one("#search-status", Static).update(Text(status))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._open(self.query_one("#search-results", OptionList).highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._open(event.option_index)

    def _open(self, index: int | None) -> None:
        if index is None or not self.hits:
            return
        self.dismiss(SearchResult(self.query_text, self.hits, index))

    def action_picker_down(self) -> None:
        self.query_one("#search-results", OptionList).action_cursor_down()

    def action_picker_up(self) -> None:
        self.query_one("#search-results", OptionList).action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
