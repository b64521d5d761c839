"""The reply / comment editor at the bottom of the thread.

One TextArea, two modes: *reply* (goes to the customer on the conversation's channel, or by
e-mail when "continue by e-mail" is switched on) and *comment* (internal; `@` opens a popup
of teammates, and mentions are highlighted as you type). An e-mail reply has its fields
(widgets/address_fields.py, files among them); a reply on another channel that takes files
(Messenger, WhatsApp) keeps its files here, shown in one row under the editor. The composer only edits text and
says what the agent wants (`Send`, `Closed`); the inbox screen runs the command and keeps
drafts per conversation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option

from .. import actions
from ..core.composing import MailFields
from ..core.mentions import find_mentions
from ..core.queries import AgentRow
from .address_fields import AddressFields, MailSetup, files_line
from .glyphs import channel_name
from .safe_text import safe

MAX_SUGGESTIONS = 6
# The `@word` being typed just before the cursor (same rule as core.mentions: not after a
# word character, so e-mail addresses do not open the popup).
TYPING_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.-]*)$")


@dataclass
class Draft:
    mode: str  # "reply" | "comment"
    text: str
    via_channel_id: str | None = None
    # E-mail replies: To, Cc, Bcc, files, quote; replies on other channels: files only.
    mail: MailFields | None = None


def matching_agents(agents: list[AgentRow], prefix: str) -> list[AgentRow]:
    """Teammates whose handle starts with the prefix, then those whose name contains it."""
    p = prefix.lower()
    first = [a for a in agents if a.handle.startswith(p)]
    rest = [a for a in agents if a not in first and p in a.name.lower()]
    return (first + rest)[:MAX_SUGGESTIONS]


class MentionPopup(OptionList):
    """Teammates matching the `@word` being typed."""

    DEFAULT_CSS = """
    MentionPopup {
        display: none;
        height: auto;
        max-height: 8;
        border: round $warning;
        background: $surface;
        padding: 0;
    }
    MentionPopup.-visible { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="mention-popup")
        self.can_focus = False
        self.agents: list[AgentRow] = []

    def show_agents(self, agents: list[AgentRow]) -> None:
        self.agents = agents
        self.clear_options()
        for agent in agents:
            label = Text(f"@{agent.handle}", style="bold")
            label.append(f"  {agent.name}")
            label.append(f"  {agent.availability}", style="dim")
            presence = getattr(self.app, "presence_of", lambda _id: None)(agent.id)
            if presence is not None:  # on a hub: online / away / offline now
                label.append(f" · {presence}", style="dim")
            self.add_option(Option(label, id=agent.handle))
        self.highlighted = 0 if agents else None
        self.set_class(bool(agents), "-visible")

    def hide(self) -> None:
        self.agents = []
        self.remove_class("-visible")

    @property  # type: ignore[misc]  # shadows Widget.visible, which has a setter
    def visible(self) -> bool:
        return self.has_class("-visible")

    @property
    def chosen(self) -> AgentRow | None:
        index = self.highlighted
        return self.agents[index] if index is not None and index < len(self.agents) else None


