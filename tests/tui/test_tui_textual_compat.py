"""Textual's private internals are used only through widgets/textual_compat.py, on Textual
versions checked for them; on any other version the widgets take the public path, which
must draw the same screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.style import Style
from tui_world import NOW, settle

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.widgets import textual_compat
from unibox_tui.widgets.line_api import plain_render_lines
from unibox_tui.widgets.scrollbar import QuietScrollBar
from unibox_tui.widgets.thread_view import ThreadView


def test_the_installed_textual_was_checked() -> None:
    """An upgrade of Textual fails here until someone re-checks textual_compat against it
    (its docstring says how) and adds the version."""
    from importlib.metadata import version as installed

    version = textual_compat.textual_version()
    assert version == installed("textual")  # its quick read of the dist-info folder is right
    assert version in textual_compat.CHECKED_VERSIONS, (
        f"Textual {version} is not in textual_compat.CHECKED_VERSIONS "
        f"{textual_compat.CHECKED_VERSIONS}: re-check the private uses there, then add it"
    )
    assert textual_compat.private_ok()


@pytest.fixture
def public_path() -> Iterator[None]:
    textual_compat.force_public()
    yield
    textual_compat.force_public(False)


Cell = tuple[str, object, object, bool, bool, bool, bool, bool]


def cells(app: UniboxApp) -> list[list[Cell]]:
    """What the terminal shows, cell by cell: the character, its ink and background as seen
    (reverse applied) and its attributes; a blank shows only its background, underline and
    strike. Two renders that split segments or stack styles differently but look the same
    compare equal."""
    rows: list[list[Cell]] = []
    for line in textual_compat.screen_strips(app).strips:
        row: list[Cell] = []
        for strip in line:
            for segment in strip:
                if segment.control:
                    continue
                st = segment.style or Style()
                ink, paper = (st.bgcolor, st.color) if st.reverse else (st.color, st.bgcolor)
                for ch in segment.text:
                    seen = not ch.isspace()
                    row.append(
                        (
                            ch,
                            ink if seen else None,
                            paper,
                            bool(st.bold) and seen,
                            bool(st.dim) and seen,
                            bool(st.italic) and seen,
                            bool(st.underline),
                            bool(st.strike),
                        )
                    )
        rows.append(row)
    return rows


async def _screens(path: Path, tmp_path: Path) -> list[list[list[Cell]]]:
    """The screen, with colours, after a few steps: list, scrolled list, thread, light
    theme, filtered (NO_COLOR-like) rendering."""
    from textual.filter import Monochrome

    ws = open_workspace(path)
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml", agent="ana"), now=lambda: NOW)
    shots: list[list[list[Cell]]] = []
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            lst = app.screen.conv_list
            quiet = isinstance(lst.vertical_scrollbar, QuietScrollBar)
            plain = plain_render_lines(lst, lst.size.region) is not None
            assert quiet == plain == textual_compat.private_ok()
            shots.append(cells(app))
            for _ in range(40):  # past the bottom: the list scrolls, the thumb moves
                await pilot.press("j")
            await settle(pilot)
            assert lst.scroll_offset.y > 0
            shots.append(cells(app))
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen.query_one(ThreadView).messages
            shots.append(cells(app))
            app.theme = "textual-light"
            await settle(pilot)
            shots.append(cells(app))
            textual_compat.add_line_filter(app, Monochrome())
            app.screen.refresh()
            lst.refresh()
            app.screen.query_one(ThreadView).refresh()
            await settle(pilot)
            shots.append(cells(app))
    finally:
        ws.close()
    return shots


@pytest.fixture
def two_demos(tmp_path: Path) -> tuple[Path, Path]:
    """The same demo twice (same seed and size: the same ids), one for each path."""
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    build_demo(first, conversations=300, seed=3, now=NOW)
    second.write_bytes(first.read_bytes())
    return first, second


async def test_the_public_path_draws_the_same_screens(
    two_demos: tuple[Path, Path], tmp_path: Path
) -> None:
    private = await _screens(two_demos[0], tmp_path)
    textual_compat.force_public()
    try:
        public = await _screens(two_demos[1], tmp_path)
    finally:
        textual_compat.force_public(False)
    assert len(public) == len(private) == 5
    for step, (ours, textuals) in enumerate(zip(private, public, strict=True)):
        for y, (a, b) in enumerate(zip(ours, textuals, strict=True)):
            assert a == b, f"step {step}, line {y}: " + str(
                [(x, ca, cb) for x, (ca, cb) in enumerate(zip(a, b, strict=True)) if ca != cb][:3]
            )


def test_no_class_of_ours_overrides_a_private_textual_name() -> None:
    """Our Textual subclasses define no `_method` that a Textual base class has: a private
    override (or an accidental clash) would change behaviour on the next Textual release.
    (Data attributes are left out: Textual itself sets some on every subclass.)"""
    import importlib
    import inspect
    import pkgutil

    from textual.dom import DOMNode

    import unibox_tui.screens
    import unibox_tui.widgets

    modules = [importlib.import_module("unibox_tui.app")]
    for package in (unibox_tui.screens, unibox_tui.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            modules.append(importlib.import_module(f"{package.__name__}.{info.name}"))
    clashes = []
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not cls.__module__.startswith("unibox_tui") or not issubclass(cls, DOMNode):
                continue
            textual_bases = [b for b in cls.__mro__ if b.__module__.startswith("textual")]
            for name, value in vars(cls).items():
                code = inspect.isfunction(value) or isinstance(
                    value, (property, staticmethod, classmethod)
                )
                if code and name.startswith("_") and not name.startswith("__"):
                    if any(name in vars(base) for base in textual_bases):
                        clashes.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert clashes == []


async def test_no_widget_shadows_a_textual_method(make_app) -> None:
    """ThreadView had a `_render(text, width, style)` that hid Widget._render(), which
    Textual calls for text selection: selecting in the thread raised a TypeError."""
    from textual.selection import Selection

    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        thread = app.screen.query_one(ThreadView)
        thread.get_selection(Selection(None, None))  # raised before


async def test_start_up_renders_the_first_frame_once_and_styles_each_widget_once(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up (tmux_bench's start to the first list) does each piece of work once: the
    inbox's first frame was also rendered inside the app's mount batch, where Textual throws
    it away (no_dropped_frames); its first resume restyled every widget it had just styled
    (keep_mount_styles); each footer key was restyled twice on mount (compact on, then off).
    The screen is the same (the snapshot tests draw it)."""
    from collections import Counter

    from textual._compositor import Compositor
    from textual.css.stylesheet import Stylesheet

    app = make_app()
    styled: Counter[object] = Counter()
    dropped: list[int] = []
    apply, render_update = Stylesheet.apply, Compositor.render_update

    def counting_apply(self, node, *args, **kwargs):  # type: ignore[no-untyped-def]
        styled[node] += 1
        return apply(self, node, *args, **kwargs)

    def counting_render(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if app._batch_count:
            dropped.append(1)  # App._display drops what is rendered now
        return render_update(self, *args, **kwargs)

    monkeypatch.setattr(Stylesheet, "apply", counting_apply)
    monkeypatch.setattr(Compositor, "render_update", counting_render)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        # Focus lands on the views pane (Textual's auto focus), then the list: both restyle.
        focus_moved = {screen.query_one("#views"), screen.query_one("#list")}
        again = [
            node
            for node in screen.walk_children(with_self=True)
            if styled[node] > 1 and node not in focus_moved
        ]
        assert styled[screen.query_one("#list")] >= 1
    assert again == []
    assert dropped == []
