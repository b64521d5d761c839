"""App-wide: who I am, toasts and the notifications list, help, palette, keymap, themes,
the empty workspace."""

from __future__ import annotations

import asyncio
import re
import tomllib
from pathlib import Path

import pytest
from tui_world import NOW, ago, screen_text, settle
from waiting import until

from unibox_tui.app import UniboxApp, resolve_me
from unibox_tui.config import Config
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.core.errors import NotFound
from unibox_tui.screens.help import HelpScreen
from unibox_tui.screens.notifications import NotificationsScreen


def test_who_am_i(demo, tmp_path: Path) -> None:
    config = Config(path=tmp_path / "c.toml")
    assert resolve_me(demo.ws, config, "bo")[0].handle == "bo"
    assert resolve_me(demo.ws, config, None)[0].handle == "ana"  # workspace default_agent
    config.agent = "chiara"
    assert resolve_me(demo.ws, config, None) == (resolve_me(demo.ws, config, "chiara")[0], None)
    config.agent = "ghost"
    me, warning = resolve_me(demo.ws, config, None)
    assert me.handle == "ana" and "@ghost is not in this workspace" in warning
    with pytest.raises(NotFound):
        resolve_me(demo.ws, config, "ghost")


async def test_toasts_when_assigned_or_mentioned_by_someone_else(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        cmd.assign(demo.ws, demo.conv["chat"], "ana", actor="bo")
        cmd.comment(demo.ws, demo.conv["form"], "@ana can you take the demo?", actor="bo")
        await until(lambda: "Bo Chen mentioned you" in text_of(app), what="the mention toast")
        text = text_of(app)
        assert "Assigned to you" in text and "Bo Chen assigned you" in text
        assert "You were mentioned" in text


async def test_toast_for_a_new_conversation_in_a_watched_view(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        cmd.ingest(
            demo.ws,
            cmd.Incoming(demo.channels["chat"], "chat", "visitor-new", "Nia", "Hi! [b]x[/b]", NOW),
        )
        await until(lambda: "New conversation" in text_of(app), what="the new-conversation toast")
        assert "Nia: Hi! [b]x[/b] · in Unassigned" in text_of(app)
        # The toast comes from the poll after the note is written; the list's reload is
        # a worker of its own that a loaded machine may not have finished by then.
        await until(lambda: app.screen.conv_list.total == 8, what="the list counting it")
        # It is a notification like the others: listed, once, until read.
        [note] = [
            n
            for n in queries.notifications(demo.ws, demo.agents["ana"])
            if n.kind == "new_conversation"
        ]
        assert note.text == "Nia: Hi! [b]x[/b] · in Unassigned" and not note.read
        await pilot.press("b")
        assert isinstance(app.screen, NotificationsScreen)
        assert "+ new" in text_of(app) and "Nia: Hi! [b]x[/b] · in Unassigned" in text_of(app)


async def test_two_views_and_two_tuis_record_a_new_conversation_once(demo) -> None:
    # Both "unassigned" and "open" show it; ana's second TUI sees the same arrival.
    conv = cmd.ingest(
        demo.ws, cmd.Incoming(demo.channels["chat"], "chat", "visitor-2", "Oz", "Hello", NOW)
    ).conversation_id
    found = [(conv, "Oz: Hello · in Unassigned"), (conv, "Oz: Hello · in All open")]
    assert cmd.note_new_conversations(demo.ws, "ana", found) == 1
    assert cmd.note_new_conversations(demo.ws, "ana", found[1:]) == 0
    assert cmd.note_new_conversations(demo.ws, "bo", found) == 1  # bo watches too
    kinds = [n.kind for n in queries.notifications(demo.ws, demo.agents["ana"])]
    assert kinds.count("new_conversation") == 1


async def _rings(app: UniboxApp, demo, conversation: str) -> int:  # type: ignore[no-untyped-def]
    rings = 0

    def ring() -> None:
        nonlocal rings
        rings += 1

    app.bell = ring  # type: ignore[method-assign]  # Textual's bell writes to the terminal
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        cmd.assign(demo.ws, conversation, "ana", actor="bo")
        await until(lambda: "Assigned to you" in screen_text(app), what="the assignment toast")
    return rings


async def test_the_bell_rings_with_a_toast_when_the_agent_asked_for_it(
    make_app, demo, config
) -> None:
    assert await _rings(make_app(), demo, demo.conv["form"]) == 0  # off by default
    config.bell = True
    assert await _rings(make_app(), demo, demo.conv["chat"]) == 1


async def test_notifications_list_opens_and_marks_read(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, NotificationsScreen)
        assert "Bo Chen assigned you: Order #1042 hasn't arrived" in text_of(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.thread_row.id == demo.conv["mail"]
        assert queries.notifications(demo.ws, demo.agents["ana"], unread_only=True) == []


async def test_help_lists_every_binding_of_the_screen(make_app, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 120)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app)
        for words in (
            "Reply",
            "Assign to me",
            "Snooze…",
            "Jump to view 9",
            "Insert snippet…",
            "assign_me",
            "toggle_unread",
            "send",
            "cycle_panes",
        ):
            assert words in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_from_config_remaps_a_binding(demo, tmp_path: Path, text_of) -> None:
    config = Config(path=tmp_path / "c.toml", keymap={"close": "e", "nonsense": "z"})
    app = UniboxApp(demo.ws, config, now=lambda: NOW)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert "unknown ids: nonsense" in text_of(app)
        await pilot.press("x")
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).status == "open"
        await pilot.press("e")
        # The close runs through the command queue: wait for it (it raced on a loaded box).
        await until(
            lambda: (
                queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).status
                == "closed"
            ),
            what="e closes the conversation",
        )
        await pilot.press("question_mark")
        assert re.search(r"│? e\s+Close ", text_of(app))


