"""Help (`?`): every binding of the screen it was opened from, with its id for the keymap."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import actions
from ..widgets.glyphs import LEGEND

SCOPE_TITLES = {
    actions.APP: "Everywhere",
    actions.INBOX: "Inbox",
    actions.LIST: "Conversation list",
    actions.VIEWS: "Views pane",
    actions.THREAD: "Thread",
    actions.COMPOSER: "Reply / comment editor",
    actions.PICKER: "Pickers",
    actions.FORM: "Forms",
    actions.MODAL: "Dialogs",
    actions.NOTIFICATIONS: "Notifications",
    actions.SETTINGS: "Settings",
    actions.REPORTS: "Reports",
}


def key_label(keys: str) -> str:
    """`question_mark,ctrl+p` -> `?  ctrl+p` (Textual key names to what is on the key)."""
    names = {
        "question_mark": "?",
        "comma": ",",
        "slash": "/",
        "escape": "esc",
        "pagedown": "pgdn",
        "pageup": "pgup",
        "down": "↓",
        "up": "↑",
        "exclamation_mark": "!",
        "at": "@",
        "number_sign": "#",
        "dollar_sign": "$",
        "percent_sign": "%",
        "circumflex_accent": "^",
    }
    return "  ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


def help_table(scopes: tuple[str, ...], keymap: dict[str, str]) -> Table:
    table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold", expand=True)
    # Every cell is a Text: a plain str would be read as markup ("[keymap]" vanishes).
    table.add_column(Text("Keys"), no_wrap=True, style="bold")
    table.add_column(Text("Does"))
    # "Id" only: the legend above says the ids are for config.toml [keymap], and a long
    # header took 25 columns from the descriptions at 80x24.
    table.add_column(Text("Id"), style="dim", no_wrap=True)
    seen: set[str] = set()
    for scope in scopes:
        # Each binding once, under the first of the screen's scopes it belongs to.
        specs = [s for s in actions.ACTIONS if scope in s.scopes and s.id not in seen]
        seen.update(s.id for s in specs)
        if not specs:
            continue
        table.add_row(Text(SCOPE_TITLES.get(scope, scope), style="underline"), Text(), Text())
        for spec in specs:
            keys = key_label(actions.keys_for(spec, keymap))
            table.add_row(Text(keys), Text(spec.description), Text(spec.id))
        table.add_row(Text(), Text(), Text())
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = actions.bindings(actions.MODAL)
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 95%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #help-legend { color: $text-muted; margin-bottom: 1; }
    """

    def __init__(self, scopes: tuple[str, ...], keymap: dict[str, str]) -> None:
        super().__init__()
        self.scopes, self.keymap = scopes, keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(
                Text("Keys  ·  esc closes  ·  remap any id in config.toml [keymap]", style="bold")
            )
            yield Static(Text(LEGEND), id="help-legend")
            yield Static(help_table(self.scopes, self.keymap), id="help-table")

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
