"""Scrollbars that repaint only when what they draw changes.

Textual repaints a scrollbar whenever its position changes at all. The conversation list
scrolls one row per `j` once the cursor reaches the bottom, and over 100k rows the thumb is
one cell that moves once every few thousand rows: yet each key re-rendered the whole bar
(46 lines through Rich and the style cache, 2-3 ms of a 16 ms budget). `QuietScrollBar`
computes the bar's segments (cheap: one list) and repaints only when they differ from what
is on screen. `QuietScrollBars` gives a ScrollView such a vertical bar.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from rich.segment import Segment
from textual.geometry import Region
from textual.reactive import Reactive
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from . import textual_compat


class QuietScrollBar(ScrollBar):
    # Same reactives as ScrollBar's, without the automatic repaint: _changed() decides.
    window_virtual_size: Reactive[int] = Reactive(100, repaint=False)
    window_size: Reactive[int] = Reactive(0, repaint=False)
    position: Reactive[float] = Reactive(0, repaint=False)
    # Repaints when its drawing changes (_changed): textual_compat.set_virtual_size does not
    # make it repaint on every new extent, as Textual's _scroll_update does.
    repaints_itself = True

    _drawn: Any = None

    def validate_position(self, position: float) -> float:
        return int(position * 8) / 8

    def watch_window_virtual_size(self) -> None:
        self._changed()

    def watch_window_size(self) -> None:
        self._changed()

    def watch_position(self) -> None:
        self._changed()

    def _changed(self) -> None:
        drawn = self._drawing()
        if drawn != self._drawn:
            self._drawn = drawn
            self.refresh()

    def _drawing(self) -> Any:
        """What the bar looks like at this size, position and extent (as ScrollBar draws
        it), without any styling: the styles repaint the bar by themselves."""
        size = self.size.height if self.vertical else self.size.width
        window = self.window_size if self.window_size < self.window_virtual_size else 0
        bar = self.renderer.render_bar(
            size=size,
            virtual_size=ceil(self.window_virtual_size),
            window_size=ceil(window),
            position=self.position,
            thickness=self.thickness,
            vertical=self.vertical,
        )
        return tuple(
            (segment.text, bool(segment.style and segment.style.reverse))
            for segment in bar.segments
        )

    def on_resize(self) -> None:
        self._drawn = None
        self._changed()

    _lines_key: Any = None
    _lines: tuple[Strip, ...] = ()

    def render_lines(self, crop: Region) -> list[Strip]:
        # The bar straight to strips: a scrollbar has no padding, border or content styles
        # for the style cache to apply, and that per-line work was most of its cost. The
        # renderable carries the colours (theme, hover, grab), so it is part of the key.
        # The app's line filters (ANSI colours to true colour, always on; NO_COLOR and the
        # like) are applied as the style cache does, once per drawing and once per distinct
        # line (a bar is a few kinds of line repeated): filtering every line on every frame
        # made ~30 new strips per `j`, as the thread's bar changes with each thread.
        width, height = self.size
        renderable = self.render()
        filters = tuple(self.get_line_filters())
        background = self.background_colors[1]
        key = (self._drawn, width, height, getattr(renderable, "style", None), filters, background)
        if key != self._lines_key or len(self._lines) != height:
            console = self.app.console
            options = console.options.update_dimensions(width, height)
            distinct: dict[tuple[Segment, ...], Strip] = {}
            lines = []
            for segments in console.render_lines(renderable, options, pad=True):
                strip = distinct.get(tuple(segments))
                if strip is None:
                    strip = Strip(segments, width)
                    for line_filter in filters:
                        strip = strip.apply_filter(line_filter, background)
                    distinct[tuple(segments)] = strip
                lines.append(strip)
            self._lines = tuple(lines)
            self._lines_key = key
        return [line.crop(crop.x, crop.right) for line in self._lines[crop.y : crop.bottom]]


class QuietScrollBars:
    """Mixin for a ScrollView: its vertical scrollbar is a QuietScrollBar (Textual's own on
    a Textual version not checked for that: textual_compat)."""

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        widget: Any = self
        return textual_compat.vertical_scrollbar(
            widget,
            lambda: QuietScrollBar(
                vertical=True, name="vertical", thickness=widget.scrollbar_size_vertical
            ),
        )
