"""Triage keys: each runs a core command (checked in the database) and shows the result;
close/assign/snooze/move then put the cursor on the next conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.widgets import Input, Select
from tui_world import NOW, settle

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.screens.forms import TicketScreen
from unibox_tui.screens.pickers import PickerScreen, PromptScreen


def notes_for(demo, handle: str) -> list[queries.NotificationRow]:
    return queries.notifications(demo.ws, demo.agents[handle])


async def test_close_closes_and_moves_to_the_next(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("j")  # the mail conversation
        following = screen.conv_list.row_at(2).id
        await pilot.press("x")
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["mail"], access=EVERYTHING)
        assert row.status == "closed" and row.closed_at == NOW
        assert screen.conv_list.total == 6
        assert screen.conv_list.cursor == 1
        assert screen.conv_list.selected.id == following
        assert screen.thread_row.id == following
        assert screen.views.entry("closed").count == 2
        assert "Ana Lima closed this" in [
            m.body for m in queries.thread(demo.ws, demo.conv["mail"], access=EVERYTHING)
        ]


async def test_assign_picker_filters_as_you_type(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        labels = [c.label.plain for c in picker.shown]
        assert any("@chiara" in label and "away" in label for label in labels)
        assert any("team Billing" in label for label in labels)
        await pilot.press("b", "o")
        assert [c.value for c in picker.shown] == [("agent", "bo")]
        await pilot.press("enter")
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).assignee == "bo"
        assert notes_for(demo, "bo")[0].kind == "assigned"  # newest first
        # Still in "All open": the cursor stepped past it to the next conversation.
        assert app.screen.conv_list.cursor == 1


async def test_assign_a_team_and_unassign(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("a", *"team", "enter")
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).team == "Billing"
        # The cursor moved on to the mail conversation (assigned to ana).
        assert app.screen.conv_list.selected.id == demo.conv["mail"]
        await pilot.press("a", *"unassign", "enter")
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["mail"], access=EVERYTHING).assignee is None


async def test_a_long_choice_stays_on_one_line_in_the_picker(make_app, demo, text_of) -> None:
    """A wrapped team name read as two choices ("Europe  0 members" on a line of its own)."""
    long_name = "Second-level billing escalations and refunds team for Europe"
    cmd.create_team(demo.ws, long_name)
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        [line] = [ln for ln in text_of(app).splitlines() if "team Second-level" in ln]
        assert "…" in line and "Europe" not in text_of(app)


async def test_i_assigns_to_me_and_mine_counts_it(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        before = len(notes_for(demo, "ana"))
        await pilot.press("i")
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).assignee == "ana"
        assert app.screen.views.entry("mine").count == 2
        assert app.screen.conv_list.cursor == 1
        assert len(notes_for(demo, "ana")) == before  # nobody is told they took something


async def test_snooze_until_tomorrow_morning(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("down", "enter")
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING)
        assert row.status == "snoozed"
        assert row.snoozed_until == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
        assert app.screen.conv_list.total == 6
        assert app.screen.conv_list.selected.id == demo.conv["mail"]


async def test_snooze_custom_time_checks_the_text(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s", *"custom", "enter")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"soon", "enter")
        assert isinstance(app.screen, PromptScreen)  # refused with a hint, still open
        await pilot.press(*["backspace"] * 4, *"3h", "enter")
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING)
        assert row.status == "snoozed" and row.snoozed_until == NOW + timedelta(hours=3)


def typing(text: str) -> list[str]:
    """Keys for typing text into an Input (a space is the "space" key)."""
    return ["space" if ch == " " else ch for ch in text]


async def test_snooze_time_typed_straight_into_the_picker(make_app, demo) -> None:
    """The picker's filter reads what `conversations snooze --until` reads: the typed time
    is the first choice, and enter snoozes until then."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s", *typing("tomorrow 14:30"))
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert picker.shown[0].value == datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
        assert "Tue 03 Mar 14:30" in picker.shown[0].label.plain
        await pilot.press("enter")
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING)
        assert row.status == "snoozed"
        assert row.snoozed_until == datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
        await pilot.press("s", *"3h", "enter")  # the mail conversation is selected now
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["mail"], access=EVERYTHING)
        assert row.snoozed_until == NOW + timedelta(hours=3)


async def test_snooze_picker_shows_a_past_time_disabled(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s", *typing("2026-03-01 09:00"))
        picker = app.screen
        assert picker.shown[0].disabled and "in the past" in picker.shown[0].label.plain
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is picker  # nothing to choose: still open
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).status == "open"


