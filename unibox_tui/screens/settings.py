"""Settings (`,`): agents, teams, inboxes and access, snippets, knowledge base, pipelines,
channels.

One tab per section, each a short list (these tables hold tens of rows, not thousands).
`n` adds, `e` (or enter) edits, `d` removes or deactivates, space enables or disables a
channel. Lists load and commands run in workers, never on the UI thread; the core decides
what is allowed (only admins change agents, teams, inboxes, access, channels, pipelines),
and the screen says so at once, with a toast, when an agent tries an admin's action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.widgets.option_list import Option

from .. import actions
from ..core.errors import UniboxError
from ..core.kinds import AVAILABILITY, INBOX_ACCESS, ROLES
from ..core.text import clean, one_line
from ..widgets.safe_text import safe_line
from .forms import FormScreen
from .list_keys import ListKeys
from .on_app import OnApp
from .settings_routing import RoutingSection, routing_label, routing_rows

if TYPE_CHECKING:
    pass

SECTIONS = {
    "agents": "Agents",
    "teams": "Teams",
    "inboxes": "Inboxes & access",
    "snippets": "Snippets",
    "articles": "Knowledge base",
    "pipelines": "Pipelines",
    "channels": "Channels",
    "routing": "Routing & hours",
}
# What each section's changes need: "admin", or None (any agent).
ADMIN_ONLY = {"agents", "teams", "inboxes", "pipelines", "channels", "routing"}
HINT = "n add · e edit · d remove · space enable/disable · ←/→ sections · esc close"


# ---------------------------------------------------------------------------------- forms


@dataclass
class Field:
    id: str
    label: str
    value: str = ""
    kind: str = "input"  # input | select | text
    options: list[str] = field(default_factory=list)
    placeholder: str = ""


class FieldsScreen(FormScreen):
    """A small form from field specs; returns {id: value} (text stripped)."""

    DEFAULT_CSS = """
    FieldsScreen VerticalScroll { height: auto; max-height: 70vh; }
    """

    def __init__(self, title: str, fields: list[Field], *, required: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.title_text, self.fields, self.required = title, fields, required

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_line(self.title_text), classes="form-title")
            with VerticalScroll():
                for f in self.fields:
                    yield Label(f.label)
                    if f.kind == "select":
                        yield Select(
                            [(Text(o), o) for o in f.options],
                            value=f.value if f.value in f.options else f.options[0],
                            allow_blank=False,
                            id=f.id,
                        )
                    elif f.kind == "text":
                        yield TextArea(clean(f.value), id=f.id, soft_wrap=True)
                    else:
                        yield Input(value=one_line(f.value), placeholder=f.placeholder, id=f.id)
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        first = self.query("Input, TextArea, Select").first()
        first.focus()

    def collect(self) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for f in self.fields:
            if f.kind == "select":
                chosen = self.query_one(f"#{f.id}", Select).value
                values[f.id] = chosen if isinstance(chosen, str) else ""
            elif f.kind == "text":
                values[f.id] = self.query_one(f"#{f.id}", TextArea).text
            else:
                values[f.id] = self.query_one(f"#{f.id}", Input).value.strip()
        missing = [
            f.label for f in self.fields if f.id in self.required and not values[f.id].strip()
        ]
        if missing:
            self.error(f"{missing[0]}: please fill this in.")
            return None
        return values


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no: `y`/enter confirms, `n`/esc cancels."""

    BINDINGS = [
        *actions.bindings(actions.MODAL),
        ("y", "answer(True)", "Yes"),
        ("n", "answer(False)", "No"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 90%; height: auto;
        border: round $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen .buttons { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_line(self.question, limit=400))
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="warning", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_dismiss_none(self) -> None:
        self.dismiss(False)


def _words(text: str) -> list[str]:
    """Handles or names typed into one field: separated by commas, or by spaces when the
    field holds handles only."""
    parts = text.split(",") if "," in text else text.split()
    return [p.strip().lstrip("@") for p in parts if p.strip()]


# ---------------------------------------------------------------------------------- screen


@dataclass
class SettingsData:
    agents: list[Any]
    teams: list[Any]
    inboxes: list[Any]
    snippets: list[Any]
    pipelines: list[Any]
    channels: list[Any]
    routing: list[Any] = field(default_factory=list)
    articles: list[Any] = field(default_factory=list)

    def rows(self, section: str) -> list[Any]:
        return getattr(self, section)


class SettingsScreen(OnApp, ListKeys, RoutingSection, ModalScreen[None]):
    BINDINGS = [*actions.bindings(actions.MODAL), *actions.bindings(actions.SETTINGS)]
    HELP_SCOPES = (actions.APP, actions.SETTINGS, actions.MODAL)
    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > Vertical {
        width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    SettingsScreen #settings-title { text-style: bold; height: 1; }
    SettingsScreen TabbedContent { height: 1fr; }
    SettingsScreen TabPane { padding: 0; }
    SettingsScreen OptionList { height: 1fr; border: none; }
    SettingsScreen #settings-hint { color: $text-muted; height: 1; }
    """

    def __init__(self, section: str = "agents") -> None:
        super().__init__()
        self.start = section if section in SECTIONS else "agents"
        self.data: SettingsData | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Settings", id="settings-title")
            with TabbedContent(initial=self.start):
                for key, label in SECTIONS.items():
                    with TabPane(label, id=key):
                        yield OptionList(id=f"list-{key}")
            yield Static(HINT, id="settings-hint")

    def on_mount(self) -> None:
        self.load()

    # ------------------------------------------------------------------ loading

    @property
    def section(self) -> str:
        return self.query_one(TabbedContent).active or "agents"

    def current_list(self) -> OptionList:
        return self.query_one(f"#list-{self.section}", OptionList)

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.current_list().focus()

    @work(thread=True, exclusive=True, group="settings-load")
    def load(self) -> None:
        """Read every section off the UI thread, then show them."""
        from ..core import admin_queries as aq
        from ..core import chatflow_queries as fq
        from ..core import queries as q

        ws = self.uapp.ws
        data = SettingsData(
            aq.agents(ws),
            aq.teams(ws),
            aq.inboxes(ws),
            q.snippets(ws),
            aq.pipelines(ws),
            q.channels(ws),
            routing_rows(ws),
            fq.articles(ws),
        )
        self.from_worker(self._show, data)

    def _show(self, data: SettingsData) -> None:
        self.data = data
        for key in SECTIONS:
            options = self.query_one(f"#list-{key}", OptionList)
            highlighted = options.highlighted
            options.clear_options()
            rows = data.rows(key)
            if not rows:
                options.add_option(
                    Option(Text("None yet: n adds one.", style="dim italic"), disabled=True)
                )
                continue
            options.add_options([Option(LABELS[key](row)) for row in rows])
            options.highlighted = min(highlighted or 0, len(rows) - 1)
        self.current_list().focus()

    def selected(self) -> Any | None:
        if self.data is None:
            return None
        rows = self.data.rows(self.section)
        index = self.current_list().highlighted
        if index is None or not rows or index >= len(rows):
            return None
        return rows[index]

    # ------------------------------------------------------------------ who may

    def me(self) -> Any | None:
        if self.data is None or not self.uapp.me_id:
            return None
        return next((a for a in self.data.agents if a.id == self.uapp.me_id), None)

    def allowed(self, what: str, *, section: str | None = None, own: bool = False) -> bool:
        """May the agent do `what` here? If not, a toast says why (the core checks again)."""
        me = self.me()
        if me is None:
            self.notify(
                "No agent in this workspace yet: set it up first.", severity="error", markup=False
            )
            return False
        if (section or self.section) in ADMIN_ONLY and me.role != "admin" and not own:
            self.notify(
                f"Only an admin can {what}; you are @{me.handle} (an agent).",
                severity="error",
                markup=False,
            )
            return False
        return True

    # ------------------------------------------------------------------ running commands

    @work(thread=True, group="settings-command", exit_on_error=False)
    def run(self, done: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run one core command (one transaction) off the UI thread, dispatched through the
        command registry like every other write the app makes (validated arguments); a
        refusal shows its one line. The workspace's change poll and this screen then show
        the result."""
        from .commanding import dispatch

        try:
            dispatch(self.uapp.ws, fn, args, kwargs)
        except UniboxError as e:
            self.from_worker(self.notify, str(e), severity="error", markup=False)
        else:
            if done:
                self.from_worker(self.notify, done, markup=False)
        self.from_worker(self.uapp.poll_changes)
        self.from_worker(self.load)

    # ------------------------------------------------------------------ actions

    def action_section(self, step: int) -> None:
        keys = list(SECTIONS)
        tabs = self.query_one(TabbedContent)
        tabs.active = keys[(keys.index(self.section) + step) % len(keys)]

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_edit()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_add(self) -> None:
        handler = getattr(self, f"_add_{self.section}")
        handler()

    def action_edit(self) -> None:
        row = self.selected()
        if row is None:
            return
        getattr(self, f"_edit_{self.section}")(row)

    def action_remove(self) -> None:
        row = self.selected()
        if row is None:
            return
        getattr(self, f"_remove_{self.section}")(row)

    def action_toggle_channel(self) -> None:
        row = self.selected()
        if self.section != "channels" or row is None:
            self.notify("Space enables or disables a channel (Channels tab).", markup=False)
            return
        if self.allowed("enable or disable channels"):
            from ..core import commands

            word = "disabled" if row.enabled else "enabled"
            self.run(
                f"{row.name} {word}",
                commands.set_channel_enabled,
                row.id,
                not row.enabled,
                actor=self.uapp.me_id,
            )

    def _confirm(self, question: str, then: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen(question), answered)

    def _form(
        self,
        title: str,
        fields: list[Field],
        then: Callable[[dict[str, str]], None],
        required: tuple[str, ...] = (),
    ) -> None:
        screen = FieldsScreen(title, fields, required=required)
        self.app.push_screen(screen, lambda values: then(values) if values else None)  # type: ignore[arg-type]

    # --- agents

    def _add_agents(self) -> None:
        from ..core import commands

        if not self.allowed("add agents"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Added @{v['handle'].lstrip('@')}",
                commands.create_agent,
                v["name"],
                v["handle"],
                v["email"] or None,
                role=v["role"],
                actor=self.uapp.me_id,
            )

        fields = [
            Field("name", "Name"),
            Field("handle", "Handle (for @mentions)"),
            Field("email", "E-mail"),
            Field("role", "Role", "agent", "select", list(ROLES)),
        ]
        self._form("Add an agent", fields, save, required=("name", "handle"))

    def _edit_agents(self, row: Any) -> None:
        from ..core import commands

        own = row.id == self.uapp.me_id
        if not self.allowed("change other agents", own=own):
            return

        def save(v: dict[str, str]) -> None:
            role = v.get("role", row.role)
            self.run(
                f"Saved @{row.handle}",
                commands.set_agent,
                row.id,
                name=v["name"],
                email=v["email"],
                role=role if role != row.role else None,
                availability=v["availability"],
                meeting_link=v["meeting_link"],
                actor=self.uapp.me_id,
            )

        fields = [
            Field("name", "Name", row.name),
            Field("email", "E-mail", row.email or ""),
            Field("availability", "Availability", row.availability, "select", list(AVAILABILITY)),
            Field(
                "meeting_link",
                "Meeting link (ctrl+l inserts it)",
                row.meeting_link or "",
                placeholder="https://…",
            ),
        ]
        me = self.me()
        if me is not None and me.role == "admin":
            fields.append(Field("role", "Role", row.role, "select", list(ROLES)))
        self._form(f"@{row.handle}", fields, save, required=("name",))

    def _remove_agents(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("deactivate agents"):
            return
        if not row.active:
            self._confirm(
                f"Reactivate @{row.handle}?",
                lambda: self.run(
                    f"@{row.handle} reactivated",
                    commands.activate_agent,
                    row.id,
                    actor=self.uapp.me_id,
                ),
            )
            return
        self._confirm(
            f"Deactivate @{row.handle}? Their history stays; their open conversations "
            "become unassigned.",
            lambda: self.run(
                f"@{row.handle} deactivated",
                commands.deactivate_agent,
                row.id,
                actor=self.uapp.me_id,
            ),
        )

    # --- teams

    def _add_teams(self) -> None:
        from ..core import commands

        if not self.allowed("add teams"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Added team {one_line(v['name'])}",
                commands.create_team,
                v["name"],
                _words(v["members"]),
                actor=self.uapp.me_id,
            )

        fields = [
            Field("name", "Name"),
            Field("members", "Members (handles)", placeholder="ana bo"),
        ]
        self._form("Add a team", fields, save, required=("name",))

    def _edit_teams(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("change teams"):
            return

        def save(v: dict[str, str]) -> None:
            wanted = {h.lower() for h in _words(v["members"])}
            add = sorted(wanted - set(row.members))
            remove = sorted(set(row.members) - wanted)
            self.run(
                f"Saved team {one_line(row.name)}",
                commands.set_team_members,
                row.id,
                add,
                remove,
                actor=self.uapp.me_id,
            )

        members = " ".join(f"@{h}" for h in row.members)
        self._form(row.name, [Field("members", "Members (handles)", members)], save)

    def _remove_teams(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("remove teams"):
            return
        self._confirm(
            f"Remove team {one_line(row.name)}? Its members stay agents.",
            lambda: self.run(
                f"Removed team {one_line(row.name)}",
                commands.remove_team,
                row.id,
                actor=self.uapp.me_id,
            ),
        )

    # --- inboxes

    def _add_inboxes(self) -> None:
        from ..core import commands

        if not self.allowed("add inboxes"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Added inbox {one_line(v['name'])}",
                commands.create_inbox,
                v["name"],
                v["access"],
                actor=self.uapp.me_id,
            )

        fields = [
            Field("name", "Name"),
            Field("access", "Access", "everyone", "select", list(INBOX_ACCESS)),
        ]
        self._form("Add an inbox", fields, save, required=("name",))

    def _edit_inboxes(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("change inboxes") or self.data is None:
            return
        pipelines = {p.name: p.stages for p in self.data.pipelines}

        def save(v: dict[str, str]) -> None:
            agents = {h.lower() for h in _words(v["agents"])}
            teams = {t.lower(): t for t in _words(v["teams"])}
            current_teams = {t.lower() for t in row.teams}
            self.run(  # one command: the form is saved whole or refused whole
                f"Saved inbox {one_line(v['name'])}",
                commands.update_inbox,
                row.id,
                name=v["name"],
                mode=v["access"],
                add_agents=sorted(agents - set(row.agents)),
                remove_agents=sorted(set(row.agents) - agents),
                add_teams=[teams[t] for t in sorted(set(teams) - current_teams)],
                remove_teams=[t for t in row.teams if t.lower() not in teams],
                pipeline=v["pipeline"] or None,
                stage=v["stage"] or None,
                actor=self.uapp.me_id,
            )

        names = list(pipelines) or ["Support"]
        fields = [
            Field("name", "Name", row.name),
            Field("access", "Access", row.access, "select", list(INBOX_ACCESS)),
            Field("agents", "Listed agents (handles)", " ".join(f"@{h}" for h in row.agents)),
            Field("teams", "Listed teams (comma-separated)", ", ".join(row.teams)),
            Field(
                "pipeline", "Tickets start in pipeline", row.default_pipeline or "", "select", names
            ),
            Field(
                "stage",
                "…at stage (blank: its first)",
                row.default_stage or "",
                placeholder=" / ".join(pipelines.get(row.default_pipeline or "", [])),
            ),
        ]
        self._form(row.name, fields, save, required=("name",))

    def _remove_inboxes(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("remove inboxes") or self.data is None:
            return
        others = [i.name for i in self.data.inboxes if i.id != row.id]

        def save(v: dict[str, str]) -> None:
            move_to = v["move_to"] if v["move_to"] != "(nowhere)" else None
            self.run(
                f"Removed inbox {one_line(row.name)}",
                commands.remove_inbox,
                row.id,
                move_to=move_to,
                actor=self.uapp.me_id,
            )

        held = f"{row.conversations:,} conversations and {len(row.channels)} channels"
        fields = [
            Field(
                "move_to",
                f"It holds {held}. Move them to",
                others[0] if others and (row.conversations or row.channels) else "(nowhere)",
                "select",
                ["(nowhere)", *others],
            )
        ]
        self._form(f"Remove inbox {row.name}", fields, save)

    # --- snippets

    def _add_snippets(self) -> None:
        from ..core import commands

        if not self.allowed("add snippets"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Saved snippet {one_line(v['name'])}",
                commands.save_snippet,
                v["name"],
                v["body"],
                actor=self.uapp.me_id,
            )

        fields = [
            Field("name", "Name"),
            Field("body", "Text ({{contact.first_name}} …)", kind="text"),
        ]
        self._form("Add a snippet", fields, save, required=("name", "body"))

    def _edit_snippets(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("change snippets"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Saved snippet {one_line(row.name)}",
                commands.save_snippet,
                row.name,
                v["body"],
                actor=self.uapp.me_id,
            )

        self._form(row.name, [Field("body", "Text", row.body, "text")], save, required=("body",))

    # --- knowledge base

    def _add_articles(self) -> None:
        self._article_form(None)

    def _edit_articles(self, row: Any) -> None:
        self._article_form(row)

    def _article_form(self, row: Any | None) -> None:
        """Add an article, or change one's URL and text (its title names it)."""
        from ..core import commands

        if not self.allowed("change the knowledge base"):
            return

        def save(v: dict[str, str]) -> None:
            title = row.title if row else v["title"]
            self.run(
                f"Saved article {one_line(title)}",
                commands.save_article,
                title,
                v["url"],
                body=v["body"],
                actor=self.uapp.me_id,
            )

        fields = [] if row else [Field("title", "Title")]
        fields += [
            Field("url", "URL", row.url if row else "", placeholder="https://…"),
            Field("body", "Text (for search)", row.body if row else "", "text"),
        ]
        title = row.title if row else "Add a knowledge article"
        required = ("url",) if row else ("title", "url")
        self._form(title, fields, save, required=required)

    def _remove_articles(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("change the knowledge base"):
            return
        self._confirm(
            f"Remove article {one_line(row.title)}?",
            lambda: self.run(
                f"Removed article {one_line(row.title)}",
                commands.remove_article,
                row.id,
                actor=self.uapp.me_id,
            ),
        )

    def _remove_snippets(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("remove snippets"):
            return
        self._confirm(
            f"Remove snippet {one_line(row.name)}?",
            lambda: self.run(
                f"Removed snippet {one_line(row.name)}",
                commands.delete_snippet,
                row.name,
                actor=self.uapp.me_id,
            ),
        )

    # --- pipelines

    def _add_pipelines(self) -> None:
        from ..core import commands

        if not self.allowed("add pipelines"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Added pipeline {one_line(v['name'])}",
                commands.create_pipeline,
                v["name"],
                [s for s in v["stages"].splitlines() if s.strip()],
                actor=self.uapp.me_id,
            )

        fields = [
            Field("name", "Name"),
            Field("stages", "Stages, one per line, in order", kind="text"),
        ]
        self._form("Add a pipeline", fields, save, required=("name", "stages"))

    def _edit_pipelines(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("change pipelines"):
            return

        def save(v: dict[str, str]) -> None:
            self.run(
                f"Saved pipeline {one_line(row.name)}",
                commands.set_stages,
                row.id,
                [s for s in v["stages"].splitlines() if s.strip()],
                actor=self.uapp.me_id,
            )

        fields = [Field("stages", "Stages, one per line, in order", "\n".join(row.stages), "text")]
        self._form(row.name, fields, save, required=("stages",))

    def _remove_pipelines(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("remove pipelines"):
            return
        self._confirm(
            f"Remove pipeline {one_line(row.name)}? Its tickets keep their stage names.",
            lambda: self.run(
                f"Removed pipeline {one_line(row.name)}",
                commands.remove_pipeline,
                row.id,
                actor=self.uapp.me_id,
            ),
        )

    # --- channels

    def _add_channels(self) -> None:
        from .setup import EmailChannelScreen

        if not self.allowed("add channels") or self.data is None:
            return
        inboxes = [i.name for i in self.data.inboxes]

        def added(channel_id: str | None) -> None:
            if channel_id:
                self.notify("Channel connected.", markup=False)
                self.uapp.poll_changes()
                self.load()

        self.app.push_screen(EmailChannelScreen(inboxes), added)

    def _edit_channels(self, row: Any) -> None:
        self.action_toggle_channel()

    def _remove_channels(self, row: Any) -> None:
        from ..core import commands

        if not self.allowed("remove channels"):
            return
        self._confirm(
            f"Remove channel {one_line(row.name)}? (One with conversations can only be disabled.)",
            lambda: self.run(
                f"Removed {one_line(row.name)}",
                commands.remove_channel,
                row.id,
                actor=self.uapp.me_id,
            ),
        )


# ---------------------------------------------------------------------------------- rows


def _agent_label(a: Any) -> Text:
    text = Text(f"@{a.handle:<12} ", style="bold" if a.active else "dim")
    text.append_text(safe_line(a.name, limit=24))
    text.append(f"  {a.role}", style="bold" if a.role == "admin" else "")
    text.append(f"  {a.availability}", style="dim")
    if a.email:
        text.append("  ")
        text.append_text(safe_line(a.email, "dim", limit=40))
    if a.teams:
        text.append("  ")
        text.append_text(safe_line(", ".join(a.teams), "italic", limit=40))
    if not a.active:
        text.append("  deactivated", style="red")
    return text


def _team_label(t: Any) -> Text:
    text = safe_line(t.name, "bold", limit=30)
    text.append("  " + (" ".join(f"@{h}" for h in t.members) or "no members"), style="dim")
    return text


def _inbox_label(i: Any) -> Text:
    text = safe_line(i.name, "bold", limit=30)
    text.append(f"  {i.conversations:,} conversations  ", style="dim")
    if i.access == "everyone":
        text.append("everyone")
    else:
        listed = [f"@{h}" for h in i.agents] + list(i.teams)
        text.append("listed: ")
        text.append_text(safe_line(", ".join(listed) or "nobody (admins read only)", limit=60))
    if i.default_pipeline:
        text.append("  tickets: ", style="dim")
        text.append_text(safe_line(f"{i.default_pipeline} / {i.default_stage or ''}", limit=50))
    text.append(f"  {len(i.channels)} channels", style="dim")
    return text


def _snippet_label(s: Any) -> Text:
    text = safe_line(s.name, "bold", limit=30)
    text.append("  ")
    text.append_text(safe_line(s.body, "dim", limit=80))
    return text


def _article_label(a: Any) -> Text:
    text = safe_line(a.title, "bold", limit=40)
    text.append("  ")
    text.append_text(safe_line(a.url, "dim", limit=80))
    return text


def _pipeline_label(p: Any) -> Text:
    text = safe_line(p.name, "bold", limit=30)
    text.append("  ")
    text.append_text(safe_line(" → ".join(p.stages), limit=100))
    if p.inboxes:
        text.append("  start of ", style="dim")
        text.append_text(safe_line(", ".join(p.inboxes), "dim", limit=40))
    return text


def _channel_label(c: Any) -> Text:
    text = Text("● " if c.enabled else "○ ", style="green" if c.enabled else "dim")
    text.append(f"{c.kind:<9} ")
    text.append_text(safe_line(c.name, "bold", limit=32))
    text.append("  ")
    text.append_text(safe_line(c.inbox_name, "dim", limit=24))
    text.append("  enabled" if c.enabled else "  disabled", style="" if c.enabled else "dim")
    if c.status:
        text.append("  ")
        # A server's error text: cleaned like customer text.
        text.append_text(
            safe_line(c.status, "red" if c.status not in ("ok", "not checked") else "dim", limit=80)
        )
    return text


LABELS: dict[str, Callable[[Any], Text]] = {
    "agents": _agent_label,
    "teams": _team_label,
    "inboxes": _inbox_label,
    "snippets": _snippet_label,
    "articles": _article_label,
    "pipelines": _pipeline_label,
    "channels": _channel_label,
    "routing": routing_label,
}
