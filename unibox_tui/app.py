"""The Textual app: who the agent is, the keymap, the theme, and the live-update loop.

Live updates: every POLL_SECONDS the app reads `ws.change_seq()` (one indexed row). When it
moved, the inbox refreshes what is visible, and the app toasts what concerns the agent:
notifications written for them (assigned, mentioned, and new conversations in the views
they watch, config `[ui] watch`, which core's `note_watched_arrivals` records when the app
tells it that conversations arrived). `poll_changes` also runs right after each command.
"""

from __future__ import annotations

import importlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.color import Color
from textual.message import Message
from textual.screen import Screen

from . import actions
from .config import Config
from .core import clock, queries
from .core.access import Access
from .core.admin_queries import workspace_has_agents
from .core.db import Workspace
from .core.errors import ConfigError, UniboxError
from .core.me import current_agent
from .core.queries import AgentRow, View
from .core.text import one_line
from .gc_pacing import IdleCollector
from .screens.commanding import CommandQueue
from .screens.help import HelpScreen
from .screens.inbox import InboxScreen
from .screens.notifications import NotificationsScreen

if TYPE_CHECKING:
    from .screens.setup import SetupDone

POLL_SECONDS = 0.5
QUIT_CONFIRM_SECONDS = 5.0  # a second quit key within this quits despite unsent drafts
SIMULATE_SECONDS = (2.0, 5.0)  # a new customer message every few seconds in `unibox demo`
TOAST_TITLES = {
    "assigned": "Assigned to you",
    "mention": "You were mentioned",
    "new_conversation": "New conversation",
}


def styles_dir() -> Path:
    """The .tcss folder: inside the installed package (the wheel ships styles/ there), else
    the repository's top-level styles/ (an editable checkout)."""
    import unibox_tui

    packaged = Path(unibox_tui.__file__).parent / "styles"
    return packaged if packaged.is_dir() else Path(unibox_tui.__file__).parent.parent / "styles"


def resolve_me(ws: Workspace, config: Config, me: str | None) -> tuple[AgentRow | None, str | None]:
    """The agent whose inbox this is (core.me has the rule) and a warning line, if any."""
    return current_agent(ws, me, config.agent, guess_first=True)


def desktop_notification(kind: str, title: str, text: str) -> str:
    """The terminal escape that raises a desktop notification (config `[ui] desktop`), with
    the text cleaned: customer text must not end the sequence or start another (no control
    characters; `;` separates OSC 777's fields)."""
    if kind == "off":
        return ""
    title, text = one_line(title, 80).replace(";", ","), one_line(text, 200).replace(";", ",")
    if kind == "osc777":
        return f"\x1b]777;notify;{title};{text}\x1b\\"
    return f"\x1b]9;{title}: {text}\x1b\\"


