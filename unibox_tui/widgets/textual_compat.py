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
    Public path: assign `virtual_size`, a layout reactive (~20 ms at 100k rows).

    Textual 8.2.8's `_scroll_update`, except that a bar which repaints itself when its
    drawing changes (scrollbar.QuietScrollBar: `repaints_itself`) is not made to repaint:
    Textual's unconditional refresh of the thread's bar on every new thread cost `j` a
    frame of its own after the thread's (screens/inbox.py draws the thread with paint_now,
    and the bar's repaint came later, through its own idle)."""
    if not private_ok():
        widget.virtual_size = size
        return
    from textual.widget import Widget as _Widget

    w: Any = widget
    w.set_reactive(_Widget.virtual_size, size)
    w._refresh_scrollbars()
    width, height = w.container_size
    if w.show_vertical_scrollbar and w.styles.scrollbar_size_vertical:
        bar = w.vertical_scrollbar
        bar.window_virtual_size = size.height
        bar.window_size = height - w.scrollbar_size_horizontal
        if not getattr(bar, "repaints_itself", False):
            bar.refresh()
    if w.show_horizontal_scrollbar and w.styles.scrollbar_size_horizontal:
        bar = w.horizontal_scrollbar
        bar.window_virtual_size = size.width
        bar.window_size = width - w.scrollbar_size_vertical
        if not getattr(bar, "repaints_itself", False):
            bar.refresh()
    w.scroll_x = w.validate_scroll_x(w.scroll_x)
    w.scroll_y = w.validate_scroll_y(w.scroll_y)
    widget.refresh()


def paint_now(screen: Any, widgets: list[Widget]) -> bool:
    """Draw `widgets` (and whatever else is dirty) on `screen` now, not at its next update.

    A screen draws at most every 1/TEXTUAL_FPS s (its update timer): a second frame asked
    for right after one was drawn waits up to a whole period. The inbox draws `j` in two
    frames, the list cursor first and the thread right after (screens/inbox.py); this lets
    the second go out as soon as the thread is ready instead of a period later. Textual's
    own tick (`Screen._on_timer_update`) still comes for everything else that changed.
    False (nothing drawn, the tick will) on the public path, or when the screen needs a
    layout first. A widget's vertical scrollbar that asked for a repaint (the thread's,
    when the new thread is longer or shorter) is drawn in the same frame, not in one of
    its own right after."""
    if not private_ok():
        return False
    app = screen.app
    if screen is not app.screen or app._batch_count or app.is_inline or screen._layout_required:
        return False
    for widget in widgets:
        if widget._layout_required or not widget.display:
            return False
    bars = [getattr(widget, "_vertical_scrollbar", None) for widget in widgets]
    for bar in bars:
        if bar is not None and bar._repaint_required and bar.display:
            widgets = [*widgets, bar]
    for widget in widgets:
        widget._repaint_required = False  # drawn here: no second Update message for it
        screen._dirty_widgets.add(widget)
    screen._compositor.update_widgets(screen._dirty_widgets)
    screen._compositor_refresh()
    return True


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


def keep_mount_styles(event: Any) -> None:
    """Call from a screen's `on_screen_resume` on its first resume: the screen keeps the
    styles its widgets got as they mounted. Textual restyles every widget of a screen when
    it is resumed (Screen._on_screen_resume), which for a screen pushed at start-up repeats,
    a moment later and with the same stylesheet, what mounting it did (~12 ms of CPU before
    the first frame). A subclass's handler runs before Screen's, which reads the flag.
    Public path: Textual restyles."""
    if private_ok():
        event.refresh_styles = False


def no_dropped_frames(screen: Any) -> None:
    """Do not render `screen` inside a batch update; draw it, whole, when the batch ends.

    Textual renders the whole screen and App._display drops the result inside a batch
    update: start-up lays the inbox out inside the app's mount batch, and its first frame
    was rendered (~18 ms of CPU) only to be thrown away and rendered again right after.
    Here the screen's compositor refresh is skipped while a batch is open and the app's
    `_end_batch` repaints the current screen when the last batch closes. Public path:
    Textual's own (the dropped frame stays)."""
    if not private_ok():
        return
    app = screen.app
    refresh = type(screen)._compositor_refresh

    def compositor_refresh() -> None:
        if app._batch_count and not app.is_inline and screen is app.screen:
            app._unibox_frame_held = True
            return
        refresh(screen)

    screen._compositor_refresh = compositor_refresh
    if "_end_batch" in vars(app):
        return  # one per app: an earlier screen put it there
    end_batch = type(app)._end_batch

    def end_batch_and_draw() -> None:
        end_batch(app)
        if not app._batch_count and getattr(app, "_unibox_frame_held", False):
            app._unibox_frame_held = False
            app.screen.refresh()

    app._end_batch = end_batch_and_draw


def plain_lines_allowed() -> bool:
    """line_api.plain_render_lines reproduces what Textual's StylesCache renders for a widget
    without border, padding or tint: checked per version. Public path: the style cache."""
    return private_ok()


