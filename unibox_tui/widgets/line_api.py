"""Helpers shared by the Line API widgets (conversation list, thread, headers)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.style import Style as TextualStyle
from textual.widget import Widget

from . import textual_compat


def empty_line(y: int, width: int, message: str, style: Style, base: Style) -> Strip:
    """Line `y` of an empty Line API widget: its message from the second line on, wrapped
    at the width (our own words, never a customer's: no cell widths to measure)."""
    lines = _wrapped(message, max(8, width - 4))
    if not 1 <= y <= len(lines):
        return Strip.blank(width, base)
    return Strip([Segment(f"  {lines[y - 1]}"[:width], style)]).extend_cell_length(width, base)


@lru_cache(maxsize=16)
def _wrapped(message: str, width: int) -> list[str]:
    return textwrap.wrap(message, width) or [""]


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Change a ScrollView's virtual size without a screen layout.

    Assigning `virtual_size` is a layout reactive: every assignment re-lays the whole screen
    (~20 ms here). A Line API widget only needs its scrollbars updated: textual_compat does
    that where the Textual version is checked, else it assigns.
    """
    if size != widget.virtual_size:
        textual_compat.set_virtual_size(widget, size)


class TextLine(Widget):
    """A fixed-height line (or two) of Text. Unlike Static.update, `show` repaints without a
    layout pass, so headers can change on every key press for free."""

    DEFAULT_CSS = "TextLine { height: 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.text = Text()
        self._lines: list[Text] = []

    def show(self, text: Text) -> None:
        if text != self.text:
            self.text = text
            self._lines = list(text.split("\n", allow_blank=True))
            self.refresh()

    def render_line(self, y: int) -> Strip:
        # Straight from the Text: Widget.render() goes through Textual's Visual pipeline,
        # which cost ~0.3 ms a line, and the thread header changes on every `j`.
        width = self.content_region.width
        style = self.rich_style
        if y >= len(self._lines) or width <= 0:
            return Strip.blank(max(width, 0), style)
        line = self._lines[y].copy()
        line.truncate(width, overflow="ellipsis")
        console = self.app.console
        strip = Strip(list(line.render(console)))
        if line.style:  # Text.render leaves the Text's own base style to the caller
            strip = strip.apply_style(console.get_style(line.style))
        return strip.apply_style(style).extend_cell_length(width, style).crop(0, width)


class ComponentStyles:
    """A Line API widget's component styles, looked up once per theme (`rich_style` walks
    the DOM, too slow for every line). `is_text(name)`: the component is laid over a row or
    block that has its own background, so only its foreground is taken (text_style)."""

    def __init__(self, widget: Widget, prefix: str, is_text: Callable[[str], bool]) -> None:
        self.widget = widget
        self.prefix = prefix
        self.is_text = is_text
        self.cache: dict[str, Style] = {}

    def __call__(self, name: str) -> Style:
        style = self.cache.get(name)
        if style is None:
            widget = self.widget
            if name == "base":
                style = widget.rich_style
            elif self.is_text(name):
                style = text_style(widget, f"{self.prefix}--{name}")
            else:
                style = widget.get_component_rich_style(f"{self.prefix}--{name}")
            self.cache[name] = style
        return style

    def clear(self) -> None:
        self.cache.clear()


def text_style(widget: Widget, component: str) -> Style:
    """A component's foreground (color, bold, italic, ...) without its background, to lay
    over a row or block that has its own. Textual's `partial` style cannot do this when
    the color has alpha ($text-muted), so the resolved color is taken from the full style."""
    full = widget.get_component_rich_style(component)
    return Style(
        color=full.color,
        bold=full.bold,
        dim=full.dim,
        italic=full.italic,
        underline=full.underline,
        strike=full.strike,
        reverse=full.reverse,
    )


def plain_render_lines(
    widget: Widget, crop: Region, filtered: dict[int, tuple[Strip, Any, Strip]] | None = None
) -> list[Strip] | None:
    """`Widget.render_lines` for a Line API widget drawn without border, outline, padding,
    tint, opacity or hatch — what Textual's style cache returns then, without its per-line
    work (it re-derives all of those for every line: ~40 µs a line). None when the widget
    has any of them: use the style cache.

    Only for widgets whose `render_line` is a cheap lookup of ready strips (it is called
    for every line of `crop`, where the style cache would reuse its own copies).
    `filtered` keeps, per line, the last strip and its copy through the app's line filters,
    so an unchanged line is not filtered again. Not `Strip.apply_filter`: that keeps the copy
    inside the source strip, and the widgets' strip caches would then hold every filtered
    copy too (+24 MB at 100k conversations). tests/tui/test_tui_render_lines.py checks the
    result equals the style cache's; on a Textual version not checked (textual_compat), None.
    """
    if not textual_compat.plain_lines_allowed():
        return None
    styles = widget.styles
    if (
        any(styles.padding)
        or any(edge for edge, _ in styles.border)
        or any(edge for edge, _ in styles.outline)
        or styles.tint.a
        or widget.opacity != 1.0
        or styles.text_opacity != 1.0
        or (styles.has_rule("hatch") and styles.hatch != "none")
    ):
        return None
    width = widget.region.width
    content_width, content_height = widget.content_region.size
    if content_width != width:
        return None
    base_background, background = widget.background_colors
    inner = TextualStyle(background=base_background + background).rich_style  # as StylesCache
    filters = widget.get_line_filters()
    strips: list[Strip] = []
    for y in crop.line_range:
        if y < content_height:
            strip = widget.render_line(y).adjust_cell_length(content_width, inner)
        else:
            strip = Strip.blank(content_width, inner)
        if filters:
            key = (background, tuple(filters))
            done = filtered.get(y) if filtered is not None else None
            if done is not None and done[0] is strip and done[1] == key:
                strip = done[2]
            else:
                source = strip
                for line_filter in filters:
                    strip = Strip(line_filter.apply(list(strip), background), strip.cell_length)
                if filtered is not None:
                    filtered[y] = (source, key, strip)
        strips.append(strip)
    if crop.column_span != (0, width):
        x1, x2 = crop.column_span
        strips = [strip.crop(x1, x2) for strip in strips]
    return strips


class PlainLines:
    """Mixin for a Line API widget whose `render_line` looks up ready strips: its lines go
    to the compositor through `plain_render_lines` (the thread on every `j`, the list each
    time it scrolls a row: all their visible lines are new to the style cache then)."""

    _filtered: dict[int, tuple[Strip, Any, Strip]] | None = None
    # The content width while render_lines runs: `scrollable_content_region` re-derives it
    # from the styles and scrollbars on each call (~20 µs), and every line asked for it.
    _batch_width: int | None = None

    def line_width(self) -> int:
        """The width `render_line` draws at."""
        if self._batch_width is not None:
            return self._batch_width
        return self.scrollable_content_region.width  # type: ignore[attr-defined,no-any-return]

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._filtered is None:
            self._filtered = {}
        self._batch_width = self.scrollable_content_region.width  # type: ignore[attr-defined]
        try:
            strips = plain_render_lines(self, crop, self._filtered)  # type: ignore[arg-type]
            return super().render_lines(crop) if strips is None else strips  # type: ignore[misc]
        finally:
            self._batch_width = None
