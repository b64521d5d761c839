"""The conversation list: a Line API widget paging rows from SQLite.

Only the rows on screen are ever loaded: `render_line` asks for row N, which comes from an
LRU of pages fetched with `queries.rows_at` (PAGE rows per query), and each rendered row is
kept in an LRU of strips. So a view of 100k conversations opens as fast as a view of ten, and
a key press redraws two lines. Live refreshes drop the caches and keep the cursor on the same
conversation (found again near where it was, or at the top where new activity lands).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from copy import copy
from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import actions
from ..core import clock, queries
from ..core.db import Workspace
from ..core.list_order import NEWEST, Order
from ..core.queries import ConversationRow, View
from .glyphs import CHECKED, DRAFT, UNREAD, WAITING, glyph
from .line_api import ComponentStyles, PlainLines, empty_line, set_virtual_size
from .safe_text import fit, safe_line
from .scrollbar import QuietScrollBars

PAGE = 50  # rows per query: ~2 ms at 100k (each row looks up its contact's identity)
MAX_PAGES = 48
PREFETCH = 10  # rows from a page's edge at which the next page is fetched after the frame
MAX_STRIPS = 200
STATUS_GLYPH = {"open": "·", "snoozed": "◔", "closed": "✓"}
PRIORITY_GLYPH = {"urgent": "!", "high": "↑", "normal": "-", "low": "↓"}  # narrow lists


def columns(width: int) -> tuple[int, int, int]:
    """(contact, assignee, status) widths for a list `width` cells wide; the subject gets
    the rest. Narrow lists keep every column, just shorter (status becomes a glyph)."""
    if width >= 110:
        return 22, 12, 8
    if width >= 70:
        return 16, 9, 7
    return 12, 6, 1


class ConversationList(QuietScrollBars, PlainLines, ScrollView, can_focus=True):
    """Rows of one view in its order (newest activity first unless sorted otherwise,
    core/list_order.py); the cursor is one highlighted row."""

    BINDINGS = actions.bindings(actions.LIST)
    COMPONENT_CLASSES = {
        "conversation-list--cursor",
        "conversation-list--cursor-blurred",
        "conversation-list--unread",
        "conversation-list--dim",
        "conversation-list--mark",
        "conversation-list--empty",
        "conversation-list--checked",
        "conversation-list--tag",
    }
    DEFAULT_CSS = """
    ConversationList {
        overflow-x: hidden;
        /* Always a scrollbar: one appearing or vanishing would re-lay the whole screen. */
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        & > .conversation-list--cursor { background: $accent 40%; }
        & > .conversation-list--cursor-blurred { background: $cursor-blurred; }
        & > .conversation-list--unread { text-style: bold; }
        & > .conversation-list--dim { color: $text-muted; }
        & > .conversation-list--mark { color: $accent; text-style: bold; }
        & > .conversation-list--empty { color: $text-muted; text-style: italic; }
        & > .conversation-list--checked { background: $secondary 30%; }
        & > .conversation-list--tag { color: $secondary; }
    }
    """

    class Highlighted(Message):
        """The cursor moved to a row (or to nothing: row is None)."""

        def __init__(self, row: ConversationRow | None) -> None:
            super().__init__()
            self.row = row

    class SelectionChanged(Message):
        """Rows were selected or unselected (for bulk actions)."""

    class Opened(Message):
        """Enter on a row."""

        def __init__(self, row: ConversationRow) -> None:
            super().__init__()
            self.row = row

    def __init__(
        self,
        ws: Workspace,
        now: Callable[[], datetime],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.ws = ws
        self.now = now
        self.view: View | None = None
        self.total = 0
        self.cursor = 0
        self.empty_text = "No conversations here."
        self._pages: OrderedDict[int, list[ConversationRow]] = OrderedDict()
        self._strips: OrderedDict[tuple[int, int, bool, bool], Strip] = OrderedDict()
        # Rows as drawn, by conversation (_drawn_row): kept across live refreshes.
        self._drawn: OrderedDict[tuple[str, int, bool, bool], tuple[tuple, Strip]] = OrderedDict()
        self._selected_id: str | None = None
        self.drafts: frozenset[str] = frozenset()  # conversations with the agent's draft
        # Selected for a bulk action (screens/selection.py), by id: rows keep their mark
        # wherever they move. Switching view or filter clears it (no hidden selection).
        self.checked: set[str] = set()
        # Text styles keep the row's (cursor) background.
        self._style = ComponentStyles(
            self, "conversation-list", {"dim", "mark", "unread", "tag"}.__contains__
        )
        # Called at once when the cursor lands on another row. A message would reach the
        # screen only after a frame was drawn, so the thread would lag the list by a frame.
        self.on_cursor: Callable[[ConversationRow | None], None] | None = None

    # ------------------------------------------------------------------ data

    def show(self, view: View, total: int | None = None) -> None:
        """Switch to a view. `total` is the count if known (the views pane has it); else the
        first page stands in until `set_total` brings the real count from a worker."""
        self.view = view
        self._drop_caches()
        self.cursor = 0
        first = self._page(0)
        self.total = total if total is not None else len(first)
        self._update_size()
        self.scroll_to(y=0, animate=False, immediate=True)
        self._selected_id = None
        if self.checked:
            self.check(set())
        self._announce()

    def check(self, ids: set[str]) -> None:
        """Select exactly these conversations (an empty set clears the selection)."""
        self.checked = set(ids)
        self._strips.clear()
        self.refresh()
        self.post_message(self.SelectionChanged())

    def action_toggle_select(self) -> None:
        """Select or unselect the row under the cursor, then step down (like mutt's `t`)."""
        row = self.selected
        if row is None:
            return
        if row.id in self.checked:
            self.checked.discard(row.id)
        else:
            self.checked.add(row.id)
        for key in [k for k in self._strips if k[0] == self.cursor]:
            del self._strips[key]
        self.refresh_line(self.cursor)
        self.post_message(self.SelectionChanged())
        self.move_to(self.cursor + 1)

    def action_clear_selection(self) -> None:
        self.check(set())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape clears a selection; with none it falls through to the screen's "back".
        if action == "clear_selection":
            return bool(self.checked)
        return True

    def set_drafts(self, ids: frozenset[str]) -> None:
        """Mark the rows of these conversations as having the agent's unsent draft."""
        if ids != self.drafts:
            self.drafts = ids
            self._strips.clear()
            self.refresh()

    def set_total(self, total: int) -> None:
        if total == self.total:
            return
        self.total = total
        if self.cursor >= total:
            self.cursor = max(0, total - 1)
        self._update_size()
        self.refresh()
        self._announce()  # the cursor was clamped onto another row: the thread follows

    def reload(self, total: int | None = None) -> None:
        """Data changed: refetch what is visible, keep the cursor on the same conversation."""
        if self.view is None:
            return
        keep = self._selected_id
        self._drop_caches()
        if total is not None:
            self.total = total
        if keep is not None:
            found = self._find(keep)
            if found is not None:
                # Keep the row where the eye was: scroll by as much as the row moved.
                moved = found - self.cursor
                self.cursor = found
                # The count comes later, from a worker: until then the list holds at least
                # this row (clamping to the old count put the cursor on another one).
                self.total = max(self.total, found + 1)
                if moved and self.scroll_y + moved >= 0:
                    self.scroll_to(y=self.scroll_y + moved, animate=False, immediate=True)
        self.total = max(self.total, 0)
        if self.total and self.cursor >= self.total:
            self.cursor = self.total - 1
        self._update_size()
        self._scroll_cursor_visible()
        self.refresh()
        self._announce()

    def update_rows(self, changed: set[str]) -> bool:
        """Some conversations changed: redraw just their rows when that is enough. Returns
        False (and changes nothing) when the list must reload: a changed row left the view or
        moved, or a conversation entered the view above the end of what is cached."""
        if self.view is None:
            return True
        cached = {
            row.id: (number, i, row)
            for number, rows in self._pages.items()
            for i, row in enumerate(rows)
        }
        with self.ws.read() as conn:
            fresh = {r.id: r for r in queries.rows_by_id(conn, self.view, changed)}
        if not cached:
            return not fresh
        order = self.view.order
        # The last cached row (the cache holds one order: a change that moves a row reloads
        # it): a change that sorts below it moves nothing on screen.
        lowest = self._pages[max(n for n, rows in self._pages.items() if rows)][-1]
        for cid in changed:
            was, now = cached.get(cid), fresh.get(cid)
            if was is None:
                if now is not None and order.precedes(now, lowest):
                    return False
                continue
            if now is None or order.key_of(now) != order.key_of(was[2]):
                return False
        for cid, row in fresh.items():
            if cid in cached:
                number, i, _ = cached[cid]
                self._pages[number][i] = row
                index = number * PAGE + i
                for key in [k for k in self._strips if k[0] == index]:
                    del self._strips[key]
                self.refresh_line(index)
        self._announce()
        return True

    def _find(self, conversation_id: str) -> int | None:
        """Where a conversation is now: near the cursor, else at the top (new activity)."""
        here = self.cursor // PAGE
        for page in dict.fromkeys((here, here - 1, here + 1, 0)):
            if page < 0:
                continue
            for i, row in enumerate(self._page(page)):
                if row.id == conversation_id:
                    return page * PAGE + i
        return None

    def _drop_caches(self) -> None:
        self._pages.clear()
        self._strips.clear()

    def _page(self, number: int) -> list[ConversationRow]:
        rows = self._pages.get(number)
        if rows is not None:
            self._pages.move_to_end(number)
            return rows
        assert self.view is not None
        with self.ws.read() as conn:
            rows = queries.rows_at(conn, self.view, number * PAGE, PAGE)
        self._pages[number] = rows
        if len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return rows

    def row_at(self, index: int) -> ConversationRow | None:
        if self.view is None or index < 0 or index >= max(self.total, 1):
            return None
        rows = self._page(index // PAGE)
        offset = index % PAGE
        return rows[offset] if offset < len(rows) else None

    @property
    def selected(self) -> ConversationRow | None:
        return self.row_at(self.cursor) if self.total else None

    # ------------------------------------------------------------------ cursor

    def move_to(self, index: int) -> None:
        if not self.total:
            return
        index = max(0, min(index, self.total - 1))
        if index == self.cursor:
            return
        old = self.cursor
        self.cursor = index
        self.refresh_line(old)
        self.refresh_line(index)
        self._scroll_cursor_visible()
        self._announce()
        # Fetch the page the cursor is heading into once this frame is drawn, so crossing
        # a page boundary does not wait on SQLite; and once the frame after it is drawn
        # too: the thread of the new row goes out in that one (screens/inbox.py), and the
        # fetch (~2-14 ms at 100k) held it up every PAGE rows.
        ahead = (index + (PREFETCH if index > old else -PREFETCH)) // PAGE
        if 0 <= ahead * PAGE < self.total and ahead not in self._pages:
            self.call_after_refresh(self.call_after_refresh, self._page, ahead)
        # And draw the row the next key will highlight, so that key only swaps strips.
        self.call_after_refresh(self._prerender_selected, index + (1 if index > old else -1))

    def _prerender_selected(self, index: int) -> None:
        width = self.scrollable_content_region.width
        if 0 <= index < self.total and width > 0:
            self._row_strip(index, width, selected=True)

    def _scroll_cursor_visible(self) -> None:
        height = self.scrollable_content_region.height or self.size.height
        if height <= 0:
            return
        if self.cursor < self.scroll_y:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= self.scroll_y + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _announce(self) -> None:
        row = self.selected
        new_id = row.id if row else None
        if new_id != self._selected_id or row is None:
            self._selected_id = new_id
            if self.on_cursor is not None:
                self.on_cursor(row)
            self.post_message(self.Highlighted(row))

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_top(self) -> None:
        self.move_to(0)

    def action_cursor_bottom(self) -> None:
        self.move_to(self.total - 1)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + max(1, self.size.height - 1))

    def action_page_up(self) -> None:
        self.move_to(self.cursor - max(1, self.size.height - 1))

    def action_open(self) -> None:
        row = self.selected
        if row is not None:
            self.post_message(self.Opened(row))

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int):
            self.move_to(int(self.scroll_y) + y)

    # ------------------------------------------------------------------ drawing

    def _update_size(self) -> None:
        set_virtual_size(self, Size(self.size.width, max(self.total, 1)))

    def on_resize(self) -> None:
        self._strips.clear()
        self._update_size()

    def on_focus(self) -> None:
        self._strips.clear()
        self._drawn.clear()  # the styles may follow the focus
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self._drawn.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._drawn.clear()
        self._style.clear()

    def render_line(self, y: int) -> Strip:
        width = self.line_width()
        index = self.scroll_offset.y + y
        base = self._style("base")
        if not self.total:
            return empty_line(y, width, self.empty_text, self._style("empty"), base)
        strip = self._row_strip(index, width, selected=index == self.cursor)
        return Strip.blank(width, base) if strip is None else strip

    def _row_strip(self, index: int, width: int, *, selected: bool) -> Strip | None:
        """Row `index` drawn at `width` (None before its page is loaded), from the cache."""
        focused = self.has_focus and selected
        key = (index, width, selected, focused)
        strip = self._strips.get(key)
        if strip is None:
            row = self.row_at(index)
            if row is None:
                return None
            strip = self._strips[key] = self._drawn_row(row, width, selected, focused)
            if len(self._strips) > MAX_STRIPS:
                self._strips.popitem(last=False)
        return strip

    def _drawn_row(self, row: ConversationRow, width: int, selected: bool, focused: bool) -> Strip:
        """`row` drawn, or the same row as drawn before at another place in the list. A
        live refresh drops the strips by place (new activity on top moves every row below
        it down one), and redrawing every visible row for each poke of a chat load was most
        of an agent's app's CPU (~30 ms a poke on a 48-line terminal, against ~2 ms to
        apply the poke's page to the cache): a row whose content, age, marks and place in
        the cursor are unchanged is not drawn again."""
        key = (row.id, width, selected, focused)
        order = self.view.order if self.view is not None else NEWEST
        age = clock.age(shown_time(row, order), self.now())
        state = (row, age, row.id in self.drafts, row.id in self.checked, order.key)
        drawn = self._drawn.get(key)
        if drawn is not None and drawn[0] == state:
            self._drawn.move_to_end(key)
            return drawn[1]
        strip = self._render_row(row, width, selected)
        # A copy: what was drawn stays as it was, should a row ever be changed in place.
        self._drawn[key] = ((copy(row), *state[1:]), strip)
        if len(self._drawn) > MAX_STRIPS:
            self._drawn.popitem(last=False)
        return strip

    def _render_row(self, row: ConversationRow, width: int, selected: bool) -> Strip:
        text = row_text(
            row,
            width,
            self.now(),
            dim=self._style("dim"),
            mark=self._style("mark"),
            unread=self._style("unread"),
            draft=row.id in self.drafts,
            checked=row.id in self.checked,
            tag=self._style("tag"),
            order=self.view.order if self.view is not None else NEWEST,
        )
        base = self._style("base")
        if row.id in self.checked:
            base = base + self._style("checked")
        if selected:
            base = base + self._style("cursor" if self.has_focus else "cursor-blurred")
        text.stylize_before(base)
        segments = list(text.render(self.app.console))
        return Strip(segments, width).crop_extend(0, width, base)


