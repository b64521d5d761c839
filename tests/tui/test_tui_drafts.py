"""Drafts that last: kept in the workspace, back after a restart, marked in the list, and
quitting with unsent drafts says so first."""

from __future__ import annotations

from tui_world import settle

from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.widgets.composer import EditorArea
from unibox_tui.widgets.glyphs import DRAFT


def drafts(demo) -> dict[str, str]:
    return {cid: d.text for cid, d in queries.drafts(demo.ws, demo.agents["ana"]).items()}


async def test_a_kept_draft_survives_quit_and_restart(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r", *"half", "escape")  # "Draft kept."
        await pilot.press("q")
        await settle(pilot)
        assert app.return_code is None  # not yet: it says there is a draft
        assert "1 unsent draft" in text_of(app)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0
    assert drafts(demo) == {demo.conv["chat"]: "half"}

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.thread_row.id == demo.conv["chat"]
        assert screen.composer.is_open and screen.composer.editor.text == "half"
        assert text_of(app).count(DRAFT) == 1  # the chat's row
        await pilot.press("r")
        assert isinstance(app.focused, EditorArea) and screen.composer.editor.text == "half"


async def test_ctrl_q_in_the_editor_keeps_the_draft_and_asks(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("j", "r", *"unsent words", "ctrl+q")
        await settle(pilot)
        assert app.return_code is None
        assert "1 unsent draft" in text_of(app)
        assert drafts(demo) == {demo.conv["mail"]: "unsent words"}  # already kept
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0


async def test_quit_without_drafts_quits_at_once(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


async def test_moving_away_keeps_the_draft_and_sending_clears_it(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("r", *"for the chat", "escape", "escape", "j")
        await settle(pilot)
        assert drafts(demo) == {demo.conv["chat"]: "for the chat"}
        assert screen.conv_list.drafts == {demo.conv["chat"]}
        await pilot.press("k", "r", "ctrl+s")  # send the kept draft
        await settle(pilot)
        assert (
            queries.thread(demo.ws, demo.conv["chat"], access=EVERYTHING)[-1].body == "for the chat"
        )
        assert drafts(demo) == {}
        assert not screen.conv_list.drafts and DRAFT not in text_of(app)