def skip_hidden_renders(screen: Any) -> None:
    """Make `screen`'s compositor skip widgets that cannot show in an update.

    Textual's `Compositor._render_chops` renders every widget whose clip overlaps the
    updated area, whole, and then cuts its lines up: on a `j` (list, thread and their
    headers changed) that is also the views pane (outside the update, but its clip is the
    screen), the footer, the panes behind the list and the thread, and the screen itself:
    ~240 lines of a ~330-line frame, cut up and then discarded because a widget in front
    already filled those cells or no updated cell is there. Here a widget is rendered only
    if some cell it covers in the updated spans is still empty; the rest is Textual's code
    as it is. The frame is the same (tests/tui/test_tui_render_lines.py)."""
    compositor = screen._compositor
    cls = type(compositor)

    def render_chops(crop: Any, is_rendered_line: Callable[[int], bool]) -> Any:
        if not private_ok():
            return cls._render_chops(compositor, crop, is_rendered_line)
        return _render_chops(compositor, crop, is_rendered_line, None)

    def render_partial_update() -> Any:
        if not private_ok():
            return cls.render_partial_update(compositor)
        # Textual 8.2.8's render_partial_update, handing the spans on to _render_chops.
        from textual._compositor import ChopsUpdate
        from textual.geometry import Region

        update_regions = compositor._dirty_regions.copy()
        compositor._dirty_regions.clear()
        if not update_regions:
            return None
        crop = Region.from_union(update_regions).intersection(compositor.size.region)
        spans = list(compositor._regions_to_spans(update_regions))
        wanted: dict[int, list[tuple[int, int]]] = {}
        for y, x1, x2 in spans:
            wanted.setdefault(y, []).append((x1, x2))
        chops = _render_chops(compositor, crop, wanted.__contains__, wanted)
        return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in compositor.cuts])

    compositor._render_chops = render_chops
    compositor.render_partial_update = render_partial_update


def _render_chops(
    compositor: Any,
    crop: Any,
    is_rendered_line: Callable[[int], bool],
    wanted: dict[int, list[tuple[int, int]]] | None,
) -> Any:
    """Textual 8.2.8's `Compositor._render_chops` with `_get_renders` folded in, skipping a
    widget none of whose cells is both still empty and wanted (in `wanted`'s spans of its
    line, [x1, x2); None: every cell of the rendered lines)."""
    from textual.geometry import Region

    cuts = compositor.cuts
    chops: list[dict[int, Any]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    crop_overlaps = crop.overlaps
    intersection = Region.intersection
    contains_region = Region.contains_region

    def needed(y: int, first_cut: int, last_cut: int) -> bool:
        line_cuts, chops_line = cuts[y], chops[y]
        spans = wanted[y] if wanted is not None else None
        for i in range(len(line_cuts) - 1):
            cut, end = line_cuts[i], line_cuts[i + 1]
            if cut < first_cut or cut >= last_cut or chops_line[cut] is not None:
                continue
            if spans is None or any(cut < x2 and end > x1 for x1, x2 in spans):
                return True
        return False

    for widget, (region, clip) in compositor.visible_widgets.items():
        if not crop_overlaps(clip):
            continue
        render_region = intersection(region, clip)
        render_x, render_y, width, height = render_region
        if not (width and height) or not crop_overlaps(render_region):
            continue
        first_cut, last_cut = render_x, render_x + width
        # Only the widget's lines inside the update: the list's cursor frame updates two
        # rows of 46 (Textual renders the whole widget and lets its style cache skip what
        # did not change; the Line API widgets have no such cache to lean on).
        top, bottom = max(render_y, crop.y), min(render_y + height, crop.bottom)
        lines = range(top, bottom)
        if not any(needed(y, first_cut, last_cut) for y in lines if is_rendered_line(y)):
            continue  # behind the widgets in front, or outside the update
        if contains_region(clip, region) and lines == render_region.line_range:
            strips = widget.render_lines(Region(0, 0, region.width, region.height))
        else:
            strips = widget.render_lines(
                Region(render_x - region.x, top - region.y, width, bottom - top)
            )
        for y, strip in zip(lines, strips, strict=False):
            if not is_rendered_line(y):
                continue
            chops_line = chops[y]
            final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
            cut_strips = strip.divide([cut - render_x for cut in final_cuts[1:]])
            get_chops_line = chops_line.get
            for cut, piece in zip(final_cuts, cut_strips, strict=False):
                if get_chops_line(cut) is None:
                    chops_line[cut] = piece
    return chops


# ------------------------------------------------------------------ used by the tests only
# No public API does these; the tests that need them run on checked versions.


def screen_strips(app: App[Any]) -> Any:
    """The whole screen as the compositor hands it to the terminal (screen_text)."""
    screen: Any = app.screen
    return screen._compositor.render_update(full=True, screen_stack=app._background_screens)


def add_line_filter(app: App[Any], line_filter: LineFilter) -> None:
    """Turn on a line filter as NO_COLOR does at start-up."""
    app._filters.append(line_filter)
