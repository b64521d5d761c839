"""The chatflows view (palette: "Chatflows"): every chatflow of the chat channels with its
type, state, priority, pages and, for a bot, its report (started / completed / handed off /
abandoned); the highlighted one's TOML below. Space enables or disables it (admins: the core
checks); the text itself is edited with `unibox chatflow edit NAME`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from ..core.chatflows import describe_target
from ..widgets.safe_text import safe, safe_line
from .list_keys import ListKeys
from .on_app import OnApp

if TYPE_CHECKING:
    pass

HINT = "space enable/disable · ↑↓ choose · edit: unibox chatflow edit NAME · esc close"


@dataclass
class FlowLine:
    row: Any  # chatflow_queries.ChatflowRow
    stats: Any  # chatflow_queries.BotStats


def flow_label(line: FlowLine) -> Text:
    row, stats = line.row, line.stats
    label = Text()
    label.append("● " if row.enabled else "○ ", style="green" if row.enabled else "dim")
    label.append_text(safe_line(row.name, limit=24))
    label.append(f"  {'bot' if row.kind == 'bot' else 'live chat'}", style="bold")
    label.append(f"  priority {row.priority}", style="dim")
    label.append("  on ", style="dim")
    label.append_text(safe_line(row.channel_name, limit=20))
    label.append("  ")
    label.append_text(safe_line(describe_target(row.spec.get("target", {})), limit=50))
    if row.kind == "bot":
        label.append(
            f"\n    {stats.started} started · {stats.completed} completed · "
            f"{stats.handed_off} handed off · {stats.abandoned} abandoned",
            style="dim",
        )
    return label


class ChatflowsScreen(OnApp, ListKeys, ModalScreen[None]):
    BINDINGS = [*actions.bindings(actions.MODAL), *actions.bindings(actions.CHATFLOWS)]
    HELP_SCOPES = (actions.APP, actions.CHATFLOWS, actions.MODAL)
    DEFAULT_CSS = """
    ChatflowsScreen { align: center middle; }
    ChatflowsScreen > Vertical {
        width: 90%; height: 85%; border: round $accent; background: $surface; padding: 0 1;
    }
    ChatflowsScreen #flows-title { text-style: bold; height: 1; }
    ChatflowsScreen OptionList { height: 1fr; border: none; }
    ChatflowsScreen #flows-source {
        height: 1fr; border-top: solid $accent; color: $text-muted;
    }
    ChatflowsScreen #flows-hint { color: $text-muted; height: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[FlowLine] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Chatflows", id="flows-title")
            yield OptionList(id="flows-list")
            with VerticalScroll(id="flows-source"):
                yield Static(id="flows-text")
            yield Static(Text(HINT), id="flows-hint")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="chatflows-load")
    def load(self) -> None:
        """Chatflows and their reports, read off the UI thread."""
        from ..core import chatflow_queries as fq

        ws = self.uapp.ws
        lines = [FlowLine(row, fq.bot_stats(ws, row.id)) for row in fq.chatflows(ws)]
        self.from_worker(self._show, lines)

    def _show(self, lines: list[FlowLine]) -> None:
        self.lines = lines
        box = self.query_one(OptionList)
        highlighted = box.highlighted
        box.clear_options()
        if not lines:
            box.add_option(
                Option(
                    Text(
                        "No chatflows yet: `unibox chatflow add NAME --channel CHAT` makes one.",
                        style="dim italic",
                    ),
                    disabled=True,
                )
            )
            self._show_source(None)
            return
        box.add_options([Option(flow_label(line), id=line.row.id) for line in lines])
        box.highlighted = min(highlighted or 0, len(lines) - 1)
        box.focus()
        self._show_source(self.selected())

    def selected(self) -> FlowLine | None:
        index = self.query_one(OptionList).highlighted
        if index is None or index >= len(self.lines):
            return None
        return self.lines[index]

    def _show_source(self, line: FlowLine | None) -> None:
        text = Text()
        if line is not None:
            # An admin's text, shown as text: never markup.
            text = safe(line.row.source)
        self.query_one("#flows-text", Static).update(text)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._show_source(self.selected())

    def action_toggle(self) -> None:  # type: ignore[override]
        line = self.selected()
        if line is None:
            return
        from ..core import commands as cmd

        enabled = not line.row.enabled
        word = "enabled" if enabled else "disabled"

        def done(_result: Any) -> None:
            self.notify(f"{line.row.name} {word}", markup=False)
            self.load()

        self.uapp.commands.run(
            cmd.set_chatflow_enabled, line.row.id, enabled, actor=self.uapp.me_id, then=done
        )

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
