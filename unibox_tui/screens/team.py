"""The team view (palette: "Team: who is online"): every active agent with their presence on
the hub (online / away / offline), their availability for assignments and how many open
conversations they hold. Embedded (no hub) it shows availability only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from ..core import queries
from ..widgets.safe_text import safe_line
from .on_app import OnApp

if TYPE_CHECKING:
    pass

PRESENCE_MARK = {"online": ("●", "green"), "away": ("◐", "yellow"), "offline": ("○", "dim")}


def presence_label(presence: str | None) -> Text:
    """`● online`, `◐ away`, `○ offline`; empty when there is no hub to ask."""
    if presence is None:
        return Text()
    mark, style = PRESENCE_MARK.get(presence, ("○", "dim"))
    return Text(f"{mark} {presence}", style=style)


class TeamScreen(OnApp, ModalScreen[None]):
    BINDINGS = actions.bindings(actions.MODAL)
    DEFAULT_CSS = """
    TeamScreen { align: center middle; }
    TeamScreen > Vertical {
        width: 80%; height: 70%; border: round $accent; background: $surface; padding: 0 1;
    }
    TeamScreen #team-title { text-style: bold; height: 1; }
    TeamScreen OptionList { height: 1fr; border: none; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Team", id="team-title")
            yield OptionList(id="team-list")

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        app = self.uapp
        counts = queries.open_counts_by_assignee(app.ws, access=app.access)
        box = self.query_one(OptionList)
        box.clear_options()
        for agent in queries.agents(app.ws):
            if not agent.active:
                continue
            label = Text(f"@{agent.handle:<12} ", style="bold")
            label.append_text(safe_line(agent.name, limit=28))
            label.append("  ")
            label.append_text(presence_label(app.presence_of(agent.id)))
            label.append(f"  {agent.availability}", style="dim")
            label.append(f"  {counts.get(agent.id, 0)} open", style="dim")
            box.add_option(Option(label, id=agent.id))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
