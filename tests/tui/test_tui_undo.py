"""One-key decisions say what they did and ctrl+z takes them back for a few seconds."""

from __future__ import annotations

from datetime import timedelta

from tui_world import NOW, settle

from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING


def conv(demo, name: str) -> queries.ConversationRow:
    return queries.conversation(demo.ws, demo.conv[name], access=EVERYTHING)


def due_ids(demo, when) -> list[str]:
    from unibox_tui.core import outbox

    return [i.message_id for i in outbox.due(demo.ws, when)]


def toasts(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_close_says_which_and_ctrl_z_reopens_it(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("j", "x")  # the mail conversation
        await settle(pilot)
        assert conv(demo, "mail").status == "closed"
        assert "“Order #1042 hasn't arrived” closed. ctrl+z undoes it." in toasts(app)
        assert screen.conv_list.selected.id != demo.conv["mail"]  # moved on
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert conv(demo, "mail").status == "open"
        assert screen.conv_list.selected.id == demo.conv["mail"]  # back on it
        assert "Undone: “Order #1042 hasn't arrived” closed." in toasts(app)
        assert conv(demo, "chat").status == "open"


async def test_move_then_ctrl_z_moves_it_back(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("m", "enter")  # the chat, to Sales
        await settle(pilot)
        assert conv(demo, "chat").inbox == "Sales"
        assert any(t.startswith("“Hello? Is anyone there?” moved to Sales") for t in toasts(app))
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert conv(demo, "chat").inbox == "Support"


async def test_a_move_that_unassigned_gets_the_assignee_back(make_app, demo) -> None:
    """Sales is listed: moving there unassigns whoever has no access; undo restores both."""
    from unibox_tui.core import commands as cmd

    cmd.assign(demo.ws, demo.conv["chat"], "bo", actor="ana", now=NOW)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("m", "enter", "ctrl+z")
        await settle(pilot)
        row = conv(demo, "chat")
        assert (row.inbox, row.assignee) == ("Support", "bo")


async def test_assign_snooze_unread_and_reopen_undo_to_what_was(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "a", "b", "o", "enter")  # mail: ana -> bo
        await settle(pilot)
        assert conv(demo, "mail").assignee == "bo"
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert conv(demo, "mail").assignee == "ana"
        await pilot.press("s", "enter")  # snooze the mail
        await settle(pilot)
        assert conv(demo, "mail").status == "snoozed"
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert conv(demo, "mail").status == "open"
        unread = conv(demo, "mail").unread
        await pilot.press("u")
        await settle(pilot)
        assert conv(demo, "mail").unread is not unread
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert conv(demo, "mail").unread is unread
        await pilot.press("6", "o")  # Snoozed view: reopen the snoozed one, then undo
        await settle(pilot)
        assert conv(demo, "snoozed").status == "open"
        await pilot.press("ctrl+z")
        await settle(pilot)
        row = conv(demo, "snoozed")
        assert row.status == "snoozed" and row.snoozed_until == NOW + timedelta(days=3)


async def test_after_the_window_ctrl_z_does_nothing(make_app, demo, config) -> None:
    app = make_app()
    clock = [NOW]
    app.now = lambda: clock[0]
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert conv(demo, "chat").status == "closed"
        clock[0] = NOW + timedelta(seconds=config.undo_seconds + 1)
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert conv(demo, "chat").status == "closed"
        assert "Nothing to undo." in toasts(app)


async def test_undo_window_from_the_config(make_app, demo, config) -> None:
    config.undo_seconds = 0  # off: the toast still says what happened
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("x", "ctrl+z")
        await settle(pilot)
        assert conv(demo, "chat").status == "closed"
        assert "“Hello? Is anyone there?” closed." in toasts(app)


async def test_a_sent_reply_can_be_unsent_into_the_editor(make_app, demo) -> None:
    from unibox_tui.core import outbox

    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("r", *"on my way", "ctrl+s")
        await settle(pilot)
        sent = queries.thread(demo.ws, demo.conv["chat"], access=EVERYTHING)[-1]
        assert (sent.kind, sent.body) == ("outgoing", "on my way")
        assert any("leaves in 5 s. ctrl+z unsends it." in t for t in toasts(app))
        # Held: an engine finds nothing due until the delay has passed.
        assert sent.id not in due_ids(demo, NOW)
        assert sent.id in due_ids(demo, NOW + timedelta(seconds=5))
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert [
            m
            for m in queries.thread(demo.ws, demo.conv["chat"], access=EVERYTHING)
            if m.kind == "outgoing"
        ] == []
        assert outbox.pending_count(demo.ws) == 1  # the fixture's own reply on the mail
        assert screen.composer.is_open and screen.composer.editor.text == "on my way"
        assert app.focused is screen.composer.editor
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).waiting


async def test_unsend_is_refused_once_the_engine_took_the_reply(make_app, demo) -> None:
    from unibox_tui.core import outbox

    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r", *"on my way", "ctrl+s")
        await settle(pilot)
        [item] = [
            i
            for i in outbox.due(demo.ws, NOW + timedelta(seconds=5))
            if i.conversation_id == demo.conv["chat"]
        ]
        assert outbox.claim(demo.ws, item.entry_id, NOW + timedelta(seconds=5))
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert (
            queries.thread(demo.ws, demo.conv["chat"], access=EVERYTHING)[-1].id == item.message_id
        )
        assert any("Cannot undo: the reply is already on its way" in t for t in toasts(app))


async def test_undo_send_delay_from_the_config(make_app, demo, config) -> None:
    from unibox_tui.core import outbox

    config.undo_send_seconds = 0
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("r", *"now", "ctrl+s")
        await settle(pilot)
        due = [i.conversation_id for i in outbox.due(demo.ws, NOW)]
        assert demo.conv["chat"] in due
