"""The first start on an empty workspace, and connecting a team e-mail address.

`SetupScreen`: your name, handle and e-mail become the workspace's first agent (an admin, and
its default agent) and a "Support" inbox everyone may use is created (`unibox init`). Then
the app offers `EmailChannelScreen`, the same fields as `unibox channel add email`, which
the settings screen opens too. Both run their command in a worker: the UI thread never waits
on the database or the network; a refused request shows its one line in the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from .. import actions
from ..core.errors import UniboxError
from ..core.validate import suggest_handle
from .on_app import OnApp

if TYPE_CHECKING:
    pass

SETUP_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; max-width: 95%; height: auto; max-height: 95%;
    border: round $accent; background: $surface; padding: 0 1;
}}
{name} .form-title {{ text-style: bold; margin-bottom: 1; }}
{name} .form-text {{ color: $text-muted; }}
{name} Label {{ margin-top: 1; color: $text-muted; }}
{name} Input, {name} Select {{ width: 100%; }}
{name} .form-error {{ color: $error; height: auto; }}
{name} .form-busy {{ color: $text-muted; height: auto; }}
{name} .buttons {{ height: auto; margin-top: 1; }}
{name} Button {{ margin-right: 2; }}
{name} VerticalScroll {{ height: auto; max-height: 30; }}
"""


@dataclass
class SetupDone:
    agent_id: str
    inbox: str


class _Form(OnApp, ModalScreen[Any]):
    """What both screens share: ctrl+s saves, esc leaves, one error line, a busy line."""

    BINDINGS = actions.bindings(actions.FORM)

    def error(self, text: str) -> None:
        self.query_one(".form-error", Static).update(Text(text))
        self.busy("")

    def busy(self, text: str) -> None:
        self.query_one(".form-busy", Static).update(Text(text))

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_dismiss_none()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        raise NotImplementedError


