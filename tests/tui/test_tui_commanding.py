"""Commands from the TUI run off the UI thread, in order, through the command registry."""

from __future__ import annotations

import sqlite3

from tui_world import settle
from waiting import until

from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING


async def test_keys_stay_live_while_a_command_waits_for_the_database(make_app, demo) -> None:
    """Another process holds the write lock: the close waits for it on a worker while the
    agent keeps moving, and lands once the lock is released."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        await pilot.press("j")
        target = lst.selected.id
        blocker = sqlite3.connect(demo.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # as another unibox writing a big sync batch
        try:
            await pilot.press("x")
            await pilot.press("j", "j")  # handled at once: the close is not on this thread
            assert lst.cursor == 3
            row = queries.conversation(demo.ws, target, access=EVERYTHING)
            assert row.status == "open"  # still waiting for the lock
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await until(
            lambda: queries.conversation(demo.ws, target, access=EVERYTHING).status == "closed",
            what="the close landed after the lock was released",
        )
        await settle(pilot)


async def test_commands_keep_their_order(make_app, demo) -> None:
    """A comment then a close, typed quickly, are applied in that order."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j")
        target = app.screen.conv_list.selected.id
        # The comment waits for the database (as on a slow machine): the `x` typed right
        # after ctrl+s must close the conversation, not land in the editor being sent.
        blocker = sqlite3.connect(demo.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            await pilot.press("c", *"checked the carrier", "ctrl+s", "x")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await until(
            lambda: queries.conversation(demo.ws, target, access=EVERYTHING).status == "closed",
            what="the close typed after the comment landed",
        )
        await settle(pilot)
        assert not app.screen.composer.is_open
        bodies = [m.body for m in queries.thread(demo.ws, target, access=EVERYTHING)]
        assert bodies.index("checked the carrier") < bodies.index("Ana Lima closed this")


async def test_a_refused_comment_stays_editable(make_app, demo) -> None:
    """A comment core refuses (here: only spaces) keeps its text in the composer, editable
    again and focused, with the reason shown."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "c", "space", "space", "ctrl+s")
        await settle(pilot)
        composer = app.screen.composer
        assert composer.is_open
        assert composer.editor.text == "  "
        assert not composer.editor.read_only
        assert app.focused is composer.editor
        await pilot.press("o", "k", "ctrl+s")
        await settle(pilot)
        assert not composer.is_open
