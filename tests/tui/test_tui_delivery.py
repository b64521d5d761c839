"""`D` on a conversation with an undelivered reply: send it again or mark it as sent."""

from __future__ import annotations

from tui_world import NOW, settle

from unibox_tui.core import commands, outbox, queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.screens.pickers import PickerScreen


def _uncertain_reply(demo) -> str:  # type: ignore[no-untyped-def]
    """A reply on the mail conversation that an engine handed over and never heard back on."""
    mid = commands.reply(demo.ws, demo.conv["mail"], "Your refund is on its way.", actor="ana")
    [item] = [i for i in outbox.due(demo.ws, NOW.replace(year=NOW.year + 1)) if i.message_id == mid]
    assert outbox.claim(demo.ws, item.entry_id)
    assert outbox.handed_over(demo.ws, item.entry_id)
    outbox.mark_uncertain(demo.ws, item.entry_id, "the server did not answer in time")
    return mid


async def test_d_resends_an_uncertain_reply(make_app, demo, text_of) -> None:
    mid = _uncertain_reply(demo)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.screen.open_conversation(demo.conv["mail"])
        await settle(pilot)
        assert "delivery uncertain: the server did not answer in time" in text_of(app)
        await pilot.press("D")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        labels = [c.label.plain for c in picker.shown]
        assert labels == [
            "Send again (may not have arrived): Your refund is on its way.",
            "Mark as sent (it arrived): Your refund is on its way.",
        ]
        await pilot.press("enter")
        await settle(pilot)
    [reply] = [
        m for m in queries.thread(demo.ws, demo.conv["mail"], access=EVERYTHING) if m.id == mid
    ]
    assert (reply.delivery_state, reply.delivery_error) == ("queued", None)


async def test_d_marks_sent_and_says_when_nothing_is_undelivered(make_app, demo, text_of) -> None:
    mid = _uncertain_reply(demo)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.screen.open_conversation(demo.conv["mail"])
        await settle(pilot)
        await pilot.press("D", "down", "enter")
        await settle(pilot)
        [reply] = [
            m for m in queries.thread(demo.ws, demo.conv["mail"], access=EVERYTHING) if m.id == mid
        ]
        assert reply.delivery_state == "sent"
        await pilot.press("D")
        await settle(pilot)
        assert not isinstance(app.screen, PickerScreen)
