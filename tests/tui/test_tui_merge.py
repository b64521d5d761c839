"""“Merge into…” (M): the conversation on screen merges into one the agent picks, the
contact's own conversations offered first; the thread then shows the merged conversation."""

from __future__ import annotations

from tui_world import NOW, ago, incoming, settle

from unibox_tui.core import clock, queries
from unibox_tui.core import commands as cmd
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.errors import NotFound
from unibox_tui.screens.pickers import PickerScreen


def age_at_now(demo, conversation_id: str) -> str:
    row = queries.conversation(demo.ws, conversation_id, access=EVERYTHING)
    return clock.age(row.last_message_at, NOW)


async def test_merge_into_the_contacts_other_conversation(make_app, demo) -> None:
    second = cmd.ingest(
        demo.ws,
        incoming(
            demo.channels["email"],
            "email",
            "marta@example.com",
            "Marta Silva",
            "Also the invoice has the wrong address.",
            ago(minutes=1),
            subject="Invoice address wrong",
        ),
    ).conversation_id
    mail = demo.conv["mail"]
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.open_conversation(second)
        await settle(pilot)
        assert screen.thread_row.id == second
        await pilot.press("M")
        picker = app.screen
        assert isinstance(picker, PickerScreen) and picker.id == "merge-picker"
        # Marta's other conversation first, marked; then the latest of every view.
        assert picker.shown[0].value == mail
        assert picker.shown[0].label.plain.startswith("● Order #1042")
        # Ages are the app's clock's, not the wall clock's (a snapshot aged with real time).
        assert picker.shown[0].label.plain.endswith(f"· {age_at_now(demo, mail)}")
        assert second not in [c.value for c in picker.shown]
        await pilot.press(*"kenji")  # typing filters by contact, subject, inbox or id
        assert [c.value for c in picker.shown] == [demo.conv["messenger"]]
        for _ in "kenji":
            await pilot.press("backspace")
        await pilot.press("enter")
        await settle(pilot)
        # The thread shows the conversation both are in now, and a toast says what happened.
        assert screen.thread_row.id == mail
        assert screen.conv_list.selected.id == mail
        bodies = [m.body for m in queries.thread(demo.ws, mail, access=EVERYTHING)]
        assert "Also the invoice has the wrong address." in bodies
        assert bodies[-1].startswith("Ana Lima merged “Invoice address wrong” (1 message)")
        toasts = [n.message for n in app._notifications]
        assert "Merged “Invoice address wrong” into this conversation (1 message)." in toasts
        assert queries.resolve_conversation(demo.ws, second) == mail
        try:
            queries.conversation(demo.ws, second, access=EVERYTHING)
            raise AssertionError("the merged conversation is still there")
        except NotFound:
            pass
        assert second not in {screen.conv_list.row_at(i).id for i in range(screen.conv_list.total)}
    assert NOW  # the world's clock: the merge ran at the app's now


async def test_merge_picker_takes_a_pasted_id_and_esc_changes_nothing(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.open_conversation(demo.conv["chat"])
        await settle(pilot)
        seq = demo.ws.change_seq()
        await pilot.press("M")
        picker = app.screen
        closed = demo.conv["closed"]  # not among the latest open ones shown: found by its id
        picker.query_one("Input").value = closed
        await pilot.pause()
        assert picker.shown[0].value == closed
        assert picker.shown[0].label.plain.endswith(f"· {age_at_now(demo, closed)}")
        await pilot.press("escape")
        await settle(pilot)
        assert demo.ws.change_seq() == seq
        assert screen.thread_row.id == demo.conv["chat"]
