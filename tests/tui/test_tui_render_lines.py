"""The thread and the list draw their lines straight to strips (line_api.PlainLines): what
they hand the compositor must equal what Textual's style cache would have, in every state."""

from __future__ import annotations

from textual.filter import Monochrome
from textual.geometry import Region
from textual.widget import Widget
from tui_world import NOW, settle

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.widgets import conversation_list, textual_compat
from unibox_tui.widgets.line_api import PlainLines, plain_render_lines
from unibox_tui.widgets.thread_view import ThreadView


def _segments(strips: list) -> list[list[tuple]]:
    return [[(s.text, s.style, s.control) for s in strip] for strip in strips]


def _same_as_textual(widget: Widget, crop: Region) -> None:
    ours = plain_render_lines(widget, crop)
    assert ours is not None  # the default look takes the fast path
    # And what the widget really hands on, with its per-line cache of filtered strips.
    cached = widget.render_lines(crop)
    widget.refresh()  # clears the style cache: the reference is rendered from scratch
    reference = Widget.render_lines(widget, crop)
    assert _segments(ours) == _segments(reference) == _segments(cached)
    assert (
        [s.cell_length for s in ours]
        == [s.cell_length for s in reference]
        == [crop.width] * crop.height
    )


async def test_the_thread_draws_what_the_style_cache_would(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "enter")  # a thread with every kind of message
        await settle(pilot)
        thread = app.screen.query_one(ThreadView)
        assert thread.messages
        whole = thread.size.region
        _same_as_textual(thread, whole)
        _same_as_textual(thread, Region(3, 2, whole.width - 7, 5))  # a partial crop
        _same_as_textual(thread, Region(0, 0, whole.width, whole.height + 2))  # past the end
        thread.scroll_to(y=4, animate=False)
        await settle(pilot)
        _same_as_textual(thread, whole)
        app.theme = "textual-light"  # other colours, and the widget's background with them
        await settle(pilot)
        _same_as_textual(thread, whole)
        await pilot.press("j")  # the next conversation
        await settle(pilot)
        _same_as_textual(thread, whole)
        textual_compat.add_line_filter(
            app, Monochrome()
        )  # what NO_COLOR turns on: line filters apply
        thread.refresh()
        await settle(pilot)
        _same_as_textual(thread, whole)


