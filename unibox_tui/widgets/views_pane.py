"""The views pane: each inbox, the fixed views and one per channel kind, with live counts.

A handful of lines, so a plain widget rendering one Text is enough. Moving the cursor
switches the list at once (that is the point of the pane); views with unread
conversations are bold with an accent unread count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widget import Widget

from .. import actions
from ..core.queries import View
from .glyphs import glyph
from .line_api import text_style
from .safe_text import fit, safe_line


def compact_count(n: int) -> str:
    """A count in at most five cells, for the narrow views pane: exact up to 9999, then
    16.6k, 166k, 1.6M (rounded down: never more than there are)."""
    if n < 10_000:
        return str(n)
    if n < 100_000:
        return f"{n // 100 / 10:.1f}k"
    if n < 1_000_000:
        return f"{n // 1000}k"
    if n < 10_000_000:
        return f"{n // 100_000 / 10:.1f}M"
    return f"{n // 1_000_000}M"


@dataclass
class ViewEntry:
    key: str
    label: str
    view: View
    section: str  # "Inboxes" | "Views" | "Channels" | "Tags"
    kind: str | None = None  # channel kind for the per-kind views
    slot: int | None = None  # 1-9: the number key that jumps here (view_1 ... view_9)
    hotkey: str = ""  # the key shown before the label (the keymap's, else the default)
    count: int | None = None  # None until the first count arrives
    unread: int = 0


class ViewsPane(Widget, can_focus=True):
    BINDINGS = actions.bindings(actions.VIEWS)
    COMPONENT_CLASSES = {
        "views--cursor",
        "views--active",
        "views--section",
        "views--unread",
        "views--count",
    }
    DEFAULT_CSS = """
    ViewsPane {
        height: 1fr;
        & > .views--cursor { background: $accent 40%; }
        & > .views--active { background: $cursor-blurred; }
        & > .views--section { color: $text-muted; text-style: bold; }
        & > .views--unread { color: $accent; text-style: bold; }
        & > .views--count { color: $text-muted; }
    }
    """

    class Chosen(Message):
        """The cursor moved to a view (the list should show it)."""

        def __init__(self, entry: ViewEntry) -> None:
            super().__init__()
            self.entry = entry

    class Opened(Message):
        """Enter on a view: go to the list."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[ViewEntry] = []
        self.cursor = 0

    def set_entries(self, entries: list[ViewEntry], active_key: str | None) -> None:
        old = {e.key: e for e in self.entries}
        for entry in entries:
            if entry.key in old:
                entry.count, entry.unread = old[entry.key].count, old[entry.key].unread
        keys = [e.key for e in entries]
        cursor = keys.index(active_key) if active_key in keys else 0
        if entries == self.entries and cursor == self.cursor:
            # The same views (every live refresh asks, a poke's worth of chat messages
            # included): laying the screen out again cost more than the rest of the refresh.
            return
        self.entries = entries
        self.cursor = cursor
        self.refresh(layout=True)

    def set_counts(self, counts: dict[str, tuple[int, int]]) -> None:
        changed = False
        for entry in self.entries:
            if entry.key in counts and (entry.count, entry.unread) != counts[entry.key]:
                entry.count, entry.unread = counts[entry.key]
                changed = True
        if changed:
            self.refresh()

    @property
    def current(self) -> ViewEntry | None:
        return self.entries[self.cursor] if self.entries else None

    def entry(self, key: str) -> ViewEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    def show_current(self, key: str) -> None:
        """Mark a view as the current one without announcing it (the screen switched)."""
        keys = [e.key for e in self.entries]
        if key in keys and keys.index(key) != self.cursor:
            self.cursor = keys.index(key)
            self.refresh()

    def select_where(self, match: Callable[[ViewEntry], bool]) -> None:
        """Jump to the first view that matches (a number or channel-kind key)."""
        index = next((i for i, e in enumerate(self.entries) if match(e)), None)
        if index is not None:
            self.select(index)

    def select(self, index: int) -> None:
        if not self.entries:
            return
        index = max(0, min(index, len(self.entries) - 1))
        if index != self.cursor:
            self.cursor = index
            self.refresh()
        self.post_message(self.Chosen(self.entries[index]))

    def action_cursor_down(self) -> None:
        self.select(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.select(self.cursor - 1)

    def action_cursor_top(self) -> None:
        self.select(0)

    def action_cursor_bottom(self) -> None:
        self.select(len(self.entries) - 1)

    def action_page_down(self) -> None:
        self.action_cursor_bottom()

    def action_page_up(self) -> None:
        self.action_cursor_top()

    def action_open(self) -> None:
        self.post_message(self.Opened())

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if not isinstance(y, int):
            return
        row = 0
        for i, entry in enumerate(self.entries):
            if i == 0 or entry.section != self.entries[i - 1].section:
                row += 1
            if row == y:
                self.select(i)
                return
            row += 1

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        sections = len({e.section for e in self.entries})
        return len(self.entries) + sections

    def render(self) -> Text:
        width = max(8, self.content_region.width)
        section_style = text_style(self, "views--section")
        unread_style = text_style(self, "views--unread")
        count_style = text_style(self, "views--count")
        lines: list[Text] = []
        for i, entry in enumerate(self.entries):
            if i == 0 or entry.section != self.entries[i - 1].section:
                lines.append(fit(Text(entry.section.upper(), section_style), width))
            number = entry.hotkey or " "
            # Compact: at 100k a view's "●16555 72841" pushed its name out of the pane.
            count = "…" if entry.count is None else compact_count(entry.count)
            badge = f"●{compact_count(entry.unread)}" if entry.unread else ""
            label = Text(f"{number} ")
            if entry.kind:
                label.append(f"{glyph(entry.kind)} ")
            # Inbox names are typed by people: shown literally like customer text.
            label.append_text(safe_line(entry.label, unread_style if entry.unread else ""))
            right = Text()
            if badge:
                right.append(badge, unread_style)
                # The name first: when both counts would cut it, the total goes (the list's
                # header shows it) and the unread badge, what calls for work, stays.
                if label.cell_len + 1 + len(badge) + 1 + len(count) <= width:
                    right.append(" ")
                    right.append(count, count_style)
            else:
                right.append(count, count_style)
            line = fit(label, max(1, width - right.cell_len - 1))
            line.append(" ")
            line.append_text(right)
            if i == self.cursor:
                name = "views--cursor" if self.has_focus else "views--active"
                line.stylize(self.get_component_rich_style(name))
            lines.append(fit(line, width))
        return Text("\n", no_wrap=True, overflow="crop").join(lines)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