def row_text(
    row: ConversationRow,
    width: int,
    now: datetime,
    *,
    dim: Style | str = "dim",
    mark: Style | str = "bold",
    unread: Style | str = "bold",
    draft: bool = False,
    checked: bool = False,
    tag: Style | str = "cyan",
    order: Order = NEWEST,
) -> Text:
    """One list row, exactly `width` cells: marks (draft, unread, waiting), glyph, contact,
    subject, assignee, status, age. Customer text goes through safe_line (never markup).
    The age and the status column follow the list's `order`: the age of what it sorts by
    (the customer's last message), the ticket's priority in place of the status."""
    contact_w, assignee_w, status_w = columns(width)
    age_w = 4
    fixed = 5 + contact_w + 1 + 1 + (assignee_w + 1 if assignee_w else 0) + status_w + 1 + age_w
    subject_w = max(1, width - fixed)
    out = Text(no_wrap=True, overflow="crop")
    if checked:
        out.append(CHECKED, mark)
    elif draft:
        out.append(DRAFT, mark)
    else:
        out.append(" ")
    out.append(UNREAD if row.unread else " ", mark)
    out.append(WAITING if row.waiting and row.status != "closed" else " ", mark)
    out.append(glyph(row.channel_kind))
    out.append(" ")
    strong = unread if row.unread else ""
    out.append_text(fit(safe_line(row.contact_name or row.identity or "?", strong), contact_w))
    out.append(" ")
    if row.subject:
        line = safe_line(row.subject, strong)
        if row.preview and line.cell_len < subject_w - 4:
            line.append(" — ", dim)
            line.append_text(safe_line(row.preview, dim))
    else:
        line = safe_line(row.preview, strong)
    if row.tags:  # first, so a long subject is what gets cut; at most half of the room
        tags = safe_line(" ".join(f"#{t}" for t in row.tags), tag)
        tags.truncate(max(1, subject_w // 2), overflow="ellipsis")
        line = tags.append(" ").append_text(line)
    out.append_text(fit(line, subject_w))
    out.append(" ")
    if assignee_w:
        who = f"@{row.assignee}" if row.assignee else "—"
        out.append_text(fit(Text(who, style="" if row.assignee else dim), assignee_w))
        out.append(" ")
    if order.shows_priority:
        status = row.ticket_priority or "—"
        if status_w <= 1:
            status = PRIORITY_GLYPH.get(status, "·")
        loud = row.ticket_priority in ("urgent", "high")
        out.append_text(fit(Text(status, style=mark if loud else dim), status_w))
    else:
        status = row.status if status_w > 1 else STATUS_GLYPH.get(row.status, "?")
        out.append_text(fit(Text(status, style="" if row.status == "open" else dim), status_w))
    out.append(" ")
    out.append(clock.age(shown_time(row, order), now).rjust(age_w), dim)
    return out


def shown_time(row: ConversationRow, order: Order) -> datetime:
    """The time a row's age column counts from in `order`."""
    return order.time(row) or row.last_message_at
