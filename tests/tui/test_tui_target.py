"""Act on what you see: a conversation opened from search or a notification is the one the
next key changes, and the list cursor is moved to it (switching views when needed).

Each test starts with the list cursor on the chat (the top of "All open") and opens another
conversation from elsewhere, then presses a triage key: the workspace must show that the
opened conversation changed and the chat did not.
"""

from __future__ import annotations

import pytest
from tui_world import settle

from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.screens.notifications import NotificationsScreen
from unibox_tui.screens.pickers import PickerScreen


def conv(demo, name: str) -> queries.ConversationRow:
    return queries.conversation(demo.ws, demo.conv[name], access=EVERYTHING)


# key presses after opening, and what the opened conversation looks like afterwards
TRIAGE = {
    "close": (("x",), lambda r: r.status == "closed"),
    "assign_me": (("i",), lambda r: r.assignee == "ana"),
    "assign": (("a", "b", "o", "enter"), lambda r: r.assignee == "bo"),
    "snooze": (("s", "enter"), lambda r: r.status == "snoozed"),
    "move": (("m", "enter"), lambda r: r.inbox == "Sales"),
    "unread": (("u",), lambda r: r.unread),
}


async def open_from_search(pilot, word: str) -> None:
    await pilot.press("slash", *word)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("action", list(TRIAGE))
async def test_keys_after_search_act_on_the_opened_conversation(make_app, demo, action) -> None:
    keys, changed = TRIAGE[action]
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.conv_list.selected.id == demo.conv["chat"]
        chat_before = conv(demo, "chat")
        await open_from_search(pilot, "talla")  # the WhatsApp conversation
        assert screen.thread_row.id == demo.conv["whatsapp"]
        await pilot.press("escape")  # back to the list
        # The list cursor is on what the thread shows.
        assert screen.conv_list.selected.id == demo.conv["whatsapp"]
        await pilot.press(*keys)
        await settle(pilot)
        assert changed(conv(demo, "whatsapp"))
        chat = conv(demo, "chat")
        assert (chat.status, chat.assignee, chat.inbox, chat.unread) == (
            chat_before.status,
            chat_before.assignee,
            chat_before.inbox,
            chat_before.unread,
        )


async def test_keys_in_the_thread_after_search_act_on_it(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await open_from_search(pilot, "talla")
        await pilot.press("x")  # still reading: the thread has focus
        await settle(pilot)
        assert conv(demo, "whatsapp").status == "closed"
        assert conv(demo, "chat").status == "open"


async def test_search_opens_a_snoozed_conversation_in_the_snoozed_view(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await open_from_search(pilot, "call me")
        await pilot.press("escape")
        assert screen.entry.key == "snoozed"
        assert screen.conv_list.selected.id == demo.conv["snoozed"]
        await pilot.press("o")
        await settle(pilot)
        assert conv(demo, "snoozed").status == "open"
        assert conv(demo, "chat").status == "open"


async def test_search_leaves_a_view_that_does_not_hold_it(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("3")  # Mine: only the mail conversation
        await settle(pilot)
        await open_from_search(pilot, "talla")
        await pilot.press("escape")
        assert screen.conv_list.selected.id == demo.conv["whatsapp"]
        await pilot.press("x")
        await settle(pilot)
        assert conv(demo, "whatsapp").status == "closed"
        assert conv(demo, "mail").status == "open"


async def test_search_clears_a_filter_that_hides_it(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("f", *"ticket", "enter")  # All open, with a ticket: the sales one
        await settle(pilot)
        assert screen.conv_list.selected.id == demo.conv["sales"]
        await open_from_search(pilot, "talla")
        await pilot.press("escape")
        assert (screen.entry.key, screen.filter) == ("open", None)
        assert screen.conv_list.selected.id == demo.conv["whatsapp"]
        await pilot.press("x")
        await settle(pilot)
        assert conv(demo, "whatsapp").status == "closed"
        assert conv(demo, "sales").status == "open"


async def test_keys_after_a_notification_act_on_its_conversation(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.conv_list.selected.id == demo.conv["chat"]
        await pilot.press("b")
        assert isinstance(app.screen, NotificationsScreen)
        await pilot.press("enter")  # "Bo Chen assigned you: Order #1042 ..."
        await settle(pilot)
        assert screen.thread_row.id == demo.conv["mail"]
        await pilot.press("escape")
        assert screen.conv_list.selected.id == demo.conv["mail"]
        await pilot.press("x")
        await settle(pilot)
        assert conv(demo, "mail").status == "closed"
        assert conv(demo, "chat").status == "open"


async def test_a_picker_acts_on_the_conversation_it_was_opened_for(make_app, demo) -> None:
    """The list may move under an open picker (a live update): the choice still goes to
    the conversation the picker was opened for."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("m")
        assert isinstance(app.screen, PickerScreen)
        screen.conv_list.move_to(2)  # the cursor moves while the picker is open
        await pilot.press("enter")
        await settle(pilot)
        assert conv(demo, "chat").inbox == "Sales"
        assert conv(demo, "messenger").inbox == "Support"


async def test_an_inbox_view_is_titled_with_the_inbox_name(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("1")  # the Sales inbox
        await settle(pilot)
        screen = app.screen
        assert screen.current_view().label == "Sales"
        header = screen.list_header.text.plain
        assert header.startswith("Sales") and "019" not in header
        inbox_id = next(i.id for i in queries.inboxes(demo.ws) if i.name == "Sales")
        assert inbox_id not in text_of(app)
        await pilot.press("f", *"unread", "enter")  # a filter keeps the name
        await settle(pilot)
        assert screen.current_view().label.startswith("Sales · ")


async def test_a_key_right_after_j_acts_on_the_row_under_the_cursor(make_app, demo) -> None:
    """j paints the cursor move first and the thread on the next frame: whatever asks what
    the thread shows before that frame (every action does) gets it brought up to date."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        first = screen.conv_list.selected
        screen.conv_list.action_cursor_down()  # as `j` does, with no frame drawn since
        second = screen.conv_list.selected
        assert second.id != first.id
        assert screen.thread.conversation.id == first.id  # the thread has not caught up
        assert screen.target().id == second.id
        assert screen.thread.conversation.id == second.id  # ... and now it has
        await pilot.press("j")
        await settle(pilot)
        assert screen.thread.conversation.id == screen.conv_list.selected.id