async def test_snooze_custom_field_reads_cli_times_in_the_agents_zone(demo) -> None:
    """ "tomorrow 9:00" typed into the custom field, for an agent in Berlin the day before
    the clocks go forward: 9:00 summer time, 07:00 UTC."""
    from unibox_tui.app import UniboxApp
    from unibox_tui.config import Config

    before_spring = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    config = Config(path=demo.path.parent / "config.toml", agent="ana", timezone="Europe/Berlin")
    app = UniboxApp(demo.ws, config, now=lambda: before_spring)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("s", *"custom", "enter")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*typing("tomorrow 9:00"), "enter")
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING)
        assert row.status == "snoozed"
        assert row.snoozed_until == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
        # The presets are in the agent's zone too: "Tomorrow 9:00" is Berlin's morning.
        await pilot.press("s")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        tomorrow = next(c for c in picker.choices if c.search == "Tomorrow 9:00")
        assert tomorrow.value == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
        assert "Sun 29 Mar 09:00" in tomorrow.label.plain


async def test_reopen_from_the_closed_view(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("7", "o")
        await settle(pilot)
        assert (
            queries.conversation(demo.ws, demo.conv["closed"], access=EVERYTHING).status == "open"
        )
        assert app.screen.conv_list.total == 0


async def test_move_to_another_inbox(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        assert [c.value for c in app.screen.shown] == ["Sales"]
        await pilot.press("enter")
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).inbox == "Sales"
        assert app.screen.views.entry(f"inbox:{demo_inbox(demo, 'Sales')}").count == 2


def demo_inbox(demo, name: str) -> str:
    return next(i.id for i in queries.inboxes(demo.ws) if i.name == name)


async def test_ticket_create_with_fields(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "t")
        form = app.screen
        assert isinstance(form, TicketScreen)
        form.query_one("#priority", Select).value = "urgent"
        form.query_one("#owner", Select).value = "bo"
        form.query_one("#pipeline", Select).value = "Billing"
        await pilot.pause()
        form.query_one("#stage", Select).value = "Investigating"
        await pilot.press("ctrl+s")
        await settle(pilot)
        row = queries.conversation(demo.ws, demo.conv["mail"], access=EVERYTHING)
        ticket = queries.ticket(demo.ws, row.ticket_id)
        assert (ticket.title, ticket.pipeline, ticket.stage) == (
            "Order #1042 hasn't arrived",
            "Billing",
            "Investigating",
        )
        assert (ticket.priority, ticket.owner) == ("urgent", "bo")


async def test_ticket_opens_the_linked_one_and_updates_it(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("1", "t")  # Sales: the conversation with ticket #1
        await settle(pilot)
        assert "Ticket #1 · open" in text_of(app)
        app.screen.query_one("#stage", Select).value = "Waiting on us"
        await pilot.press("ctrl+s")
        await settle(pilot)
        ticket = queries.ticket(demo.ws, "1")
        assert ticket.stage == "Waiting on us" and ticket.priority == "high"


async def test_ticket_form_offers_the_workspace_pipelines_and_the_inbox_start(
    make_app, demo
) -> None:
    """The form lists the pipelines and stages of the workspace, and a new ticket starts
    where the conversation's inbox says."""
    cmd.set_inbox_pipeline(demo.ws, "Support", "Billing", "Investigating")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "t")
        form = app.screen
        assert isinstance(form, TicketScreen)
        pipeline, stage = form.query_one("#pipeline", Select), form.query_one("#stage", Select)
        assert (pipeline.value, stage.value) == ("Billing", "Investigating")
        assert [v for _, v in pipeline._options] == ["Support", "Billing"]
        pipeline.value = "Support"
        await pilot.pause()
        assert [v for _, v in stage._options] == [
            "New",
            "Waiting on contact",
            "Waiting on us",
            "Closed",
        ]
        assert stage.value == "New"


async def test_a_refused_command_says_why_and_changes_nothing(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("7", "x")  # closing a closed conversation: nothing to do
        await pilot.press("r", "ctrl+s")  # an empty reply is refused by the core
        await settle(pilot)
        assert "reply is empty" in text_of(app)
        kinds = [m.kind for m in queries.thread(demo.ws, demo.conv["closed"], access=EVERYTHING)]
        assert "outgoing" not in kinds


async def test_a_picker_answers_once_however_fast_enter_is_pressed(make_app, demo) -> None:
    """Two enters that arrive together (typed fast, or over a slow link in the browser app)
    answer the picker once; the second one dismissed it again and crashed the app."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        inbox = app.screen
        await pilot.press("a")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        await pilot.press("b", "o")
        # Both enters reach the picker before the first answer has taken it off the
        # screen (its handler runs twice in a row).
        for _ in range(2):
            picker.on_input_submitted(Input.Submitted(picker.query_one(Input), "bo"))
        await settle(pilot)
        assert app.is_running and app.screen is inbox  # the inbox was not dismissed too
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).assignee == "bo"