async def test_a_thread_with_padding_or_a_border_is_left_to_the_style_cache(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        thread = app.screen.query_one(ThreadView)
        thread.styles.padding = (0, 1)
        await settle(pilot)
        assert plain_render_lines(thread, thread.size.region) is None
        thread.styles.padding = 0
        thread.styles.border = ("round", "red")
        await settle(pilot)
        assert plain_render_lines(thread, thread.size.region) is None
        thread.styles.border = ("none", "red")
        thread.styles.tint = "red 20%"
        await settle(pilot)
        assert plain_render_lines(thread, thread.size.region) is None
        thread.styles.tint = "red 0%"
        await settle(pilot)
        assert plain_render_lines(thread, thread.size.region) is not None


async def test_the_list_draws_what_the_style_cache_would(tmp_path) -> None:
    path = tmp_path / "demo.db"
    build_demo(path, conversations=300, seed=3, now=NOW)
    app = UniboxApp(open_workspace(path), Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        assert isinstance(lst, PlainLines)
        whole = lst.size.region
        _same_as_textual(lst, whole)
        for _ in range(40):  # past the bottom: the list scrolls a row a key
            await pilot.press("j")
        await settle(pilot)
        assert lst.scroll_offset.y > 0
        _same_as_textual(lst, whole)
        _same_as_textual(lst, Region(2, 1, 30, 4))
        app.screen.set_focus(None)  # the cursor row without focus looks different
        await settle(pilot)
        _same_as_textual(lst, whole)
        textual_compat.add_line_filter(
            app, Monochrome()
        )  # a filter turned on later: cached copies go
        lst.refresh()
        await settle(pilot)
        _same_as_textual(lst, whole)


async def test_the_next_page_is_fetched_after_the_thread_of_the_new_row_is_drawn(
    tmp_path,
) -> None:
    """Near a page's edge `j` fetches the next page of rows ahead of the cursor, but only
    once the new row's thread is on screen: the fetch held the thread's frame up."""
    path = tmp_path / "demo.db"
    build_demo(path, conversations=300, seed=3, now=NOW)
    app = UniboxApp(open_workspace(path), Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        lst = screen.conv_list
        page = conversation_list.PAGE
        edge = page - conversation_list.PREFETCH  # the row whose `j` asks for page 1
        lst.move_to(edge - 1)
        await settle(pilot)
        assert 1 not in lst._pages
        loaded_when_thread_drawn: list[bool] = []
        original = app._display

        def display(screen_, update):  # type: ignore[no-untyped-def]
            original(screen_, update)
            shown = screen.thread.conversation
            if update is not None and shown is not None and shown.id == lst.selected.id:
                loaded_when_thread_drawn.append(1 in lst._pages)

        app._display = display  # type: ignore[method-assign]
        await pilot.press("j")
        await settle(pilot)
        app._display = original  # type: ignore[method-assign]
        assert lst.cursor == edge
        assert loaded_when_thread_drawn and loaded_when_thread_drawn[0] is False
        assert 1 in lst._pages  # fetched right after


def _shown(update) -> list[tuple]:  # type: ignore[no-untyped-def]
    """What a partial update puts on the terminal: per span, the cells of each chop in it."""
    out = []
    for y, x1, x2 in update.spans:
        for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
            if strip is None or x >= x2 or end <= x1:
                continue
            part = strip.crop(max(0, x1 - x), min(end, x2) - x)
            out.append((y, max(x, x1), _segments([part])))
    return out


async def test_the_inbox_frames_equal_textuals_own(make_app) -> None:
    """The inbox screen's compositor skips widgets hidden in an update
    (textual_compat.skip_hidden_renders): every partial update it draws must put the same
    cells on the terminal as Textual's own `render_partial_update`."""
    from textual._compositor import Compositor

    app = make_app()
    compared: list[int] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        compositor = app.screen._compositor
        ours = compositor.render_partial_update
        assert "render_partial_update" in vars(compositor)  # ours, on this screen

        def both():  # type: ignore[no-untyped-def]
            regions = compositor._dirty_regions.copy()
            mine = ours()
            compositor._dirty_regions.update(regions)
            theirs = Compositor.render_partial_update(compositor)
            assert (mine is None) == (theirs is None)
            if mine is not None:
                assert _shown(mine) == _shown(theirs)
                compared.append(len(mine.spans))
            return mine

        compositor.render_partial_update = both
        for key in (
            "j",
            "j",
            "k",
            "enter",
            "escape",
            "3",
            "j",
            "2",
            "tab",
            "j",
            "question_mark",
            "escape",
        ):
            await pilot.press(key)
            await settle(pilot)
        compositor.render_partial_update = ours
    assert len(compared) > 10


async def test_j_draws_the_cursor_rows_then_the_thread_with_its_scrollbar(make_app) -> None:
    """`j` costs two frames, no more: the list's cursor (its two changed rows, not all 46
    of its lines) and the thread, whose scrollbar goes out in the thread's frame (it asked
    for a repaint through its own idle, a third frame right after, when the new thread was
    longer or shorter)."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        thread, lst = screen.thread, screen.conv_list
        bar = thread.vertical_scrollbar
        frames: list[set[Widget]] = []  # the widgets each frame drew
        drawn: set[Widget] = set()
        list_rows: list[int] = []  # the heights the list was asked to render
        original_display, original_list = app._display, lst.render_lines

        def display(screen, update):  # type: ignore[no-untyped-def]
            if update is not None:
                frames.append(set(screen._dirty_widgets))
            original_display(screen, update)

        def list_lines(crop: Region):  # type: ignore[no-untyped-def]
            list_rows.append(crop.height)
            return original_list(crop)

        app._display = display  # type: ignore[method-assign]
        lst.render_lines = list_lines  # type: ignore[method-assign]
        bars_with_thread = 0
        for _ in range(6):
            frames.clear()
            list_rows.clear()
            await pilot.press("j")
            await settle(pilot)
            with_thread = [i for i, f in enumerate(frames) if thread in f]
            assert with_thread, frames
            assert lst in frames[0] and thread not in frames[0]  # the cursor first, alone
            assert list_rows[0] == 2  # the old and the new cursor row
            assert not any(bar in f for f in frames[with_thread[0] + 1 :])
            bars_with_thread += bar in frames[with_thread[0]]
            drawn.update(*frames)
        assert bars_with_thread > 0  # the bar's drawing did change along the way
        app._display = original_display  # type: ignore[method-assign]
