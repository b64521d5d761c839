"""The settings screen's Routing section: each inbox's routing and hours, and each channel's
own routing (or "as the inbox"). A mixin of SettingsScreen (screens/settings.py), which
dispatches `n`/`e`/`d` to `_add_routing`/`_edit_routing`/`_remove_routing` like its other
sections. The rules themselves are core/routing.py; the commands core/commands/routing.py.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from ..core.text import one_line


def routing_rows(ws: Any) -> list[Any]:
    """Every inbox's routing, then its channels' (RoutingView rows). Runs in the loader."""
    from ..core import admin_queries as aq
    from ..core.commands.routing import show_routing

    rows: list[Any] = []
    for inbox in aq.inboxes(ws):
        rows += show_routing(ws, inbox.id)
    return rows


def routing_label(v: Any) -> Text:
    if v.channel is None:
        text = Text(one_line(v.inbox, 40), style="bold")
        text.append(f"  {v.summary}", style="")
        text.append(f"\n  hours: {v.hours_text}", style="dim")
        return text
    text = Text(f"  {one_line(v.channel, 40)}", style="")
    how = v.summary if v.own else "as the inbox" + ("; opens a ticket" if v.tickets else "")
    text.append(f"  {how}", style="dim" if not v.own else "")
    return text


class RoutingSection:
    """`e` edits the highlighted inbox's or channel's routing (an inbox's form has its hours
    too); `d` turns an inbox's routing off, or makes a channel route as its inbox again."""

    def _add_routing(self) -> None:
        self.notify(  # type: ignore[attr-defined]
            "Every inbox and channel is listed: e edits one's routing.", markup=False
        )

    def _edit_routing(self, v: Any) -> None:
        from ..core import hours
        from ..core.errors import UniboxError
        from .settings import Field

        if not self.allowed("change routing"):  # type: ignore[attr-defined]
            return
        me = self.uapp.me_id  # type: ignore[attr-defined]
        yes_no = ["yes", "no"]
        fields = [
            Field(
                "rules",
                "Rules in order: off, owner, round-robin (e.g. owner,round-robin)",
                ",".join(r.replace("_", "-") for r in v.rules) or "off",
            ),
            Field(
                "teams",
                "Round robin's teams (names, comma-separated; empty: everyone)",
                ", ".join(v.teams),
            ),
            Field("agents", "Round robin's agents (handles)", " ".join(f"@{a}" for a in v.agents)),
            Field("cap", "Most open conversations per agent (empty: no cap)", str(v.cap or "")),
            Field(
                "available",
                "Only available agents",
                "yes" if v.only_available else "no",
                "select",
                yes_no,
            ),
            Field(
                "tickets",
                "Open a ticket for every new conversation",
                "yes" if v.tickets else "no",
                "select",
                yes_no,
            ),
        ]
        if v.channel is None:
            h = hours.load(json.dumps(v.hours))
            fields += [
                Field("tz", "Time zone (empty: always open)", h.tz, placeholder="Europe/Lisbon"),
                Field("week", "Hours", hours.week_text(h), placeholder="mon-fri 09:00-17:00"),
                Field("holidays", "Holidays (YYYY-MM-DD, space-separated)", " ".join(h.holidays)),
            ]

        def save(values: dict[str, str]) -> None:
            from .settings import _words

            try:
                cap = int(values["cap"]) if values["cap"] else None
                week = hours.parse_week(values["week"]) if values.get("week") else {}
            except ValueError:
                self.notify("The cap is a whole number.", severity="error", markup=False)  # type: ignore[attr-defined]
                return
            except UniboxError as e:
                self.notify(str(e), severity="error", markup=False)  # type: ignore[attr-defined]
                return
            where = v.inbox if v.channel is None else f"{v.inbox} · {v.channel}"
            self.run(  # type: ignore[attr-defined]
                f"Saved routing of {one_line(where, 60)}",
                _save_routing,
                v.inbox,
                v.channel,
                values,
                cap,
                [t.strip() for t in values["teams"].split(",") if t.strip()],
                _words(values["agents"]),
                week,
                me,
            )

        title = f"Routing: {v.inbox}" + (f" · {v.channel}" if v.channel else "")
        self._form(title, fields, save)  # type: ignore[attr-defined]

    def _remove_routing(self, v: Any) -> None:
        from ..core import commands

        if not self.allowed("change routing"):  # type: ignore[attr-defined]
            return
        me = self.uapp.me_id  # type: ignore[attr-defined]
        if v.channel is None:
            question = f"Turn routing off for {v.inbox}? New conversations stay unassigned."
            self._confirm(  # type: ignore[attr-defined]
                question,
                lambda: self.run(  # type: ignore[attr-defined]
                    f"Routing off for {one_line(v.inbox, 60)}",
                    commands.set_routing,
                    v.inbox,
                    rules="off",
                    actor=me,
                ),
            )
            return
        self._confirm(  # type: ignore[attr-defined]
            f"Let {v.channel} route as its inbox does?",
            lambda: self.run(  # type: ignore[attr-defined]
                f"{one_line(v.channel, 60)} routes as {one_line(v.inbox, 60)}",
                commands.set_routing,
                v.inbox,
                channel=v.channel,
                inherit=True,
                actor=me,
            ),
        )


def _save_routing(
    ws: Any,
    inbox: str,
    channel: str | None,
    values: dict[str, str],
    cap: int | None,
    teams: list[str],
    agents: list[str],
    week: dict[str, list[str]],
    actor: str | None,
) -> None:
    """One form's changes: the routing, then (an inbox) its hours. Run in the screen's worker,
    each through the command registry (validated like the CLI's)."""
    from ..core import commands
    from ..core.commands.registry import call

    call(
        ws,
        commands.set_routing,
        inbox,
        channel=channel,
        rules=values["rules"],
        teams=teams,
        agents=agents,
        cap=cap,
        no_cap=cap is None,
        only_available=values["available"] == "yes",
        tickets=values["tickets"] == "yes",
        actor=actor,
    )
    if channel is None:
        tz = values.get("tz", "")
        if tz:
            holidays = values.get("holidays", "").split()
            call(
                ws,
                commands.set_inbox_hours,
                inbox,
                tz=tz,
                week=week,
                holidays=holidays,
                actor=actor,
            )
        else:
            call(ws, commands.set_inbox_hours, inbox, clear=True, actor=actor)
