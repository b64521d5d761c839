"""The first start on an empty workspace (setup screen, then the e-mail channel offer) and
the settings screen (`,`): what admins change, what agents are refused, all through Pilot."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, OptionList, Select, TabbedContent, TextArea
from tui_world import NOW, settle

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core import admin_queries as aq
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.db import open_workspace
from unibox_tui.screens.settings import ConfirmScreen, FieldsScreen, SettingsScreen
from unibox_tui.screens.setup import EmailChannelScreen, SetupScreen


async def until(pilot, predicate, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for a worker's effect (a poll with a deadline, never a fixed sleep)."""
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()


async def fill(pilot, screen, **values: str) -> None:  # type: ignore[no-untyped-def]
    for name, value in values.items():
        widget = screen.query_one(f"#{name}")
        if isinstance(widget, Input):
            widget.value = value
        elif isinstance(widget, TextArea):
            widget.text = value
        elif isinstance(widget, Select):
            widget.value = value
        await pilot.pause()  # each field's Changed is handled before the next is set


@pytest.fixture
def empty(tmp_path: Path):  # type: ignore[no-untyped-def]
    ws = open_workspace(tmp_path / "empty.db")
    yield ws
    ws.close()


async def test_first_start_makes_the_first_admin_then_offers_the_email_channel(
    empty, tmp_path: Path, text_of
) -> None:
    app = UniboxApp(empty, Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        await settle(pilot)
        setup = app.screen
        assert isinstance(setup, SetupScreen) and "Welcome to Unibox" in text_of(app)
        await pilot.press(*"Ana Lima")
        assert setup.query_one("#handle", Input).value == "ana"  # made from the name
        await pilot.press("ctrl+s")  # no e-mail: it is optional
        await settle(pilot)
        await until(pilot, lambda: isinstance(app.screen, EmailChannelScreen))
        [ana] = aq.agents(empty)
        assert (ana.name, ana.handle, ana.role) == ("Ana Lima", "ana", "admin")
        assert [(i.name, i.access) for i in aq.inboxes(empty)] == [("Support", "everyone")]
        assert app.me_id == ana.id
        await pilot.press("escape")  # skip the channel
        await settle(pilot)
        await until(pilot, lambda: "Mine" in text_of(app))  # the inbox knows who we are


async def test_setup_shows_a_refusal_in_the_form(empty, tmp_path: Path, text_of) -> None:
    app = UniboxApp(empty, Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await fill(pilot, app.screen, name="Ana", handle="a b", email="ana@acme.example")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await until(pilot, lambda: "may hold only" in text_of(app))
        assert isinstance(app.screen, SetupScreen) and not aq.workspace_has_agents(empty)


async def test_the_email_channel_form_adds_the_channel(
    empty, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the connection test (the real one is `channel add email`'s, against Dovecot):
    the form's fields become the channel's settings; the password stays in the env var."""
    monkeypatch.setenv("SUPPORT_PW", "s3cret")
    cmd.init_workspace(empty, "Ana Lima", "ana", None)
    app = UniboxApp(empty, Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    async with app.run_test(size=(100, 48)) as pilot:
        await settle(pilot)
        app.push_screen(EmailChannelScreen(["Support"]))
        await settle(pilot)
        form = app.screen
        await fill(
            pilot,
            form,
            address="help@acme.example",
            imap_host="imap.acme.example",
            password_env="SUPPORT_PW",
            security="starttls",
        )
        form.query_one("#check", Checkbox).value = False
        await pilot.press("ctrl+s")
        await settle(pilot)
        await until(pilot, lambda: not isinstance(app.screen, EmailChannelScreen))
    [channel] = queries.channels(empty)
    assert (channel.address, channel.inbox_name, channel.status) == (
        "help@acme.example",
        "Support",
        "not checked",
    )
    assert channel.settings["password_source"] == "env:SUPPORT_PW"
    assert channel.settings["security"] == "starttls"
    assert "s3cret" not in str(channel.settings)


async def test_settings_admin_adds_an_agent_a_team_and_disables_a_channel(
    make_app, demo, text_of
) -> None:
    cmd.set_agent(demo.ws, "ana", role="admin")
    app = make_app()
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot)
        settings = app.screen
        assert isinstance(settings, SettingsScreen)
        assert "@ana" in text_of(app) and "admin" in text_of(app)
        # Add an agent.
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, FieldsScreen)
        await fill(pilot, form, name="Dee Ray", handle="dee", email="dee@acme.example")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await until(pilot, lambda: any(a.handle == "dee" for a in aq.agents(demo.ws)))
        await until(pilot, lambda: "@dee" in text_of(app))
        # Next section: teams; add one with members.
        await pilot.press("right")
        assert settings.query_one(TabbedContent).active == "teams"
        await pilot.press("n")
        await fill(pilot, app.screen, name="Night shift", members="@dee bo")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await until(pilot, lambda: any(t.name == "Night shift" for t in aq.teams(demo.ws)))
        night = next(t for t in aq.teams(demo.ws) if t.name == "Night shift")
        assert night.members == ["bo", "dee"]
        # Channels: space disables the highlighted one.
        settings.query_one(TabbedContent).active = "channels"
        await pilot.pause()
        first = queries.channels(demo.ws)[0]
        settings.query_one("#list-channels", OptionList).highlighted = 0
        await pilot.press("space")
        await settle(pilot)
        await until(pilot, lambda: not queries.channels(demo.ws)[0].enabled)
        assert queries.channels(demo.ws)[0].id == first.id
        # Deactivate Dee (confirmed).
        settings.query_one(TabbedContent).active = "agents"
        await pilot.pause()
        rows = settings.data.agents
        settings.query_one("#list-agents", OptionList).highlighted = next(
            i for i, a in enumerate(rows) if a.handle == "dee"
        )
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        await until(
            pilot, lambda: not next(a for a in aq.agents(demo.ws) if a.handle == "dee").active
        )


async def test_j_and_k_move_in_the_settings_lists_as_in_the_inbox(make_app, demo) -> None:
    cmd.set_agent(demo.ws, "ana", role="admin")
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot)
        agents = app.screen.current_list()
        start = agents.highlighted or 0
        await pilot.press("j", "j")
        assert agents.highlighted == start + 2
        await pilot.press("k")
        assert agents.highlighted == start + 1


async def test_settings_inbox_form_saves_name_access_and_ticket_start(make_app, demo) -> None:
    cmd.set_agent(demo.ws, "ana", role="admin")
    app = make_app()
    async with app.run_test(size=(140, 48), notifications=True) as pilot:
        await settle(pilot)
        app.action_settings("inboxes")
        await settle(pilot)
        settings = app.screen
        rows = settings.data.inboxes
        settings.query_one("#list-inboxes", OptionList).highlighted = next(
            i for i, row in enumerate(rows) if row.name == "Sales"
        )
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, FieldsScreen)
        await fill(
            pilot,
            form,
            name="Deals",
            access="listed",
            agents="@bo",
            pipeline="Billing",
            stage="Investigating",
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        await until(pilot, lambda: any(i.name == "Deals" for i in aq.inboxes(demo.ws)))
        deals = next(i for i in aq.inboxes(demo.ws) if i.name == "Deals")
        assert (deals.access, deals.agents, deals.default_pipeline, deals.default_stage) == (
            "listed",
            ["bo"],
            "Billing",
            "Investigating",
        )


async def test_settings_refuses_admin_actions_to_an_agent_but_not_snippets(
    make_app, demo, text_of
) -> None:
    app = make_app()  # Ana is an agent in this workspace
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot)
        settings = app.screen
        before = demo.ws.change_seq()
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is settings  # no form: refused at once
        assert "Only an admin can add agents; you are @ana (an agent)." in text_of(app)
        assert demo.ws.change_seq() == before
        # Snippets are everyone's.
        settings.query_one(TabbedContent).active = "snippets"
        await pilot.pause()
        await pilot.press("n")
        assert isinstance(app.screen, FieldsScreen)
        await fill(pilot, app.screen, name="eta", body="It ships within {{days}} days.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await until(pilot, lambda: any(s.name == "eta" for s in queries.snippets(demo.ws)))


async def test_the_palette_offers_each_settings_section(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for label in (
            "Agents",
            "Teams",
            "Inboxes & access",
            "Snippets",
            "Knowledge base",
            "Pipelines",
            "Channels",
        ):
            assert f"Settings: {label}" in titles
        pipelines = next(
            c for c in app.get_system_commands(app.screen) if c.title == "Settings: Pipelines"
        )
        pipelines.callback()
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        assert app.screen.query_one(TabbedContent).active == "pipelines"


async def test_settings_routing_section_saves_rules_pool_and_hours(make_app, demo) -> None:
    cmd.set_agent(demo.ws, "ana", role="admin")
    app = make_app()
    async with app.run_test(size=(140, 48), notifications=True) as pilot:
        await settle(pilot)
        app.action_settings("routing")
        await settle(pilot)
        settings = app.screen
        rows = settings.data.routing
        index = next(i for i, v in enumerate(rows) if v.channel is None)
        inbox = rows[index].inbox
        settings.query_one("#list-routing", OptionList).highlighted = index
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, FieldsScreen)
        await fill(
            pilot,
            form,
            rules="owner,round-robin",
            teams="Billing",
            cap="4",
            tz="Europe/Lisbon",
            week="mon-fri 09:00-17:00",
            holidays="2026-12-25",
        )
        await pilot.press("ctrl+s")
        await settle(pilot)

        def saved() -> bool:
            return cmd.show_routing(demo.ws, inbox)[0].cap == 4

        await until(pilot, saved)
        view = cmd.show_routing(demo.ws, inbox)[0]
        assert (view.rules, view.teams, view.only_available) == (
            ["owner", "round_robin"],
            ["Billing"],
            True,
        )
        await until(pilot, lambda: cmd.show_routing(demo.ws, inbox)[0].hours != {})
        assert cmd.show_routing(demo.ws, inbox)[0].hours_text == (
            "Europe/Lisbon: mon 09:00-17:00, tue 09:00-17:00, wed 09:00-17:00, "
            "thu 09:00-17:00, fri 09:00-17:00; holidays 2026-12-25"
        )