class UniboxApp(App[None]):
    TITLE = "Unibox"
    CSS_PATH = [str(styles_dir() / "unibox.tcss")]
    BINDINGS = actions.bindings(actions.APP)

    def __init__(
        self,
        ws: Workspace,
        config: Config,
        *,
        me: str | None = None,
        simulate: bool = False,
        engine: bool = False,
        now: Callable[[], datetime] | None = None,
        hub: Any = None,
    ) -> None:
        """`engine`: run the channel engine (sync, push, outbox delivery, snooze wake-ups)
        on its own thread while the app runs, as `unibox` does; tests leave it off.
        `hub`: the sync/client.HubClient whose cache `ws` is (the hub runs the channels)."""
        super().__init__()
        self.team: Any = None
        if hub is not None:
            from .screens.teamlink import TeamLink

            self.team = TeamLink(self, hub)
            me = me or hub.agent["id"]
            engine = False
        self.run_engine = engine
        self.engine: Any = None
        self.ws = ws
        self.config = config
        self.now: Callable[[], datetime] = now or clock.utcnow
        self.me_row, self._me_warning = resolve_me(ws, config, me)
        self.simulate = simulate
        self.watched: list[View] = []
        self._warnings: list[str] = [self._me_warning] if self._me_warning else []
        unknown = actions.check_keymap(config.keymap)
        if unknown:
            self._warnings.append(f"config [keymap] has unknown ids: {', '.join(unknown)}")
        self.set_keymap({k: v for k, v in config.keymap.items() if k in actions.SPECS})
        if config.theme in self.available_themes:
            self.theme = config.theme
        else:
            self._warnings.append(f"unknown theme {config.theme!r}; using {self.theme}")
        self.seen_seq = 0
        self.notes_seq = 0
        self._access: Access | None = None
        self._access_seq = -1
        self.seen_rid = 0
        self._has_conversations: bool | None = None
        self._rng = random.Random()
        self.collector = IdleCollector()
        self.commands = CommandQueue(self)  # every write, off the UI thread and in order
        self._warmed = False
        self.simulate_every = SIMULATE_SECONDS
        self.demo_delivery = False
        self._watch_lock = threading.Lock()
        self._quit_asked: float | None = None

    @property
    def me_id(self) -> str | None:
        return self.me_row.id if self.me_row else None

    @property
    def access(self) -> Access:
        """What the agent may read and act in (core/access.py), fresh as of the last change
        the app saw: a grant or a revoke shows at the next poll."""
        if self._access is None or self._access_seq != self.seen_seq:
            self._access = queries.reader(self.ws, self.me_id)
            self._access_seq = self.seen_seq
        return self._access

    @property
    def tz(self) -> tzinfo | None:
        """The agent's zone for typed times (config `[agent] timezone`), None for local."""
        try:
            return self.config.tz
        except UniboxError:
            return None

    # ------------------------------------------------------------------ start

    def get_css_variables(self) -> dict[str, str]:
        """The theme's variables plus two of ours: `$pane-border` (the lines between the
        panes) and `$cursor-blurred` (the cursor of a pane without focus). Textual's
        `panel-lighten-*` are lighter than the background in a light theme: in
        solarized-light the pane borders vanished and only the focused pane's cursor showed.
        There they are the foreground blended into the background instead."""
        variables = super().get_css_variables()
        # The ANSI themes draw with the terminal's own colours: nothing to blend there.
        if self.current_theme.dark or variables["background"].startswith("ansi"):
            ours = {
                "pane-border": variables["panel-lighten-2"],
                "cursor-blurred": variables["panel-lighten-1"],
            }
        else:
            background = Color.parse(variables["background"])
            foreground = Color.parse(variables["foreground"])
            ours = {
                "pane-border": background.blend(foreground, 0.35).hex,
                "cursor-blurred": background.blend(foreground, 0.12).hex,
            }
        variables.update(ours)
        self.theme_variables = variables
        return variables

    def on_mount(self) -> None:
        if self.is_web and os.environ.get("UNIBOX_WEB_APP"):  # a tab of `unibox hub --web`
            from .web_child import exit_with_parent

            exit_with_parent(self)
        self.seen_seq = self.notes_seq = self.ws.change_seq()
        with self.ws.read() as conn:
            self.seen_rid = queries.max_conversation_rid(conn)
        for key in self.config.watch:
            try:
                self.watched.append(queries.view(key, self.me_id, self.ws, access=self.access))
            except UniboxError as e:
                self._warnings.append(f"config [ui] watch: {e}")
        self.push_screen(InboxScreen())
        if not workspace_has_agents(self.ws):  # one row at most: cheap on the UI thread
            from .screens.setup import SetupScreen  # only on a first start

            self.push_screen(SetupScreen(), self._setup_done)
        for warning in self._warnings:
            self.notify(warning, severity="warning", markup=False, timeout=8)
        self.set_interval(POLL_SECONDS, self._tick)
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.call_after_refresh(self.collector.start)

        # A demo workspace's channels have no server: the app delivers their replies, with
        # or without the simulated customers (`unibox demo --quiet` stops only those). What
        # was queued before the app started goes with the warm-up: delivering loads the ORM
        # (~300 ms of CPU), which on a thread at mount held the GIL against the first frame.
        self.demo_delivery = self.ws.setting("demo") is not None
        if self.simulate:
            self._schedule_simulation()
        if self.run_engine:
            # After the first frame: importing the engine (~450 ms of CPU: the ORM, the
            # channels) on a thread at mount held the GIL against that frame.
            self.call_after_refresh(self._start_engine)

    @work(thread=True, group="engine", exit_on_error=False)
    def _start_engine(self) -> None:
        """Start the engine off the UI thread. If `unibox sync` already runs on this
        workspace, that engine delivers: say so and carry on."""
        from .engine import BackgroundEngine

        # New mail shows at once, not at the next poll (up to POLL_SECONDS later).
        engine = BackgroundEngine(self.ws, on_stored=self.changed_elsewhere)
        engine.start()
        if engine.error is not None:
            self.call_from_thread(
                self.notify,
                f"Channels are not synced by this window: {engine.error}",
                severity="warning",
                markup=False,
                timeout=8,
            )
        else:
            self.engine = engine

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Load the ORM and open the write connection after the first frame, off the UI
        thread, so start-up paints without them and the first action does not wait."""
        import unibox_tui.core.commands.conversations  # noqa: F401

        from .screens.inbox import KEY_MODULES

        for name in KEY_MODULES:
            importlib.import_module(name)
        self.ws.engine  # noqa: B018
        if self.demo_delivery:
            self._deliver_demo()

    def ws_has_conversations(self) -> bool:
        if self._has_conversations is None:
            with self.ws.read() as conn:
                self._has_conversations = queries.max_conversation_rid(conn) > 0
        return self._has_conversations

    def on_unmount(self) -> None:
        self.commands.finish()  # what the agent did last (a draft, a reply) is written
        self.collector.stop()
        if self.engine is not None:
            self.engine.stop()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.collector.input()
        await super().on_event(event)

    # ------------------------------------------------------------------ live updates

    def _tick(self) -> None:
        if not self._warmed and self.collector.idle():
            # Load the ORM at the first pause: a background import competes with the UI
            # for the GIL, which the agent would feel as slow keys if they were typing.
            self._warmed = True
            self._warm_up()
        self.poll_changes()
        if self.team is not None:
            self._team_tick()
        self.collector.tick()

    class Changed(Message):
        """The workspace changed on another thread (the engine stored mail, a hub pull
        landed): poll now."""

    def changed_elsewhere(self) -> None:
        """Thread-safe: ask the UI thread to look for changes now."""
        self.post_message(self.Changed())

    def on_unibox_app_changed(self, _message: Changed) -> None:
        self.poll_changes()

    def refresh_headers(self) -> None:
        """Redraw the pane headers (hub state, who is viewing or typing)."""
        for screen in self.screen_stack:
            if isinstance(screen, InboxScreen) and screen.is_mounted:
                screen.refresh_headers()

    def presence_of(self, agent_id: str) -> str | None:
        """online | away | offline on the hub; None embedded (no one else to be online)."""
        return None if self.team is None else self.team.presence(agent_id)

    def action_team(self) -> None:
        from .screens.team import TeamScreen

        self.push_screen(TeamScreen())

    def action_chatflows(self) -> None:
        from .screens.chatflows import ChatflowsScreen

        self.push_screen(ChatflowsScreen())

    def agent_names(self) -> dict[str, str]:
        """Agent id -> display name, as of the last change the app saw."""
        if getattr(self, "_names_seq", None) != self.seen_seq:
            self._names = {a.id: a.name or f"@{a.handle}" for a in queries.agents(self.ws)}
            self._names_seq = self.seen_seq
        return self._names

    def _team_tick(self) -> None:
        """Keep saying which thread the agent views; let teammates' signals expire."""
        screen = self.screen
        if isinstance(screen, InboxScreen) and screen.thread_row is not None:
            self.team.viewing(screen.thread_row.id)
        if self.team.expire():  # redraw only when a signal ran out (new ones redraw themselves)
            self.refresh_headers()

    def poll_changes(self) -> None:
        seq = self.ws.change_seq()
        if seq == self.seen_seq:
            return
        # Which conversations changed since the last poll (a bounded scan of the seq
        # indexes): the screens redraw those rows and that thread, not every list page.
        with self.ws.read() as conn:
            changed = queries.changed_conversations(conn, self.seen_seq)
        self.seen_seq = seq
        self._has_conversations = None
        if self.me_id:
            for note in queries.notifications_since(self.ws, self.me_id, self.notes_seq):
                self.toast(TOAST_TITLES.get(note.kind, "Notification"), note.summary)
        self.notes_seq = seq
        if self.demo_delivery:
            self._deliver_demo_replies()  # a reply may have just been queued
        self._new_conversations()
        for screen in self.screen_stack:
            if isinstance(screen, InboxScreen):
                screen.data_changed(changed)

    @work(thread=True, group="notes", exit_on_error=False)
    def _new_conversations(self) -> None:
        """New conversations in the views the agent watches: core decides and records them
        as notifications (toasted by the next poll, which runs at once); without an agent
        they are only toasted. One at a time, so each arrival is looked at once."""
        from .core import commands as cmd

        with self._watch_lock:
            try:
                arrivals = cmd.note_watched_arrivals(
                    self.ws, self.me_id, self.watched, self.seen_rid
                )
            except UniboxError as e:
                self.call_from_thread(self.notify, str(e), severity="error", markup=False)
                return
            self.seen_rid = arrivals.cursor
        if not self.me_id:
            for text in arrivals.found.values():
                self.call_from_thread(self.toast, TOAST_TITLES["new_conversation"], text)
        elif arrivals.noted:
            self.call_from_thread(self.poll_changes)  # toast them now, not a poll later

    def toast(self, title: str, text: str) -> None:
        """A notification toast. Its text quotes customers, so it is cleaned and never
        parsed as markup; the bell rings if the agent asked for it."""
        self.notify(one_line(text, 300), title=one_line(title, 80), markup=False, timeout=6)
        if self.config.bell:
            self.bell()
        sequence = desktop_notification(self.config.desktop, title, text)
        if sequence and self._driver is not None:
            self._driver.write(sequence)

    @work(thread=True, group="demo-delivery", exit_on_error=False)
    def _deliver_demo_replies(self) -> None:
        self._deliver_demo()

    def _deliver_demo(self) -> None:
        """Mark the replies queued on demo channels sent (on a worker thread)."""
        from .core import demo

        if demo.deliver_replies(self.ws, self.now()):
            self.call_from_thread(self.poll_changes)  # show them sent now, not a poll later

    def _schedule_simulation(self) -> None:
        self.set_timer(self._rng.uniform(*self.simulate_every), self._simulate_step)

    @work(thread=True, group="simulate", exit_on_error=False)
    def _simulate_step(self) -> None:
        """One message of the demo's customer stream, written through the ingest command
        by core.demo; the poll then shows it like any other change."""
        from .core import demo

        if not self.simulate:  # stopped since this step was scheduled
            return
        step = getattr(demo, "simulate_step", None)
        if step is None:
            self.call_from_thread(
                self.notify, "the live demo stream is not in this build", markup=False
            )
            return
        try:
            step(self.ws, self._rng, self.now())
        finally:
            self.call_from_thread(self._schedule_simulation)

    # ------------------------------------------------------------------ app actions

    async def action_quit(self) -> None:
        """Quit (`q`, `ctrl+q`); with unsent drafts, only when asked twice. The drafts are
        kept in the workspace either way: this says they are there."""
        inbox = next((s for s in self.screen_stack if isinstance(s, InboxScreen)), None)
        count = inbox.unsent_drafts() if inbox is not None else 0
        asked, now = self._quit_asked, time.monotonic()
        if count and (asked is None or now - asked > QUIT_CONFIRM_SECONDS):
            self._quit_asked = now
            drafts = f"{count} unsent draft{'s' if count != 1 else ''}"
            kept = "kept for next time" if self.me_id else "lost on quit: no agent to keep them for"
            self.notify(
                f"You have {drafts} ({kept}). Press q or ctrl+q again to quit.",
                title="Quit?",
                severity="warning",
                markup=False,
                timeout=QUIT_CONFIRM_SECONDS,
            )
            return
        self.exit()

    def action_help(self) -> None:
        scopes: tuple[str, ...] = getattr(self.screen, "HELP_SCOPES", (actions.APP,))
        self.push_screen(HelpScreen(scopes, dict(self.config.keymap)))

    def action_notifications(self) -> None:
        if not self.me_id:
            self.notify("No agent in this workspace.", markup=False)
            return
        self.push_screen(NotificationsScreen(self.ws, self.me_id, self.now), self._open_note)

    def action_availability(self) -> None:
        """Toggle your own availability: routing (core/routing.py) skips agents who are away."""
        me = self.me_id
        if not me:
            self.notify("No agent in this workspace.", markup=False)
            return
        with self.ws.read() as conn:  # one row by its key
            current = conn.exec_driver_sql(
                "SELECT availability FROM agent WHERE id = ?", (me,)
            ).scalar()
        wanted = "away" if current == "available" else "available"

        def done(_changed: Any) -> None:
            self.notify(
                "You are available: new conversations can be routed to you."
                if wanted == "available"
                else "You are away: routing skips you until you are available again (w).",
                title="Availability",
                markup=False,
            )

        from .core import commands

        self.commands.run(commands.set_availability, me, wanted, actor=me, then=done)

    def action_reports(self) -> None:
        from .screens.reports import ReportsScreen  # loaded when first opened (plotext)

        if isinstance(self.screen, ReportsScreen):
            return
        self.push_screen(ReportsScreen())

    def action_settings(self, section: str = "agents") -> None:
        from .screens.settings import SettingsScreen  # loaded when first opened

        if isinstance(self.screen, SettingsScreen):
            return
        self.push_screen(SettingsScreen(section))

    # ------------------------------------------------------------------ first start

    def _setup_done(self, done: SetupDone | None) -> None:
        """The setup screen made the first agent: act as them from now on, then offer to
        connect the team's e-mail address."""
        if done is None:
            return  # "later": the empty inbox, as before
        self.agent_changed()
        handle = self.me_row.handle if self.me_row else "?"
        self.notify(f"Welcome! You are @{handle}, an admin.", markup=False)
        from .screens.setup import EmailChannelScreen

        self.push_screen(EmailChannelScreen([done.inbox], skip_label="Skip (esc)"), self._connected)

    def _connected(self, channel_id: str | None) -> None:
        if channel_id:  # the engine picks up new channels by itself (engine.run reloads them)
            self.notify("Connected: new mail arrives in the inbox.", markup=False)
        self.poll_changes()

    def agent_changed(self) -> None:
        """Who the agent is changed (the setup screen made them): resolve again, re-read
        the watched views and refresh the inbox."""
        self.me_row, _ = resolve_me(self.ws, self.config, None)
        self._access = None  # someone else now: read their access afresh
        self.watched = []
        for key in self.config.watch:
            try:
                self.watched.append(queries.view(key, self.me_id, self.ws, access=self.access))
            except UniboxError:
                pass
        self.seen_seq = -1  # the next poll refreshes the inbox whatever changed
        self.poll_changes()

    def _open_note(self, conversation_id: str | None) -> None:
        inbox = self.screen if isinstance(self.screen, InboxScreen) else None
        if conversation_id and inbox is not None:
            inbox.open_conversation(conversation_id)

    def _remember_theme(self, theme: object) -> None:
        name = getattr(theme, "name", None)
        if not name or name == self.config.theme:
            return
        self.config.theme = name
        try:
            self.config.save()
        except ConfigError as e:
            self.notify(str(e), severity="error", markup=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette offers every action of the screen by name, plus Textual's own and
        each settings section."""
        from .screens.settings import SECTIONS

        yield SystemCommand(
            "Team: who is online",
            "every agent with presence, availability and open conversations",
            self.action_team,
        )
        yield SystemCommand(
            "Chatflows",
            "live chats and bots of the chat channels: enable, disable, bot reports",
            self.action_chatflows,
        )

        yield from super().get_system_commands(screen)
        for key, label in SECTIONS.items():
            yield SystemCommand(
                f"Settings: {label}",
                "agents, teams, inboxes, snippets, pipelines, channels · key: ,",
                partial(self.action_settings, key),
            )
        scopes: tuple[str, ...] = getattr(screen, "HELP_SCOPES", (actions.APP,))
        nodes = getattr(screen, "SCOPE_NODES", {})
        allows = getattr(screen, "palette_allows", lambda spec: True)
        for spec in actions.specs(scopes):
            if not spec.palette or spec.id in ("palette", "quit") or not allows(spec):
                continue
            scope = next(s for s in spec.scopes if s in scopes)
            if scope == actions.APP:
                node: object = self
            elif scope in nodes:
                node = screen.query_one(nodes[scope])
            else:
                node = screen
            keys = actions.keys_for(spec, self.config.keymap)
            yield SystemCommand(
                spec.description,
                f"key: {keys} · id: {spec.id}",
                partial(self.run_action, spec.action, node),  # type: ignore[arg-type]
            )


__all__ = ["UniboxApp", "resolve_me", "styles_dir"]
