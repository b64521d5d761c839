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
            # A key starts compact (its own default: its class is set when it mounts) and
            # the footer's data binding turns that off right after: two restyles of each
            # key before the first frame (~10 ms at start-up). Given its final value and
            # class now, it is styled once, as it mounts. The command palette's key is not
            # bound to the footer: it stays compact.
            if isinstance(item, FooterKey):
                compact = True if item.has_class("-command-palette") else self.compact
                item.set_reactive(FooterKey.compact, compact)
                item.set_class(compact, "-compact", update=False)
        if self.app.size.width >= NARROW:
            yield from items
            return

        def rank(widget: object) -> int:
            action = getattr(widget, "action", None) if isinstance(widget, FooterKey) else None
            return FIRST_WHEN_NARROW.index(action) if action in FIRST_WHEN_NARROW else 99

        yield from sorted(items, key=rank)  # stable: the rest keep their order