class EditorArea(TextArea):
    """The TextArea, plus the mention popup's keys and mention highlighting."""

    COMPONENT_CLASSES = {"editor--mention"}
    DEFAULT_CSS = """
    EditorArea { height: 1fr; min-height: 3; }
    EditorArea > .editor--mention { color: $warning; text-style: bold; }
    """

    def __init__(self, composer: Composer) -> None:
        self.handles: set[str] = set()
        super().__init__(id="editor", soft_wrap=True, tab_behavior="focus")
        self.composer = composer

    def on_key(self, event: events.Key) -> None:
        # Runs before TextArea's own key handler (subclass first); prevent_default stops
        # that one, so the popup's keys do not also move the cursor or insert a newline.
        popup = self.composer.popup
        if popup.visible and event.key in ("up", "down", "tab", "enter", "escape"):
            event.stop()
            event.prevent_default()
            if event.key == "up":
                popup.action_cursor_up()
            elif event.key == "down":
                popup.action_cursor_down()
            elif event.key == "escape":
                popup.hide()
            else:
                self.composer.accept_mention()

    def get_line(self, line_index: int) -> Text:
        # TextArea's hook for styling a line: known @handles (comment mode only).
        line = super().get_line(line_index)
        if self.handles:
            style = self.get_component_rich_style("editor--mention")
            for start, end, handle in find_mentions(line.plain):
                if handle in self.handles:
                    line.stylize(style, start, end)
        return line

    def mention_spans(self, line_index: int) -> list[tuple[int, int]]:
        """(start, end) of the highlighted @handles of a line."""
        style = self.get_component_rich_style("editor--mention")
        return [(s.start, s.end) for s in self.get_line(line_index).spans if s.style == style]

    def set_handles(self, handles: set[str]) -> None:
        self.handles = handles
        self.notify_style_update()  # TextArea drops its cached lines there
        self.refresh()


