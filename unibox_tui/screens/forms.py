"""Forms: create or edit a ticket (`t`), create or edit a contact (`C`).

A form only collects fields and returns them through `dismiss`; the inbox screen runs the
command, so the one-line error of a refused request shows where the agent is. The ticket
form offers the workspace's pipelines and their stages (`unibox pipeline`, settings).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from .. import actions
from ..core.kinds import TICKET_PRIORITIES
from ..core.queries import AgentRow, ContactDetail, TicketRow
from ..core.text import clean, one_line
from ..widgets.safe_text import safe_line


@dataclass
class TicketForm:
    title: str
    pipeline: str
    stage: str
    priority: str
    owner: str | None  # agent handle
    close: bool = False  # close the linked ticket


@dataclass
class ContactForm:
    name: str
    email: str
    phone: str
    company: str
    notes: str


class FormScreen(ModalScreen[object]):
    BINDINGS = actions.bindings(actions.FORM)
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > Vertical {
        width: 72; max-width: 95%; height: auto; max-height: 95%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    FormScreen .form-title { text-style: bold; margin-bottom: 1; }
    FormScreen Label { margin-top: 1; color: $text-muted; }
    FormScreen Input, FormScreen Select { width: 100%; }
    FormScreen TextArea { height: 5; }
    FormScreen #form-error { color: $error; height: auto; }
    FormScreen .buttons { height: auto; margin-top: 1; }
    FormScreen Button { margin-right: 2; }
    """

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        result = self.collect()
        if result is not None:
            self.dismiss(result)

    def collect(self) -> object | None:
        raise NotImplementedError

    def error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(Text(text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "close-ticket":
            result = self.collect()
            if isinstance(result, TicketForm):
                result.close = True
                self.dismiss(result)
        else:
            self.action_save()


class TicketScreen(FormScreen):
    """Create a ticket for the conversation, or see and change the linked one."""

    def __init__(
        self,
        *,
        title: str,
        agents: list[AgentRow],
        ticket: TicketRow | None,
        pipelines: dict[str, list[str]],
        start: tuple[str, str] | None = None,
    ) -> None:
        """`pipelines`: name -> stages in order (the workspace's); `start`: where a new
        ticket starts (the conversation's inbox default), else the first pipeline."""
        super().__init__()
        self.default_title, self.agents, self.ticket = title, agents, ticket
        self.pipelines = pipelines or {"Support": ["New"]}
        first = next(iter(self.pipelines))
        self.start = start if start and start[0] in self.pipelines else (first, "")
        self.shown_pipeline = ""  # the pipeline whose stages the stage list shows

    def compose(self) -> ComposeResult:
        t = self.ticket
        pipeline = self.shown_pipeline = t.pipeline if t else self.start[0]
        stages = self._stages(pipeline, t.stage if t else None)
        stage = t.stage if t else (self.start[1] if self.start[1] in stages else stages[0])
        with Vertical():
            heading = Text(f"Ticket #{t.number} · {t.status}" if t else "Create a ticket")
            yield Static(heading, classes="form-title")
            yield Label("Title")
            # Inputs draw their value as is: customer text goes in cleaned.
            yield Input(value=one_line(t.title if t else self.default_title), id="title")
            yield Label("Pipeline")
            # A ticket keeps a pipeline that was removed since: offered as it is.
            names = list(self.pipelines) + ([pipeline] if pipeline not in self.pipelines else [])
            yield Select(
                [(Text(p), p) for p in names], value=pipeline, allow_blank=False, id="pipeline"
            )
            yield Label("Stage")
            yield Select([(Text(s), s) for s in stages], value=stage, allow_blank=False, id="stage")
            yield Label("Priority")
            yield Select(
                [(p, p) for p in TICKET_PRIORITIES],
                value=t.priority if t else "normal",
                allow_blank=False,
                id="priority",
            )
            yield Label("Owner")
            owners: list[tuple[Text, str]] = [(Text("nobody"), "")]
            owners += [(Text(f"@{a.handle} · {one_line(a.name)}"), a.handle) for a in self.agents]
            yield Select(owners, value=(t.owner or "") if t else "", allow_blank=False, id="owner")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button(
                    "Save (ctrl+s)" if t else "Create (ctrl+s)", variant="primary", id="save"
                )
                if t and t.status != "closed":
                    yield Button("Close ticket", id="close-ticket")
                yield Button("Cancel (esc)", id="cancel")

    def _stages(self, pipeline: str, current: str | None) -> list[str]:
        stages = list(self.pipelines.get(pipeline, ())) or ([] if current else ["New"])
        if current and current not in stages:
            stages.insert(0, current)
        return stages

    def on_mount(self) -> None:
        self.query_one("#title", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "pipeline" and isinstance(event.value, str):
            if event.value == self.shown_pipeline:
                return  # the Changed a Select posts on mount
            self.shown_pipeline = event.value
            stage = self.query_one("#stage", Select)
            stages = self._stages(event.value, None)
            stage.set_options([(Text(s), s) for s in stages])
            stage.value = stages[0]

    def collect(self) -> TicketForm | None:
        title = self.query_one("#title", Input).value.strip()
        if not title:
            self.error("A ticket needs a title.")
            return None

        def value(name: str) -> str:
            v = self.query_one(f"#{name}", Select).value
            return v if isinstance(v, str) else ""

        return TicketForm(
            title, value("pipeline"), value("stage"), value("priority"), value("owner") or None
        )


class ContactScreen(FormScreen):
    """Create a contact for an unknown visitor, or edit a known one."""

    def __init__(self, detail: ContactDetail, unknown: bool) -> None:
        super().__init__()
        self.detail, self.unknown = detail, unknown

    def compose(self) -> ComposeResult:
        d = self.detail
        emails = [v for k, v in d.identities if k == "email"]
        phones = [v for k, v in d.identities if k in ("phone", "whatsapp")]
        with Vertical():
            title = Text("Create a contact for this visitor" if self.unknown else "Edit contact")
            yield Static(title, classes="form-title")
            if self.unknown:
                seen = Text("Known so far: ", style="dim")
                seen.append_text(safe_line(", ".join(f"{k} {v}" for k, v in d.identities)))
                yield Static(seen)
            yield Label("Name")
            yield Input(value="" if self.unknown else one_line(d.name), id="name")
            yield Label("E-mail" + (" (already known)" if emails else ""))
            yield Input(
                value=one_line(emails[0]) if emails else "", id="email", disabled=bool(emails)
            )
            yield Label("Phone" + (" (already known)" if phones else ""))
            yield Input(
                value=one_line(phones[0]) if phones else "", id="phone", disabled=bool(phones)
            )
            yield Label("Company")
            yield Input(value=one_line(d.company), id="company")
            yield Label("Notes")
            yield TextArea(clean(d.notes), id="notes", soft_wrap=True)
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def collect(self) -> ContactForm | None:
        def value(name: str) -> str:
            widget = self.query_one(f"#{name}", Input)
            return "" if widget.disabled else widget.value.strip()

        name = value("name")
        if not name:
            self.error("A contact needs a name.")
            return None
        email = value("email")
        if email and "@" not in email:
            self.error(f"{email!r} is not an e-mail address.")
            return None
        notes = self.query_one("#notes", TextArea).text
        return ContactForm(name, email, value("phone"), value("company"), notes)
