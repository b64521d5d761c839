"""The quiet scrollbar: drawn exactly like Textual's, repainted only when that drawing
changes (a one-row scroll through a long list usually leaves the thumb where it was)."""

from __future__ import annotations

from pathlib import Path

from textual.scrollbar import ScrollBarRender
from tui_world import NOW, settle

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.widgets.scrollbar import QuietScrollBar


def _textual_bar(bar: QuietScrollBar) -> list[str]:
    """The cells Textual's own renderer draws for this bar's current state."""
    window = bar.window_size if bar.window_size < bar.window_virtual_size else 0
    drawn = ScrollBarRender.render_bar(
        size=bar.size.height,
        virtual_size=bar.window_virtual_size,
        window_size=window,
        position=bar.position,
        vertical=True,
    )
    return [f"{s.text}{'#' if s.style and s.style.reverse else ''}" for s in drawn.segments]


def _on_screen(bar: QuietScrollBar) -> list[str]:
    strips = bar.render_lines(bar.size.region)
    return [
        "".join(f"{s.text}{'#' if s.style and s.style.reverse else ''}" for s in strip)
        for strip in strips
    ]


async def test_the_list_bar_repaints_only_when_the_thumb_moves(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    build_demo(path, conversations=4000, seed=5, now=NOW)
    ws = open_workspace(path)
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml", agent="ana"), now=lambda: NOW)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            lst = app.screen.conv_list
            bar = lst.vertical_scrollbar
            assert isinstance(bar, QuietScrollBar)
            repaints = 0
            original = bar.refresh

            def counting_refresh(*args, **kwargs):  # type: ignore[no-untyped-def]
                nonlocal repaints
                repaints += 1
                return original(*args, **kwargs)

            bar.refresh = counting_refresh  # type: ignore[method-assign]
            scrolls = 0
            for _ in range(120):
                before = lst.scroll_y
                await pilot.press("j")
                scrolls += lst.scroll_y != before
            await settle(pilot)
            assert scrolls > 80, lst.total  # the list really scrolled on most keys
            assert 0 < repaints < scrolls / 3  # but the bar was repainted on few of them
            # And what is on screen is what Textual would have drawn now.
            assert _on_screen(bar) == _textual_bar(bar)
    finally:
        ws.close()


async def test_the_bar_takes_the_new_colours_when_the_theme_changes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        bar = app.screen.conv_list.vertical_scrollbar
        assert isinstance(bar, QuietScrollBar) and bar.display
        before = {s.style for strip in bar.render_lines(bar.size.region) for s in strip}
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await settle(pilot)
        after = {s.style for strip in bar.render_lines(bar.size.region) for s in strip}
        expected = bar.render().style  # type: ignore[attr-defined]
        assert after != before
        assert all(s.bgcolor == expected.bgcolor for s in after if s and not s.reverse), (
            after,
            expected,
        )
