"""The e-mail side of the inbox screen's composer: what the fields start from, the reply's
arguments, the file picker, `$EDITOR`, and forwarding. The inbox screen calls these through
thin hooks (InboxScreen is big enough); the widgets are widgets/composer.py and
widgets/address_fields.py, the rules core/composing.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import SuspendNotSupported
from textual.suggester import Suggester

from ..core import commands, composing, queries
from ..core.answering import answering_kind
from ..core.composing import MailFields
from ..core.errors import InvalidRequest
from ..core.queries import ConversationRow
from ..core.text import clean, one_line
from ..widgets.address_fields import MailSetup, describe_files
from ..widgets.composer import Draft
from ..widgets.glyphs import channel_name
from ..widgets.safe_text import safe_line
from ..widgets.thread_view import when
from .pickers import Choice, PickerScreen, PromptScreen

if TYPE_CHECKING:
    from .inbox import InboxScreen


# ---------------------------------------------------------------------- opening


def is_mail(row: ConversationRow, draft: Draft) -> bool:
    """E-mail fields for replies answered by e-mail; a chat continued by e-mail keeps the
    plain editor (it has its own switch, ctrl+o)."""
    return draft.mode == "reply" and answering_kind(row.channel_kind) == "email"


def setup(
    screen: InboxScreen, row: ConversationRow, *, everyone: bool = True
) -> tuple[MailSetup, MailFields] | None:
    """(the fields' choices, what they start with) for a reply to `row`; None without an
    e-mail channel. `everyone`: reply all (the thread's Cc kept, the team's default: `r`);
    else the sender only (`R`)."""
    app = screen.uapp
    found = queries.reply_addresses(app.ws, row.id)
    if not found.channels:
        return None
    me = app.me_row
    name = me.name if me else ""
    quoted = next((m for m in screen._messages(row.id) if m.id == found.quote_id), None)
    label = f"{quoted.author}, {when(quoted.created_at, app.now())}" if quoted else ""
    mail = MailSetup(
        found.channels,
        {c.id: composing.signature_for(c.signature, name) for c in found.channels},
        label,
    )
    to = [found.customer] if found.customer else []
    return mail, MailFields(to=to, cc=found.others if everyone else [])


def reply_args(screen: InboxScreen, row: ConversationRow, draft: Draft) -> dict[str, Any]:
    """The reply command's e-mail arguments from the fields; InvalidRequest (one line) for
    a bad address or file. Files are read by the command's job, off the UI thread."""
    fields = screen.composer.fields.checked()
    if not fields.to:
        raise InvalidRequest("To is empty: who gets this reply?")
    total = 0
    for path in fields.files:
        total += composing.check_file(path, total)
    args: dict[str, Any] = {"to": fields.to, "cc": fields.cc, "bcc": fields.bcc}
    if fields.files:
        args["files"] = fields.files
    if fields.quote:
        quote_id = queries.reply_addresses(screen.uapp.ws, row.id).quote_id
        if quote_id is None:
            raise InvalidRequest("there is no customer message to quote; ctrl+g turns it off")
        args["quote_message_id"] = quote_id
    return args


def sending_kind(screen: InboxScreen, row: ConversationRow) -> str:
    """The kind of channel a reply being written goes out on: e-mail when it continues by
    e-mail (or the conversation is answered by e-mail), else the conversation's own."""
    if screen.composer.via_channel_id:
        return "email"
    return answering_kind(row.channel_kind)


def file_problem(kind: str, path: str, already: int = 0) -> str | None:
    """Why this file cannot go with a reply on `kind`, in one line, or None: the reply's
    size rule (core/composing.py) and the channel's types and sizes (its ChannelRules, the
    rule the reply command checks again)."""
    from ..backends import registry

    try:
        size = composing.check_file(path, already)
    except InvalidRequest as e:
        return str(e)
    name = os.path.basename(os.path.expanduser(path.strip()))
    return registry.rules(kind).file_problem(name, composing.content_type(name), size)


def file_args(screen: InboxScreen, row: ConversationRow) -> dict[str, Any]:
    """The reply command's `files` for a reply on a channel other than e-mail (Messenger,
    WhatsApp, or a chat continued by e-mail); InvalidRequest, one line, for a file the
    channel refuses. Read by the command's job, off the UI thread."""
    kind = sending_kind(screen, row)
    total = 0
    for path in screen.composer.files:
        problem = file_problem(kind, path, total)
        if problem:
            raise InvalidRequest(problem)
        total += os.path.getsize(os.path.expanduser(path.strip()))
    return {"files": list(screen.composer.files)} if screen.composer.files else {}


def reply_with_files(ws: Any, conversation_id: str, text: str, **kwargs: Any) -> str:
    """commands.reply with the attached files read now (in the command queue's worker),
    through the registry like any command."""
    from ..core.commands import registry

    files = kwargs.pop("files", None)
    if files:
        kwargs["attachments"] = composing.encode_files(files)
    return registry.call(ws, commands.reply, conversation_id, text, **kwargs)


# ---------------------------------------------------------------------- files


class PathSuggester(Suggester):
    """Completes a file path: the first entry of the directory that starts with what is
    typed after the last slash (a directory gets its slash)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, _, stem = expanded.rpartition(os.sep)
        where = folder or "."
        if expanded.startswith(os.sep) and not folder:
            where = os.sep
        try:
            names = sorted(n for n in os.listdir(where) if n.startswith(stem))
        except OSError:
            return None
        if stem and not stem.startswith("."):
            names = [n for n in names if not n.startswith(".")] or names
        if not names or names[0] == stem:
            return None
        name = names[0]
        if os.path.isdir(os.path.join(where, name)):
            name += os.sep
        return value + name[len(stem) :]


def pick_files(screen: InboxScreen) -> None:
    """ctrl+l: attach a file (a path prompt with completion), or remove an attached one."""
    if screen.app.is_web:
        # `unibox hub --web`: this process runs on the hub's machine, whose files are not
        # the agent's to send (the hub's workspace, its keys).
        screen.notify(
            "Attaching files is not available in the browser app: the files it would "
            "see are the hub's, not yours.",
            severity="warning",
            markup=False,
        )
        return
    from ..backends import registry

    composer = screen.composer
    row = screen.thread_row
    if row is None:
        return
    kind = "email" if composer.is_mail else sending_kind(screen, row)
    if not registry.rules(kind).attachments:
        # The website chat shows the visitor no files we send (only a count), so it takes
        # none: say where files do go.
        also = " (ctrl+o continues by e-mail)" if kind == "chat" else ""
        composer.say(
            f"{channel_name(kind)} replies carry text only: files go with e-mail, Messenger "
            f"and WhatsApp replies{also}."
        )
        return
    holder: Any = composer.fields if composer.is_mail else composer
    if not holder.files:
        _ask_path(screen, holder, kind)
        return
    choices: list[Choice[Any]] = [Choice("add", Text("Attach a file…", style="bold"))]
    for i, label in enumerate(describe_files(holder.files)):
        choices.append(Choice(i, Text("Remove ") + safe_line(label)))

    def chosen(value: Any) -> None:
        if value == "add":
            _ask_path(screen, holder, kind)
        elif isinstance(value, int):
            holder.remove_file(value)
            composer.editor.focus()
        else:
            composer.editor.focus()

    screen.app.push_screen(PickerScreen("Files", choices), chosen)


def _ask_path(screen: InboxScreen, holder: Any, kind: str) -> None:
    """`holder`: what keeps the files (the e-mail fields, or the composer itself)."""

    def check(path: str) -> str | None:
        already = 0
        for f in holder.files:
            already += os.path.getsize(f) if os.path.isfile(f) else 0
        return file_problem(kind, path, already)

    def attached(path: str | None) -> None:
        if path:
            holder.add_file(path)  # shown in the Files row: no toast needed
        screen.composer.editor.focus()

    limit = f"up to {composing.megabytes(composing.MAX_ATTACHMENT_BYTES)} in all"
    if kind != "email":
        limit += f", as {channel_name(kind)} takes them"
    start = str(Path.cwd()) + os.sep
    screen.app.push_screen(
        PromptScreen(
            "Attach a file",
            value=start,
            hint=f"→ completes · enter attach · esc cancel · {limit}",
            check=check,
            suggester=PathSuggester(),
        ),
        attached,
    )


# ---------------------------------------------------------------------- $EDITOR


def edit_outside(screen: InboxScreen) -> None:
    """ctrl+e: the draft's text in $VISUAL / $EDITOR (the terminal handed over with
    App.suspend), read back when it exits. An editor that fails leaves the text as it was."""
    composer = screen.composer
    app = screen.app
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, path = tempfile.mkstemp(prefix="unibox-draft-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # A text file ends with a newline (editors add one; reading back drops it).
            text = composer.editor.text
            f.write(text + "\n" if text else "")
        argv = [*shlex.split(command), path]
        try:
            try:
                with app.suspend():
                    code = subprocess.run(argv, check=False).returncode
            except SuspendNotSupported:
                if not app.is_headless:
                    screen.notify(
                        "This terminal cannot be handed to an editor here.",
                        severity="warning",
                        markup=False,
                    )
                    return
                # Headless (tests, scripts): no terminal to hand over; run it as is.
                code = subprocess.run(
                    argv, check=False, stdin=subprocess.DEVNULL, capture_output=True
                ).returncode
        except (FileNotFoundError, PermissionError):
            screen.notify(
                f"Cannot run the editor {one_line(command, 60)!r}; set EDITOR to your editor.",
                severity="error",
                markup=False,
            )
            return
        if code != 0:
            screen.notify(
                f"The editor exited with status {code}; the text is as it was.",
                severity="warning",
                markup=False,
            )
            return
        text = clean(Path(path).read_text(encoding="utf-8", errors="replace")).rstrip("\n")
        if text != composer.editor.text:
            composer.editor.load_text(text)
            composer.editor.move_cursor(composer.editor.document.end)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        if composer.is_open:
            composer.editor.focus()


# ---------------------------------------------------------------------- forward


def forward(screen: InboxScreen) -> None:
    """F: forward the conversation, or one of its messages, to an e-mail address."""
    need = screen._need()
    if need is None:
        return
    row, me = need
    now = screen.uapp.now()
    messages = [m for m in screen._messages(row.id) if m.kind in ("incoming", "outgoing")]
    choices: list[Choice[Any]] = [
        Choice("", Text(f"The whole conversation ({len(messages)} messages)", style="bold"))
    ]
    for m in reversed(messages[-30:]):
        label = safe_line(m.author, "bold")
        label.append(f"  {when(m.created_at, now)}  ", "dim")
        label.append_text(safe_line(m.body, limit=60))
        choices.append(Choice(m.id, label, f"{m.author} {m.body[:200]}"))

    def chosen(message_id: str | None) -> None:
        if message_id is not None:
            _forward_to(screen, row, me, message_id or None)

    screen.app.push_screen(PickerScreen(f"Forward “{row.subject}”", choices), chosen)


def _forward_to(screen: InboxScreen, row: ConversationRow, me: str, message_id: str | None) -> None:
    def check(text: str) -> str | None:
        try:
            if not composing.parse_addresses(text, "To"):
                return "Type an e-mail address."
        except InvalidRequest as e:
            return str(e)
        return None

    def addressed(text: str | None) -> None:
        if not text:
            return
        to = composing.parse_addresses(text, "To")
        screen.app.push_screen(
            PromptScreen("A note above it (optional)", hint="enter forward · esc cancel"),
            lambda note: _send_forward(screen, row, me, message_id, to, note),
        )

    what = "this message" if message_id else "the conversation"
    screen.app.push_screen(
        PromptScreen(f"Forward {what} to", hint="e-mail addresses, comma-separated", check=check),
        addressed,
    )


def _send_forward(
    screen: InboxScreen,
    row: ConversationRow,
    me: str,
    message_id: str | None,
    to: list[str],
    note: str | None,
) -> None:
    if note is None:
        return  # esc: nothing sent

    def done(_result: Any) -> None:
        screen.notify(f"Forwarded to {', '.join(to)}.", markup=False)

    screen.uapp.commands.run(
        commands.forward,
        row.id,
        to,
        actor=me,
        message_id=message_id,
        note=note or None,
        now=screen.uapp.now(),
        then=done,
    )
