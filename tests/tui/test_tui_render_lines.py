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
from unibox_tui.widgets import textual_compat
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
