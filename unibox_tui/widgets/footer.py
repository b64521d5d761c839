"""The footer: Textual's, with search, help and quit first on a narrow terminal, so at 80
columns they stay in sight (they came last and were cut off by the panes' own keys)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FIRST_WHEN_NARROW = ("search", "help", "quit")
NARROW = 110  # columns: the inbox screen's -narrow breakpoint


class UniboxFooter(Footer):
    def compose(self) -> ComposeResult:
        items = list(super().compose())
        for item in items:
            # A key starts compact (its own default) and the footer's data binding turns
            # that off once it is mounted: a restyle of each key before the first frame
            # (~10 ms at start-up). Given the footer's value now, nothing changes then. The
            # command palette's key is not bound (it stays compact).
            if isinstance(item, FooterKey) and not item.has_class("-command-palette"):
                item.set_reactive(FooterKey.compact, self.compact)
        if self.app.size.width >= NARROW:
            yield from items
            return

        def rank(widget: object) -> int:
            action = getattr(widget, "action", None) if isinstance(widget, FooterKey) else None
            return FIRST_WHEN_NARROW.index(action) if action in FIRST_WHEN_NARROW else 99

        yield from sorted(items, key=rank)  # stable: the rest keep their order
