"""SVG snapshots of the main screens (time and data frozen: see tui_world.py).

Update after reading the failure report: `pytest tests/tui/test_tui_snapshots.py
--snapshot-update`, then look at the SVGs in tests/tui/__snapshots__/.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, TextArea
from tui_world import NOW, settle

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core.db import open_workspace


def steps(*keys: str):  # type: ignore[no-untyped-def]
    """A run_before that presses keys, lets workers finish and stops cursors blinking
    (a blinking cursor would make the picture depend on the moment it is taken)."""

    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)
        for widget in pilot.app.screen.query("Input, TextArea"):
            if isinstance(widget, (Input, TextArea)):
                widget.cursor_blink = False
        await pilot.pause()

    return run


def test_inbox_80x24(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps())


def test_inbox_160x48(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps())


def test_thread_with_every_message_kind(snap_compare, make_app) -> None:
    """Incoming, outgoing (queued), internal note with a mention, activity, folded quote,
    attachments (one not stored)."""
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps("j", "enter", "g"))


def test_comment_with_mention_popup(snap_compare, make_app) -> None:
    assert snap_compare(
        make_app(), terminal_size=(160, 48), run_before=steps("j", "c", "h", "i", "space", "@")
    )


def test_assign_picker(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=steps("a"))


def test_snooze_picker(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=steps("s"))


def test_search_results(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps("slash", "i", "s"))


def test_search_with_operators(snap_compare, make_app) -> None:
    """Words with `status:` and `assignee:` operators: only open, unassigned matches."""
    keys = ["slash", "i", "s", "space", *"status", "colon", *"open", "space"]
    keys += [*"assignee", "colon", *"none"]
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps(*keys))


def test_help(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 48), run_before=steps("question_mark"))


def test_contact_sidebar(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps("j", "j", "p"))


def test_hostile_text_80x24(snap_compare, make_app) -> None:
    """Markup, escapes and a 10,000-character line, shown literally; the layout holds."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps("G", "enter", "g"))


def test_empty_workspace(snap_compare, tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "empty.db")
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    try:  # past the setup screen ("later"): the empty inbox
        assert snap_compare(app, terminal_size=(100, 30), run_before=steps("escape"))
    finally:
        ws.close()


def test_draft_marker_and_undo_toast(snap_compare, make_app) -> None:
    """A kept draft marks its row (✎); a close names the conversation and offers ctrl+z.
    ("Draft kept." is cleared first: a 2 s toast, gone or not by the picture depending on
    the machine's load; test_tui_drafts checks it.)"""
    keep, close = steps("r", "h", "i", "escape", "escape"), steps("j", "x")

    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await keep(pilot)
        pilot.app.clear_notifications()
        await close(pilot)

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=run)


def test_setup_screen(snap_compare, tmp_path: Path) -> None:
    """The first start on an empty workspace: who you are, to become its first admin."""
    ws = open_workspace(tmp_path / "empty.db")
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    try:
        assert snap_compare(
            app, terminal_size=(100, 30), run_before=steps(*"Ana", "space", *"Lima")
        )
    finally:
        ws.close()


def test_settings_screen(snap_compare, make_app) -> None:
    """Settings (`,`): the agents section with roles, teams and availability."""
    assert snap_compare(make_app(), terminal_size=(140, 36), run_before=steps("comma"))


ATTACHMENT = "tests/data/composer-attachment.txt"  # a file of the repo: its size is known


def _mail_composer_steps():  # type: ignore[no-untyped-def]
    """The e-mail composer on Marta's e-mail: Cc, a file, the quote on, some text."""
    keys = ["j", "r", "shift+tab", "shift+tab", *"ops@acme.test", "ctrl+l", "ctrl+u"]
    keys += [*ATTACHMENT, "enter", "ctrl+g", *"Hi", "space", *"Marta"]
    return steps(*keys)


def test_mail_composer_160x48(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_mail_composer_steps())


def test_mail_composer_80x24(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_mail_composer_steps())
