"""Search (`/`): full-text over all history, with operators, results while you type.

The query runs in a worker thread (FTS5 through queries.search_on), so typing never waits on
it; a newer keystroke cancels the older search. Results come a page at a time: moving the
cursor near the end of the list (or scrolling there) loads the next page with the page's
cursor. Enter opens the highlighted result and hands the result list back to the inbox,
where `n`/`N` walk through it and the thread marks the words found. `from:`, `status:`, ...
are read by core/search_query.py; a bad operator shows its one-line error in the status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

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
from ..core.errors import UniboxError
from ..core.queries import SearchHit, SearchPage
from ..core.search_query import SearchQuery, parse
from ..widgets.glyphs import glyph
from ..widgets.safe_text import highlighted, safe_line
from .on_app import OnApp

LIMIT = 50
MORE_AHEAD = 5  # load the next page when the cursor is this close to the last result
HELP = 'from: to: subject: in: channel: status: assignee: tag: before: after: "phrase"'


@dataclass
class SearchResult:
    query: str
    hits: list[SearchHit]
    index: int  # the one opened
    parsed: SearchQuery | None = None  # the words to mark in the thread

    def terms(self) -> list[tuple[str, bool]]:
        return self.parsed.terms() if self.parsed else []


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


class SearchScreen(OnApp, ModalScreen[SearchResult | None]):
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
        self,
        ws: Workspace,
        now: Callable[[], datetime],
        access: Access,
        query: str = "",
        *,
        me: str | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.ws, self.now, self.initial = ws, now, query
        self.access = access  # what the agent may read: hits come only from those inboxes
        self.me, self.tz = me, tz  # who assignee:me is; the zone of before:/after:
        self.hits: list[SearchHit] = []
        self.query_text = ""
        self.parsed: SearchQuery | None = None
        self.next_cursor: str | None = None
        self.loading_more = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(
                value=self.initial,
                placeholder=f"search: words, names, order numbers… or {HELP}",
                id="search-input",
            )
            yield Static("", id="search-status")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        # Scrolling the results (wheel, scrollbar) near their end loads the next page too.
        options = self.query_one("#search-results", OptionList)
        self.watch(options, "scroll_y", lambda: self._maybe_more(), init=False)
        if self.initial:
            self.run_search(self.initial)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    def _page(self, parsed: SearchQuery, after: str | None) -> SearchPage:
        with self.ws.read() as conn:
            return queries.search_on(
                conn,
                parsed,
                LIMIT,
                access=self.access,
                after=after,
                me=self.me,
                now=self.now(),
                tz=self.tz,
            )

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, text: str) -> None:
        error = None
        parsed = None
        page = SearchPage([], None)
        try:
            parsed = parse(text)
            if parsed.has_text or parsed.filters:
                page = self._page(parsed, None)
        except UniboxError as e:  # a bad operator: its one line, in the status
            error = str(e)
        self.from_worker(self.show_hits, text, page, parsed, error)

    def show_hits(
        self, text: str, page: SearchPage, parsed: SearchQuery | None, error: str | None = None
    ) -> None:
        if text != self.query_one(Input).value:
            return  # a newer search is on its way
        self.hits, self.query_text, self.parsed = list(page.hits), text, parsed
        self.next_cursor = page.next_cursor
        self.loading_more = False
        options = self.query_one("#search-results", OptionList)
        options.clear_options()
        now = self.now()
        options.add_options([Option(hit_label(h, now)) for h in self.hits])
        options.highlighted = 0 if self.hits else None
        self._status(error)
        self._maybe_more()

    def _status(self, error: str | None = None) -> None:
        if error:
            status = Text(error, style="bold")
        elif not self.query_text.strip():
            status = Text(f"type to search · {HELP}")
        else:
            n = len(self.hits)
            status = Text(
                f"{n} result{'s' if n != 1 else ''}"
                + (" and more (scroll for them)" if self.next_cursor else "")
                + " · ↑↓ choose · enter open · n/N next/previous later · esc close"
            )
        self.query_one("#search-status", Static).update(status)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._maybe_more()

    def _maybe_more(self) -> None:
        """Load the next page once the cursor (or the view) nears the last result."""
        if self.loading_more or not self.next_cursor or self.parsed is None:
            return
        options = self.query_one("#search-results", OptionList)
        near_cursor = (options.highlighted or 0) >= len(self.hits) - MORE_AHEAD
        shown = options.scroll_offset.y + options.size.height
        near_view = shown >= options.virtual_size.height - MORE_AHEAD
        if near_cursor or near_view:
            self.loading_more = True
            self.load_more(self.query_text, self.parsed, self.next_cursor)

    @work(thread=True, exclusive=True, group="search-more")
    def load_more(self, text: str, parsed: SearchQuery, cursor: str) -> None:
        error = None
        page = SearchPage([], cursor)
        try:
            # A page can come back empty with a cursor (the scan is bounded per page):
            # read on a few pages rather than leave the agent with nothing to scroll to.
            for _ in range(5):
                page = self._page(parsed, page.next_cursor)
                if page.hits or not page.next_cursor:
                    break
        except UniboxError as e:
            error, page = str(e), SearchPage([], None)
        self.from_worker(self.add_hits, text, cursor, page, error)

    def add_hits(self, text: str, cursor: str, page: SearchPage, error: str | None) -> None:
        if text != self.query_text or cursor != self.next_cursor:
            return  # the search changed meanwhile
        self.loading_more = False
        self.next_cursor = page.next_cursor
        known = {h.row.id for h in self.hits}
        fresh = [h for h in page.hits if h.row.id not in known]
        self.hits += fresh
        now = self.now()
        self.query_one("#search-results", OptionList).add_options(
            [Option(hit_label(h, now)) for h in fresh]
        )
        self._status(error)
        if fresh:
            self._maybe_more()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._open(self.query_one("#search-results", OptionList).highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._open(event.option_index)

    def _open(self, index: int | None) -> None:
        if index is None or not self.hits:
            return
        self.dismiss(SearchResult(self.query_text, self.hits, index, self.parsed))

    def action_picker_down(self) -> None:
        self.query_one("#search-results", OptionList).action_cursor_down()

    def action_picker_up(self) -> None:
        self.query_one("#search-results", OptionList).action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