class SetupScreen(_Form):
    """Who you are: the first agent of this workspace (an admin)."""

    DEFAULT_CSS = SETUP_CSS.format(name="SetupScreen")

    def __init__(self) -> None:
        super().__init__()
        self.handle_edited = False
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Welcome to Unibox", classes="form-title")
            yield Static(
                "Set up this workspace: you become its first agent (an admin), and a "
                "Support inbox everyone may use is created. `unibox init` does the same.",
                classes="form-text",
            )
            yield Label("Your name")
            yield Input(placeholder="Ana Lima", id="name")
            yield Label("Handle (for @mentions)")
            yield Input(placeholder="ana", id="handle")
            yield Label("E-mail")
            yield Input(placeholder="ana@example.com", id="email")
            yield Static("", classes="form-error")
            yield Static("", classes="form-busy")
            with Horizontal(classes="buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="save")
                yield Button("Later (esc)", id="later")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        handle = self.query_one("#handle", Input)
        if event.input.id == "name" and not self.handle_edited:
            with handle.prevent(Input.Changed):
                handle.value = suggest_handle(event.value)
        elif event.input.id == "handle" and handle.has_focus:
            self.handle_edited = True

    def action_save(self) -> None:
        if self.running:
            return
        name, handle, email = self.value("name"), self.value("handle"), self.value("email")
        if not name:
            self.error("Your name, please.")
            return
        if not handle:
            self.error("A handle, please: letters, digits, _ . or -.")
            return
        self.running = True
        self.busy("Setting up…")
        self._init(name, handle, email or None)

    @work(thread=True, group="setup", exit_on_error=False)
    def _init(self, name: str, handle: str, email: str | None) -> None:
        from ..core import commands

        try:
            result = commands.init_workspace(self.uapp.ws, name, handle, email)
        except UniboxError as e:
            self.from_worker(self._failed, str(e))
            return
        self.from_worker(self.dismiss, SetupDone(result.agent_id, "Support"))

    def _failed(self, text: str) -> None:
        self.running = False
        self.error(text)


SECURITY = [("TLS (993/465)", "tls"), ("STARTTLS (143/587)", "starttls"), ("none", "none")]


class EmailChannelScreen(_Form):
    """Connect a team e-mail address to an inbox: IMAP in, SMTP out (`channel add email`).
    Returns the new channel's id, or None when skipped."""

    DEFAULT_CSS = SETUP_CSS.format(name="EmailChannelScreen")

    def __init__(self, inboxes: list[str], *, skip_label: str = "Cancel (esc)") -> None:
        super().__init__()
        self.inboxes = inboxes or ["Support"]
        self.skip_label = skip_label
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Connect a team e-mail address", classes="form-title")
            yield Static(
                "Mail to this address arrives in the inbox; replies go out from it. "
                "The connection is tested first.",
                classes="form-text",
            )
            with VerticalScroll():
                yield Label("Inbox")
                yield Select(
                    [(Text(i), i) for i in self.inboxes],
                    value=self.inboxes[0],
                    allow_blank=False,
                    id="inbox",
                )
                yield Label("Address")
                yield Input(placeholder="support@example.com", id="address")
                yield Label("IMAP host")
                yield Input(placeholder="imap.example.com", id="imap_host")
                yield Label("Security")
                yield Select(SECURITY, value="tls", allow_blank=False, id="security")
                yield Label("IMAP port (blank: the usual one)")
                yield Input(id="imap_port", type="integer")
                yield Label("SMTP host (blank: the IMAP host)")
                yield Input(id="smtp_host")
                yield Label("SMTP port (blank: the usual one)")
                yield Input(id="smtp_port", type="integer")
                yield Label("Username (blank: the address)")
                yield Input(id="username")
                yield Label("Password (kept in the system keyring)")
                yield Input(password=True, id="password")
                yield Label("…or read it from this environment variable")
                yield Input(placeholder="SUPPORT_MAIL_PASSWORD", id="password_env")
                yield Label("Folder")
                yield Input(value="INBOX", id="folder")
                yield Checkbox("Test the connection before adding", value=True, id="check")
            yield Static("", classes="form-error")
            yield Static("", classes="form-busy")
            with Horizontal(classes="buttons"):
                yield Button("Connect (ctrl+s)", variant="primary", id="save")
                yield Button(self.skip_label, id="skip")

    def on_mount(self) -> None:
        self.query_one("#address", Input).focus()

    def action_save(self) -> None:
        from ..email_connect import EmailChannelRequest

        if self.running:
            return
        address, host = self.value("address"), self.value("imap_host")
        if "@" not in address:
            self.error("The address, please (support@example.com).")
            return
        if not host:
            self.error("The IMAP host, please (imap.example.com).")
            return
        password, env = self.query_one("#password", Input).value, self.value("password_env")
        if not password and not env:
            self.error("A password, or the environment variable that holds it.")
            return
        security = self.query_one("#security", Select).value
        inbox = self.query_one("#inbox", Select).value
        request = EmailChannelRequest(
            inbox=inbox if isinstance(inbox, str) else self.inboxes[0],
            address=address,
            imap_host=host,
            username=self.value("username") or address,
            password_source=f"env:{env}" if env else "keyring",
            password=None if env else password,
            imap_port=int(self.value("imap_port") or 0) or None,
            smtp_host=self.value("smtp_host") or None,
            smtp_port=int(self.value("smtp_port") or 0) or None,
            security=security if isinstance(security, str) else "tls",
            folder=self.value("folder") or "INBOX",
            check=self.query_one("#check", Checkbox).value,
        )
        self.running = True
        self.busy("Connecting…" if request.check else "Adding…")
        self._connect(request)

    @work(thread=True, group="connect", exit_on_error=False)
    def _connect(self, request: Any) -> None:
        from ..email_connect import connect_email

        try:
            channel_id = connect_email(self.uapp.ws, request, actor=self.uapp.me_id)
        except UniboxError as e:
            self.from_worker(self._failed, str(e))
            return
        except Exception as e:  # a library's error: one line, the form stays
            line = (str(e).splitlines() or [""])[0]
            self.from_worker(self._failed, f"{type(e).__name__}: {line}")
            return
        self.from_worker(self.dismiss, channel_id)

    def _failed(self, text: str) -> None:
        self.running = False
        self.error(text)
