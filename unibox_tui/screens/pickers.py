"""Small dialogs: a list filtered as you type (assign, move, snooze, snippets, filters,
attachments) and a one-line prompt. Both return their answer through `dismiss`, or None."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from ..widgets.safe_text import safe_line

T = TypeVar("T")


@dataclass
class Choice(Generic[T]):
    value: T
    label: Text
    search: str = ""  # what the filter matches (lower-cased); the label's text if empty
    disabled: bool = False

    def matches(self, words: list[str]) -> bool:
        haystack = (self.search or self.label.plain).lower()
        return all(word in haystack for word in words)


class _AnswersOnce:
    """A modal that answers once: a second enter (or esc) that reached it before the first
    answer took it off the screen is ignored. Textual's `dismiss` pops whatever screen is
    on top, so the second one closed the inbox under it, and a third crashed the app (keys
    come in bunches over the browser app's websocket)."""

    _answered = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._answered:
            return AwaitComplete.nothing()
        self._answered = True
        return super().dismiss(result)  # type: ignore[misc, no-any-return]


class PickerScreen(_AnswersOnce, ModalScreen[Any]):
    """Choose one of a few choices; typing filters them (every word must match). `typed`
    may turn the text itself into a choice, shown first (a snooze time typed in)."""

    BINDINGS = actions.bindings(actions.PICKER)
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical {
        width: 64; max-width: 90%; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    PickerScreen #picker-title { text-style: bold; height: auto; }
    PickerScreen #picker-hint { color: $text-muted; height: auto; }
    PickerScreen OptionList {
        height: auto; max-height: 20; border: none; padding: 0;
        text-wrap: nowrap; text-overflow: ellipsis;  /* a wrapped choice reads as two */
    }
    """

    def __init__(
        self,
        title: str,
        choices: Sequence[Choice[Any]],
        *,
        hint: str = "type to filter · ↑↓ choose · enter select · esc cancel",
        placeholder: str = "filter…",
        id: str | None = None,
        typed: Callable[[str], Choice[Any] | None] | None = None,
    ) -> None:
        super().__init__(id=id)
        self.typed = typed
        self.title_text = title
        self.choices = list(choices)
        self.shown: list[Choice[Any]] = []
        self.hint = hint
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            # Titles quote subjects and file names: customer text.
            yield Static(safe_line(self.title_text), id="picker-title")
            yield Input(placeholder=self.placeholder, id="picker-filter")
            yield OptionList(id="picker-options")
            yield Static(Text(self.hint), id="picker-hint")

    def on_mount(self) -> None:
        self._refilter("")
        self.query_one(Input).focus()

    @property
    def options(self) -> OptionList:
        return self.query_one("#picker-options", OptionList)

    def _refilter(self, text: str) -> None:
        words = text.lower().split()
        own = self.typed(text) if self.typed and words else None
        self.shown = ([own] if own else []) + [c for c in self.choices if c.matches(words)]
        options = self.options
        options.clear_options()
        options.add_options(
            [Option(c.label, disabled=c.disabled) for c in self.shown]
            or [Option(Text("nothing matches", style="dim italic"), disabled=True)]
        )
        first = next((i for i, c in enumerate(self.shown) if not c.disabled), None)
        options.highlighted = first

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refilter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._choose(self.options.highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option_index)

    def _choose(self, index: int | None) -> None:
        if index is None or index >= len(self.shown) or self.shown[index].disabled:
            return
        self.dismiss(self.shown[index].value)

    def action_picker_down(self) -> None:
        self.options.action_cursor_down()

    def action_picker_up(self) -> None:
        self.options.action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PromptScreen(_AnswersOnce, ModalScreen[str | None]):
    """Ask for one line of text (a custom snooze time, a path to save to)."""

    BINDINGS = actions.bindings(actions.MODAL)
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 64; max-width: 90%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    PromptScreen #prompt-title { text-style: bold; }
    PromptScreen #prompt-hint { color: $text-muted; }
    PromptScreen #prompt-error { color: $error; height: auto; }
    """

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        hint: str = "",
        check: Any = None,
        suggester: Suggester | None = None,
    ) -> None:
        """`check(text) -> str | None` returns an error line to show instead of closing;
        `suggester` completes what is typed (a file path)."""
        super().__init__()
        self.title_text, self.value, self.hint, self.check = title, value, hint, check
        self.suggester = suggester

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_line(self.title_text), id="prompt-title")
            yield Input(value=self.value, id="prompt-input", suggester=self.suggester)
            yield Static("", id="prompt-error")
            yield Static(Text(self.hint or "enter accept · esc cancel"), id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        error = self.check(event.value) if self.check else None
        if error:
            self.query_one("#prompt-error", Static).update(Text(error))
            return
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
