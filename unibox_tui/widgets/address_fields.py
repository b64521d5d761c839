"""The e-mail parts of the composer: From, To, Cc, Bcc, the attached files, the quote
toggle, and the signature that will be appended. Shown above and below the editor only for
replies on e-mail (chat, Messenger and WhatsApp keep the plain editor).

The widget holds and shows the fields; checking an address is core's rule
(core/composing.parse_addresses), run here as the agent leaves a field so a mistake is one
line under the fields, and again by the reply command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from ..core.composing import MailFields, parse_addresses
from ..core.errors import InvalidRequest
from ..core.queries import MailChannel
from .safe_text import safe_line
from .thread_view import size_label


@dataclass
class MailSetup:
    """What the screen knows when the e-mail composer opens (queries.reply_addresses)."""

    channels: list[MailChannel]
    signatures: dict[str, str] = field(default_factory=dict)  # channel id -> filled in
    quote_label: str = ""  # "Jane Customer, 14 Nov 10:02": what ctrl+g quotes


class AddressInput(Input):
    """One line, no frame: a header field like a mail program's."""

    DEFAULT_CSS = """
    AddressInput {
        border: none; height: 1; padding: 0; width: 1fr; background: $surface;
    }
    AddressInput:focus { background: $boost; border: none; }
    """


class AddressFields(Vertical):
    """From / To / Cc / Bcc, the files and the quote state (above the editor)."""

    DEFAULT_CSS = """
    AddressFields { height: auto; display: none; padding: 0 1; }
    AddressFields.-on { display: block; }
    AddressFields Horizontal { height: 1; }
    AddressFields .field-label { width: 6; color: $text-muted; }
    AddressFields #mail-bcc-label { width: 6; margin-left: 1; }
    AddressFields #mail-from { height: 1; }
    AddressFields #mail-files { height: auto; max-height: 3; }
    AddressFields #mail-error { height: auto; color: $error; text-style: bold; }
    """

    def __init__(self) -> None:
        super().__init__(id="mail-fields")
        self.setup: MailSetup | None = None
        self.from_id: str | None = None
        self.files: list[str] = []
        self.quote = False
        self.to = AddressInput(id="mail-to", placeholder="customer@example.com")
        self.cc = AddressInput(id="mail-cc")
        self.bcc = AddressInput(id="mail-bcc")

    def compose(self) -> ComposeResult:
        yield Static(id="mail-from")
        with Horizontal():
            yield Static("To", classes="field-label")
            yield self.to
        with Horizontal():
            yield Static("Cc", classes="field-label")
            yield self.cc
            yield Static("Bcc", classes="field-label", id="mail-bcc-label")
            yield self.bcc
        yield Static(id="mail-files")
        yield Static(id="mail-error")

    @property
    def on(self) -> bool:
        return self.has_class("-on")

    def inputs(self) -> list[AddressInput]:
        return [self.to, self.cc, self.bcc]

    # ------------------------------------------------------------------ state

    def load(self, setup: MailSetup, fields: MailFields, from_id: str | None) -> None:
        self.setup = setup
        ids = [c.id for c in setup.channels]
        self.from_id = from_id if from_id in ids else (ids[0] if ids else None)
        self.to.value = ", ".join(fields.to)
        self.cc.value = ", ".join(fields.cc)
        self.bcc.value = ", ".join(fields.bcc)
        self.files = list(fields.files)
        self.quote = fields.quote
        self.say("")
        self._redraw()

    def unload(self) -> None:
        self.setup = None
        self.files = []
        self.quote = False
        for field_input in self.inputs():
            field_input.value = ""
        self.remove_class("-on")

    @property
    def via_channel_id(self) -> str | None:
        """The From channel as the reply command takes it: None for the inbox's own."""
        if not self.setup or not self.setup.channels or self.from_id == self.setup.channels[0].id:
            return None
        return self.from_id

    def fields(self) -> MailFields:
        """What is written, as typed (checked on send)."""

        def split(value: str) -> list[str]:
            return [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]

        return MailFields(
            split(self.to.value),
            split(self.cc.value),
            split(self.bcc.value),
            self.files,
            self.quote,
        )

    def checked(self) -> MailFields:
        """The fields with every address checked; InvalidRequest names the first bad one."""
        f = self.fields()
        return MailFields(
            parse_addresses(f.to, "To"),
            parse_addresses(f.cc, "Cc"),
            parse_addresses(f.bcc, "Bcc"),
            f.files,
            f.quote,
        )

    def say(self, error: str) -> None:
        line = self.query_one("#mail-error", Static)
        line.update(Text(error))
        line.display = bool(error)

    def next_from(self) -> None:
        if not self.setup or len(self.setup.channels) < 2:
            self.say("This inbox has one e-mail address to send from.")
            return
        ids = [c.id for c in self.setup.channels]
        at = ids.index(self.from_id) if self.from_id in ids else -1
        self.from_id = ids[(at + 1) % len(ids)]
        self._redraw()

    def add_file(self, path: str) -> None:
        self.files.append(os.path.expanduser(path.strip()))
        self._redraw()

    def remove_file(self, index: int) -> None:
        if 0 <= index < len(self.files):
            del self.files[index]
            self._redraw()

    def toggle_quote(self) -> None:
        self.quote = not self.quote
        self._redraw()

    @property
    def signature(self) -> str:
        if not self.setup or not self.from_id:
            return ""
        return self.setup.signatures.get(self.from_id, "")

    def _redraw(self) -> None:
        channel = next(
            (c for c in (self.setup.channels if self.setup else []) if c.id == self.from_id), None
        )
        line = Text("From  ", "dim")
        if channel is None:
            line.append("no e-mail channel in this inbox", "bold red")
        else:
            line.append_text(safe_line(f"{channel.name} <{channel.address}>", "bold"))
            if self.setup and len(self.setup.channels) > 1:
                line.append("  ctrl+f change", "dim")
        if self.quote and self.setup:
            line.append("  · quoting ", "italic")
            line.append_text(safe_line(self.setup.quote_label or "the last message", "italic"))
        self.query_one("#mail-from", Static).update(line)
        files = files_line(self.files) if self.files else Text()
        self.query_one("#mail-files", Static).update(files)
        self.query_one("#mail-files", Static).display = bool(self.files)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in a field goes on to the next one, then to the text.
        event.stop()
        order = self.inputs()
        at = order.index(event.input) if event.input in order else len(order)
        if at + 1 < len(order):
            order[at + 1].focus()
        else:
            self.screen.query_one("#editor").focus()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        # Leaving a field checks it: the mistake is named at once, and the text stays.
        try:
            self.checked()
        except InvalidRequest as e:
            self.say(str(e))
        else:
            self.say("")


def files_line(paths: list[str]) -> Text:
    """`Files [1] name size  [2] ...`: a reply's attached files, as the composer shows them."""
    line = Text("Files ", "dim")
    for i, path in enumerate(paths):
        if i:
            line.append("  ")
        try:
            size = size_label(os.path.getsize(path))
        except OSError:
            size = "missing"
        line.append(f"[{i + 1}] ", "bold")
        line.append_text(safe_line(os.path.basename(path) or path))
        line.append(f" {size}", "dim")
    return line


def describe_files(paths: list[str]) -> list[str]:
    """`name (size)` per attached path, for the remove picker."""
    out = []
    for path in paths:
        try:
            size = size_label(os.path.getsize(path))
        except OSError:
            size = "missing"
        out.append(f"{os.path.basename(path) or path} ({size})")
    return out