async def test_palette_offers_every_action_by_name(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in (
            "Reply",
            "Internal comment",
            "Assign…",
            "Assign to me",
            "Close",
            "Snooze…",
            "Ticket…",
            "Move to inbox…",
            "Search",
            "Contact sidebar",
            "Theme",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"assign to me")
        # The palette searches in the background: wait until it offers the command.
        await until(lambda: "Assign to me" in screen_text(app), what="the palette offers it")
        await pilot.press("enter")
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).assignee == "ana"


async def test_theme_choice_is_remembered_in_the_config(make_app, config) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.theme = "nord"
        await pilot.pause()
    saved = tomllib.loads(config.path.read_text())
    assert saved["ui"]["theme"] == "nord" and saved["agent"]["handle"] == "ana"
    app = UniboxApp(app.ws, config, now=lambda: NOW)
    assert app.theme == "nord"


async def test_empty_workspace(tmp_path: Path, text_of) -> None:
    ws = open_workspace(tmp_path / "empty.db")
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml"), now=lambda: NOW)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        assert "Welcome to Unibox" in text_of(app)  # the setup screen; esc: later
        await pilot.press("escape")
        await settle(pilot)
        text = text_of(app)
        assert "No conversations yet" in text and "Mine" not in text
        await pilot.press("r")
        await settle(pilot)
        assert "No conversation selected." in text_of(app)
        await pilot.press("x", "a", "j", "G", "enter", "1", "slash", "a")
        await settle(pilot)
        assert app.screen.hits == []
    ws.close()


async def test_quit(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


def test_ago_helper_is_in_the_past() -> None:
    assert ago(minutes=1) < NOW


async def test_pane_borders_and_the_blurred_cursor_show_in_every_theme(make_app) -> None:
    """In light themes Textual's panel-lighten-* are lighter than the background: the pane
    borders vanished in solarized-light. Ours stand out from the background in every theme."""
    from textual.color import Color

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for name in sorted(app.available_themes):
            if name.startswith("ansi-"):
                continue  # the terminal's own colours: no RGB to compare
            app.theme = name
            variables = app.get_css_variables()
            background = Color.parse(variables["background"])
            for ours in ("pane-border", "cursor-blurred"):
                color = Color.parse(variables[ours])
                difference = abs(color.brightness - background.brightness)
                assert difference > 0.04, (name, ours, variables[ours], variables["background"])


async def test_a_worker_still_running_when_the_app_quits_does_not_crash_the_exit(make_app) -> None:
    """Found in CI: the inbox's counts worker (a thread) reached `self.app` while the app was
    closing; from a thread Textual finds the app by walking the DOM, which the closing app had
    detached (NoActiveAppError). A screen keeps its app, and what a late worker would show is
    dropped once the app has ended."""
    app = make_app()
    shown: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        screen = app.screen
        await asyncio.to_thread(screen.from_worker, shown.append, "while running")
        assert shown == ["while running"]  # a worker's result reaches the UI thread
    assert await asyncio.to_thread(lambda: screen.uapp) is app
    await asyncio.to_thread(screen.from_worker, shown.append, "after the exit")
    assert shown == ["while running"]


async def test_the_sidebar_shows_what_it_was_given_before_it_had_its_parts(demo) -> None:
    """A chat visitor's signal can reach the sidebar while the inbox is being put together:
    it raised NoMatches ('#contact-details') then; now it shows the contact once composed."""
    from textual.app import App
    from textual.widgets import Static

    from unibox_tui.widgets.contact_sidebar import ContactSidebar

    row = queries.list_conversations(demo.ws, queries.view("open", access=EVERYTHING)).rows[0]
    detail = queries.contact(demo.ws, row.contact_id, access=EVERYTHING)
    sidebar = ContactSidebar(lambda: NOW)
    sidebar.show(detail, row.id)  # not composed yet

    class Host(App):
        def get_css_variables(self) -> dict[str, str]:
            return {**super().get_css_variables(), "pane-border": "#888888"}

        def compose(self):
            yield sidebar

    async with Host().run_test() as pilot:
        await pilot.pause()
        shown = str(sidebar.query_one("#contact-details", Static).render())
        assert detail.name and detail.name in shown
