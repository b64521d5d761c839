"""The reports screen (key S, palette "Reports"): how the team is doing, as terminal charts.

Three charts drawn with textual-plotext: conversations opened and closed per day, the
median first response per agent, and the busiest hours (weekday x hour). Above them one line
of figures. `d` steps through the range (7, 30, 90, 180 days to today), `i` through the
inboxes the agent may see. The figures come from core/reports.py in a worker thread (the UI
thread never runs a query that grows with the workspace); they cover only the inboxes the
agent may see, like every other read.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from .. import actions
from ..core import queries
from ..core import reports as r
from ..core.access import Access
from ..core.errors import UniboxError
from ..widgets.safe_text import safe_line
from .on_app import OnApp

if TYPE_CHECKING:
    pass

RANGES = (7, 30, 90, 180)


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ReportsScreen(OnApp, Screen[None]):
    BINDINGS = actions.bindings(actions.REPORTS)
    HELP_SCOPES = (actions.APP, actions.REPORTS)
    DEFAULT_CSS = """
    ReportsScreen { layout: vertical; }
    ReportsScreen #reports-title { height: 1; text-style: bold; padding: 0 1; }
    ReportsScreen #reports-figures { height: auto; padding: 0 1; color: $text-muted; }
    ReportsScreen #reports-top { height: 1fr; }
    ReportsScreen PlotextPlot { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.days = 30
        self.inbox: tuple[str, str] | None = None  # (id, name); None: every visible inbox
        self.loaded = 0  # how many times figures arrived (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Static(id="reports-title")
        yield Static("Loading…", id="reports-figures")
        with Vertical():
            with Horizontal(id="reports-top"):
                yield PlotextPlot(id="volume-chart")
                yield PlotextPlot(id="response-chart")
            yield PlotextPlot(id="hours-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    # ------------------------------------------------------------------ loading

    def load(self) -> None:
        title = Text(f"Reports · last {self.days} days · ")
        title.append_text(safe_line(self.inbox[1] if self.inbox else "every inbox", limit=40))
        self.query_one("#reports-title", Static).update(title)
        # The reader's access is the app's (cached per change, kept on the UI thread).
        access = self.uapp.access
        self.run_worker(lambda: self._fetch(access), thread=True, exclusive=True, group="reports")

    def _fetch(self, access: Access) -> None:
        app = self.uapp
        tz = app.config.tz or UTC
        today = app.now().astimezone(tz).date()
        try:
            scope = r.scope(
                app.ws,
                access,
                start=today - timedelta(days=self.days - 1),
                end=today,
                tz=tz,
                inbox=self.inbox[0] if self.inbox else None,
            )
            data = r.report(
                app.ws,
                access,
                scope,
                sections=("volume", "first_response", "time_to_close", "busiest_hours", "delivery"),
            ).to_json()
        except UniboxError as e:  # e.g. the inbox was removed or hidden meanwhile
            self.from_worker(app.notify, str(e), severity="error", markup=False)
            return
        self.from_worker(self._show, data)

    def _show(self, data: dict[str, Any]) -> None:
        v, f, t = data["volume"], data["first_response"], data["time_to_close"]
        failed = data["delivery"]["states"].get("failed", 0)
        figures = Text()
        figures.append(f"{v['totals']['opened']} opened · {v['totals']['closed']} closed · ")
        figures.append(
            f"first response median {minutes(f['overall']['median_seconds'])}, "
            f"p90 {minutes(f['overall']['p90_seconds'])} · {f['unanswered']} unanswered · "
        )
        figures.append(f"time to close median {minutes(t['cycles']['median_seconds'])} · ")
        figures.append(f"{failed} failed deliveries", style="red" if failed else "")
        self.query_one("#reports-figures", Static).update(figures)
        self._volume(v["per_day"])
        self._response(f["per_agent"])
        self._hours(data["busiest_hours"])
        self.loaded += 1

    # ------------------------------------------------------------------ charts

    def _volume(self, per_day: list[dict[str, Any]]) -> None:
        chart = self.query_one("#volume-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        xs = list(range(len(per_day)))
        plt.plot(xs, [d["opened"] for d in per_day], label="opened", marker="braille")
        plt.plot(xs, [d["closed"] for d in per_day], label="closed", marker="braille")
        step = max(1, len(per_day) // 4)
        plt.xticks([float(x) for x in xs[::step]], [d["day"][5:] for d in per_day[::step]])
        plt.title("Conversations per day")
        chart.refresh()

    def _response(self, per_agent: list[dict[str, Any]]) -> None:
        chart = self.query_one("#response-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        rows = [a for a in per_agent if a["median_seconds"] is not None]
        if rows:
            # Handles are admin-made ([a-z0-9._-]), safe in a chart label.
            labels = [f"@{a['agent']}" for a in rows]
            plt.bar(
                labels, [round(a["median_seconds"] / 60, 1) for a in rows], orientation="horizontal"
            )
        plt.title("First response, median minutes")
        chart.refresh()

    def _hours(self, busiest: dict[str, Any]) -> None:
        self._busiest = busiest
        chart = self.query_one("#hours-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        grid = busiest["grid"]
        top = max((n for row in grid for n in row), default=0) or 1
        # A matrix plot draws one character per cell: each cell is repeated to fill the
        # chart (wide x high), so the map reads as blocks. Brighter is busier (each cell's
        # share of the busiest hour, as a grey level). Row 0 is drawn at the bottom: Sunday
        # goes first so Monday ends on top.
        wide = max(1, (chart.size.width - 8) // 24)
        high = max(1, (chart.size.height - 4) // 7)
        cells = []
        for row in reversed(grid):
            line = [int(255 * n / top) for n in row for _ in range(wide)]
            cells += [line] * high
        plt.matrix_plot(cells)
        plt.yticks([(6 - d) * high + high // 2 for d in range(7)], busiest["weekdays"])
        plt.xticks(
            [h * wide + wide // 2 for h in (0, 6, 12, 18, 23)], ["00", "06", "12", "18", "23"]
        )
        plt.xlabel("hour of day")
        plt.ylabel("")
        plt.title("Busiest hours (customer messages)")
        chart.refresh()

    def on_resize(self) -> None:
        if getattr(self, "_busiest", None) is not None:
            self._hours(self._busiest)

    # ------------------------------------------------------------------ actions

    def action_next_range(self) -> None:
        self.days = RANGES[(RANGES.index(self.days) + 1) % len(RANGES)]
        self.load()

    def action_next_inbox(self) -> None:
        choices: list[tuple[str, str] | None] = [None]
        choices += [(i.id, i.name) for i in queries.visible_inboxes(self.uapp.ws, self.uapp.me_id)]
        at = choices.index(self.inbox) if self.inbox in choices else 0
        self.inbox = choices[(at + 1) % len(choices)]
        self.load()

    def action_back(self) -> None:
        self.dismiss(None)