class Composer(Vertical):
    """Reply / comment editor. Hidden until opened with `r` or `c`."""

    BINDINGS = actions.bindings(actions.COMPOSER)
    DEFAULT_CSS = """
    Composer {
        display: none;
        height: 12;
        border-top: solid $accent;
        background: $surface;
    }
    Composer.-open { display: block; }
    Composer.-mail { height: 18; }
    .-narrow Composer.-mail, .-medium Composer.-mail { height: 14; }
    Composer.-comment { border-top: solid $warning; background: $warning 8%; }
    Composer #composer-head { height: 1; padding: 0 1; }
    Composer #composer-hint { height: 1; padding: 0 1; color: $text-muted; }
    Composer #composer-signature { height: auto; max-height: 2; padding: 0 1; display: none; }
    Composer.-mail #composer-signature { display: block; }
    Composer.-files #composer-hint { height: auto; max-height: 3; }
    Composer #composer-files { height: auto; max-height: 2; padding: 0 1; display: none; }
    Composer #composer-error {
        height: auto; padding: 0 1; color: $error; text-style: bold; display: none;
    }
    """

    class Send(Message):
        def __init__(self, draft: Draft) -> None:
            super().__init__()
            self.draft = draft

    class Closed(Message):
        """Esc: the editor closed; the draft is kept by the screen."""

    class Snippet(Message):
        """The agent asked for the snippet picker."""

    class SwitchChannel(Message):
        """The agent asked to continue by e-mail (or back)."""

    class ExternalEditor(Message):
        """ctrl+e: edit the text in $EDITOR."""

    class Files(Message):
        """ctrl+l: attach a file, or remove one (the screen knows which channels take
        files)."""

    class InsertLink(Message):
        """The agent asked for a meeting link or a knowledge article (screens/links.py)."""

    class Template(Message):
        """The agent asked for a WhatsApp template (screens/templates.py)."""

    def __init__(self) -> None:
        super().__init__(id="composer")
        self.mode = "reply"
        self.via_channel_id: str | None = None
        self.channel_kind: str | None = None
        self.notice: Text | None = None  # e.g. the reply window closed (screens/templates.py)
        self.agents: list[AgentRow] = []
        self.popup = MentionPopup()
        self.editor = EditorArea(self)
        self.fields = AddressFields()
        # A reply's files on a channel other than e-mail (paths, read when it is sent).
        self.files: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="composer-head")
        yield self.fields
        yield self.popup
        yield self.editor
        yield Static(id="composer-files")
        yield Static(id="composer-error")
        yield Static(id="composer-signature")
        yield Static(id="composer-hint")

    # ------------------------------------------------------------------ state

    def open(
        self,
        draft: Draft,
        *,
        channel_kind: str | None,
        agents: list[AgentRow],
        focus: bool = True,
        mail: MailSetup | None = None,
        prefill: MailFields | None = None,
    ) -> None:
        """`mail`: an e-mail reply (From / To / Cc / Bcc, files, quote, signature), its fields
        from the draft, else `prefill` (the thread's addresses)."""
        self.agents = agents
        self.channel_kind = channel_kind
        self.mode = draft.mode
        self.via_channel_id = draft.via_channel_id
        if mail is None:
            self.fields.unload()
            self.files = list(draft.mail.files) if draft.mail is not None else []
        else:
            self.fields.load(mail, draft.mail or prefill or MailFields(), draft.via_channel_id)
            self.files = []
        self.say("")
        self._show_files()
        if self.editor.text != draft.text:
            self.editor.load_text(draft.text)
            self.editor.move_cursor(self.editor.document.end)
        self.editor.read_only = False
        self.add_class("-open")
        self._mode_changed()
        if focus:
            self.editor.focus()

    def close(self) -> None:
        self.popup.hide()
        self.editor.read_only = False
        self.remove_class("-open")

    def sending(self) -> None:
        """Sent, not yet taken: the text stays on screen, read-only, while keys typed
        straight after ctrl+s (an `x` to close) go to the thread instead of into an editor
        that is about to be cleared."""
        self.popup.hide()
        self.editor.read_only = True

    def resume(self) -> None:
        """The send was refused: the text is editable again, where it was."""
        self.editor.read_only = False
        if self.is_open:
            self.editor.focus()

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def draft(self) -> Draft:
        if self.fields.setup is not None:
            return Draft(
                self.mode, self.editor.text, self.fields.via_channel_id, self.fields.fields()
            )
        files = MailFields(files=list(self.files)) if self.files else None
        return Draft(self.mode, self.editor.text, self.via_channel_id, files)

    def clear(self) -> None:
        # Runs on every `j`: ask whether there is text without joining it into a string.
        if self.editor.document.end != (0, 0):
            self.editor.load_text("")
        self.via_channel_id = None
        self.fields.unload()
        self.set_class(False, "-mail")
        if self.files:
            self.files = []
            self._show_files()

    # ------------------------------------------------------------------ files

    def add_file(self, path: str) -> None:
        self.files.append(os.path.expanduser(path.strip()))
        self.say("")
        self._show_files()

    def remove_file(self, index: int) -> None:
        if 0 <= index < len(self.files):
            del self.files[index]
            self.say("")
            self._show_files()

    def say(self, error: str) -> None:
        """One line under the editor: why the reply (or a file of it) cannot go."""
        line = self.query_one("#composer-error", Static)
        line.update(Text(error))
        line.display = bool(error)

    def _show_files(self) -> None:
        row = self.query_one("#composer-files", Static)
        shown = bool(self.files) and self.mode == "reply"
        row.display = shown
        if shown:
            row.update(files_line(self.files))

    @property
    def is_mail(self) -> bool:
        """An e-mail reply with its fields shown."""
        return self.fields.setup is not None and self.mode == "reply"

    def focusables(self) -> list[Widget]:
        """What tab visits in the composer, in order."""
        fields: list[Widget] = list(self.fields.inputs()) if self.is_mail else []
        return [*fields, self.editor]

    def set_via(self, channel_id: str | None) -> None:
        self.via_channel_id = channel_id
        self._mode_changed()

    def insert(self, text: str) -> None:
        self.editor.insert(text)
        self.editor.focus()

    def _mode_changed(self) -> None:
        self._show_files()
        comment = self.mode == "comment"
        self.set_class(comment, "-comment")
        mail = self.is_mail
        self.set_class(mail, "-mail")
        self.fields.set_class(mail, "-on")
        signature = self.fields.signature if mail else ""
        sig = Text("-- ", "dim")
        sig.append_text(safe(signature, "dim italic") if signature else Text("no signature", "dim"))
        self.query_one("#composer-signature", Static).update(sig)
        self.editor.set_handles({a.handle for a in self.agents} if comment else set())
        if not comment:
            self.popup.hide()
        head = Text()
        head.append(" Reply ", "reverse bold" if not comment else "dim")
        head.append(" ")
        head.append(" Internal comment ", "reverse bold" if comment else "dim")
        if comment:
            head.append("  only your team sees this; @ mentions a teammate", "italic")
        elif mail:
            head.append("  e-mail", "italic")
        else:
            via = "email" if self.via_channel_id else self.channel_kind
            head.append(f"  to the customer via {channel_name(via)}", "italic")
            if self.via_channel_id:
                head.append(" (continuing by e-mail)", "bold")
        self.query_one("#composer-head", Static).update(head)
        hint = "ctrl+s send · esc close (draft kept) · ctrl+r reply/comment · ctrl+t snippet"
        if mail:
            hint = (
                "ctrl+s send · esc keep · ctrl+l files · ctrl+g quote · ctrl+e $EDITOR · "
                "ctrl+r comment · ctrl+t snippet"
            )
        files = (
            not comment
            and not mail
            and (self.channel_kind in ("messenger", "whatsapp") or bool(self.via_channel_id))
        )
        self.set_class(files, "-files")  # more keys than one line holds: the hint wraps
        if files:
            hint = "ctrl+s send · esc keep · ctrl+r comment · ctrl+t snippet · ctrl+l files"
        if not comment and self.channel_kind in ("chat", "messenger"):
            hint += " · ctrl+o continue by e-mail"
        if not comment and self.channel_kind == "whatsapp":
            hint += " · ctrl+n template"
        if not comment and self.notice is not None and not self.via_channel_id:
            # The reply window closed: what still works matters more than the usual keys.
            self.query_one("#composer-hint", Static).update(self.notice)
            return
        self.query_one("#composer-hint", Static).update(Text(hint))

    # ------------------------------------------------------------------ mentions

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._update_popup()

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        self._update_popup()

    def _typing_mention(self) -> re.Match[str] | None:
        row, col = self.editor.cursor_location
        line = self.editor.document.get_line(row)
        return TYPING_MENTION.search(line[:col])

    def _update_popup(self) -> None:
        if self.mode != "comment":
            return
        typing = self._typing_mention()
        if typing is None:
            self.popup.hide()
            return
        self.popup.show_agents(matching_agents(self.agents, typing.group(1)))

    def accept_mention(self) -> None:
        agent = self.popup.chosen
        typing = self._typing_mention()
        self.popup.hide()
        if agent is None or typing is None:
            return
        row, col = self.editor.cursor_location
        start = (row, col - len(typing.group(0)))
        self.editor.replace(f"@{agent.handle} ", start, (row, col))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.popup.highlighted = event.option_index
        self.accept_mention()
        self.editor.focus()

    # ------------------------------------------------------------------ actions

    def action_send(self) -> None:
        self.post_message(self.Send(self.draft()))

    def action_cancel(self) -> None:
        self.close()
        self.post_message(self.Closed())

    def action_toggle_mode(self) -> None:
        self.mode = "comment" if self.mode == "reply" else "reply"
        self._mode_changed()
        self._update_popup()

    def action_snippet(self) -> None:
        self.post_message(self.Snippet())

    def action_switch_channel(self) -> None:
        self.post_message(self.SwitchChannel())

    def action_external_editor(self) -> None:
        self.post_message(self.ExternalEditor())

    def action_files(self) -> None:
        if self.mode == "comment":
            self.app.notify("Files go with replies to the customer, not comments.", markup=False)
        else:
            self.post_message(self.Files())

    def action_next_from(self) -> None:
        if self.is_mail:
            self.fields.next_from()
            self._mode_changed()  # the signature is the From channel's

    def action_toggle_quote(self) -> None:
        if self.is_mail:
            self.fields.toggle_quote()
        else:
            self.app.notify("Quoting is for e-mail replies.", markup=False)

    def action_insert_link(self) -> None:
        self.post_message(self.InsertLink())

    def action_template(self) -> None:
        self.post_message(self.Template())

    def set_notice(self, notice: Text | None) -> None:
        self.notice = notice
        self._mode_changed()
