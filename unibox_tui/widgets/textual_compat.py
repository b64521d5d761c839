"""Every use of Textual's private internals, in one place, gated by the Textual version.

The list and the thread draw their lines straight to strips, resize their scroll range
without a screen layout and use a scrollbar that repaints only when its drawing changes
(widgets/line_api.py, widgets/scrollbar.py). Those shortcuts lean on Textual internals that
can change in any release, so they run only on a Textual version listed in CHECKED_VERSIONS;
on any other the widgets take Textual's public, slower path and look the same.

To check a new Textual version: install it, run the test command (tests/tui/
test_tui_textual_compat.py fails until the version is listed), read what the functions below
touch in the new source, run the whole suite and benchmarks/tui_bench.py, then add it here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App
    from textual.filter import LineFilter
    from textual.geometry import Size
    from textual.scrollbar import ScrollBar
    from textual.widget import Widget

# Versions whose internals below were read and whose test suite passed with them.
CHECKED_VERSIONS = ("8.2.8",)

_forced_public = False


@cache
def textual_version() -> str:
    """The installed Textual's version. Read from the name of its dist-info folder next to
    the package (a directory listing: importlib.metadata costs ~25 ms at start-up), else
    from importlib.metadata."""
    from pathlib import Path

    import textual

    found = sorted(Path(textual.__file__).parent.parent.glob("textual-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("textual-").removesuffix(".dist-info")
    from importlib.metadata import version

    return version("textual")


def private_ok() -> bool:
    """May the widgets use Textual's internals (a checked version, not forced off)?"""
    return not _forced_public and textual_version() in CHECKED_VERSIONS


def force_public(on: bool = True) -> None:
    """Take the public path whatever the version (tests compare both paths' output)."""
    global _forced_public
    _forced_public = on


# ------------------------------------------------------------------ used by the widgets


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Set a ScrollView's virtual size and update its scrollbars without a screen layout,
    as Textual itself does on resize (`Widget._size_updated(layout=False)` calls
    `_scroll_update`, which still asks for a layout if a scrollbar appears or vanishes).
    Public path: assign `virtual_size`, a layout reactive (~20 ms at 100k rows)."""
    if not private_ok():
        widget.virtual_size = size
        return
    from textual.widget import Widget as _Widget

    widget.set_reactive(_Widget.virtual_size, size)
    widget._scroll_update(size)
    widget.refresh()


def vertical_scrollbar(widget: Widget, make: Callable[[], ScrollBar]) -> ScrollBar:
    """`Widget.vertical_scrollbar` with our own bar class (mirrors Textual's property, which
    creates and starts the bar on first use). Public path: Textual's own ScrollBar."""
    from textual.widget import Widget as _Widget

    if not private_ok():
        return _Widget.vertical_scrollbar.fget(widget)  # type: ignore[attr-defined,no-any-return]
    w: Any = widget
    if w._vertical_scrollbar is None:
        bar = make()
        bar.display = False
        w._vertical_scrollbar = bar
        w.app._start_widget(widget, bar)
    return w._vertical_scrollbar  # type: ignore[no-any-return]


def plain_lines_allowed() -> bool:
    """line_api.plain_render_lines reproduces what Textual's StylesCache renders for a widget
    without border, padding or tint: checked per version. Public path: the style cache."""
    return private_ok()


# ------------------------------------------------------------------ used by the tests only
# No public API does these; the tests that need them run on checked versions.


def screen_strips(app: App[Any]) -> Any:
    """The whole screen as the compositor hands it to the terminal (screen_text)."""
    screen: Any = app.screen
    return screen._compositor.render_update(full=True, screen_stack=app._background_screens)


def add_line_filter(app: App[Any], line_filter: LineFilter) -> None:
    """Turn on a line filter as NO_COLOR does at start-up."""
    app._filters.append(line_filter)
