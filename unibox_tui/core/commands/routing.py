"""Changing how inboxes and channels route new conversations, and inbox business hours.

What the rules mean, and the routing itself, is core/routing.py. Admins only. `show_routing`
is the read both the CLI and the settings screen use.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from .. import hours as business_hours
from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..kinds import ROUTING_RULES
from ..models import Channel, RoutingRule
from ..routing import effective
from ._base import agent_ref, inbox_ref, require_admin, team_ref


def _rule_row(tx: Tx, inbox_id: str | None, channel_id: str | None) -> RoutingRule:
    row = (
        tx.find(RoutingRule, channel_id=channel_id)
        if channel_id
        else tx.find(RoutingRule, inbox_id=inbox_id)
    )
    if row is None:
        row = RoutingRule(id=new_id(tx.now), inbox_id=None if channel_id else inbox_id)
        row.channel_id = channel_id
        if channel_id is None:
            row.rules = ""  # an inbox's own row starts off
    return row


def _channel_of(tx: Tx, inbox_id: str, ref: str) -> Channel:
    """A channel of the inbox by id or name."""
    rows = tx.session.exec(select(Channel).where(Channel.inbox_id == inbox_id)).all()
    found = next((c for c in rows if ref in (c.id, c.name) or c.name.lower() == ref.lower()), None)
    if found is None:
        raise InvalidRequest(
            f"inbox has no channel {ref!r}; `unibox channel list` shows channels and inboxes"
        )
    return found


def parse_rules(text: str) -> str:
    """ "off", or a comma list of rules in order ("owner,round-robin") -> stored form."""
    names = [p.strip().lower().replace("-", "_") for p in text.split(",") if p.strip()]
    if names in ([], ["off"]):
        return ""
    for name in names:
        if name not in ROUTING_RULES:
            raise InvalidRequest(
                f"unknown routing rule {name!r}; use off, or owner and/or round-robin in order"
            )
    if len(set(names)) != len(names):
        raise InvalidRequest("a routing rule is listed twice")
    return ",".join(names)


def set_routing(
    ws: Workspace,
    inbox: str,
    *,
    actor: str | None = None,
    channel: str | None = None,
    rules: str | None = None,
    agents: list[str] | None = None,
    teams: list[str] | None = None,
    cap: int | None = None,
    no_cap: bool = False,
    only_available: bool | None = None,
    tickets: bool | None = None,
    inherit: bool = False,
    now: datetime | None = None,
) -> bool:
    """Change how `inbox` (or one `channel` of it) routes new conversations; what is not
    given stays. `rules`: "off" or e.g. "owner,round-robin" (tried in order). `agents` /
    `teams`: the pool round robin picks from (empty lists: everyone who may act in the
    inbox). `cap`: open conversations an agent may hold (`no_cap` removes it).
    `inherit` (a channel only): route as the inbox does again. False if nothing changed."""
    with ws.write(now) as tx:
        require_admin(tx, actor, "change routing")
        box = inbox_ref(tx, inbox)
        chan = _channel_of(tx, box.id, channel) if channel else None
        if inherit and chan is None:
            raise InvalidRequest("--inherit is for a channel: it routes as its inbox again")
        if cap is not None and cap < 1:
            raise InvalidRequest(
                "--cap is the most open conversations an agent may hold: 1 or more"
            )
        row = _rule_row(tx, box.id, chan.id if chan else None)
        before = _state(row)
        if chan is not None and row.rules is None and not inherit:
            if any(v is not None for v in (rules, agents, teams, cap, only_available)) or no_cap:
                # A channel's own routing starts as a copy of the inbox's.
                base = tx.find(RoutingRule, inbox_id=box.id)
                row.rules = (base.rules or "") if base else ""
                if base is not None:
                    row.agent_ids, row.team_ids = base.agent_ids, base.team_ids
                    row.cap, row.only_available = base.cap, base.only_available
        if inherit:
            row.rules, row.agent_ids, row.team_ids, row.cap = None, "[]", "[]", None
            row.only_available = True
        if rules is not None:
            row.rules = parse_rules(rules)
        if agents is not None:
            row.agent_ids = json.dumps([agent_ref(tx, a).id for a in agents if a])
        if teams is not None:
            row.team_ids = json.dumps([team_ref(tx, t).id for t in teams if t])
        if cap is not None:
            row.cap = cap
        if no_cap:
            row.cap = None
        if only_available is not None:
            row.only_available = only_available
        if tickets is not None:
            row.tickets = tickets
        if _state(row) == before and row in tx.session:
            return False
        tx.stamp(row)
        return True


def set_inbox_hours(
    ws: Workspace,
    inbox: str,
    *,
    actor: str | None = None,
    tz: str | None = None,
    week: dict[str, Any] | None = None,
    holidays: list[str] | None = None,
    clear: bool = False,
    now: datetime | None = None,
) -> bool:
    """Set an inbox's business hours: `tz` (IANA, e.g. Europe/Lisbon), `week` mapping days
    ("mon".."sun") to spans like ["09:00-17:00"] (days left out are closed), `holidays`
    (YYYY-MM-DD, closed all day). Given parts replace the stored ones; `clear`: always open.
    Outside the hours routing leaves new conversations unassigned. False if unchanged."""
    with ws.write(now) as tx:
        require_admin(tx, actor, "change business hours")
        box = inbox_ref(tx, inbox)
        row = _rule_row(tx, box.id, None)
        old = business_hours.load(row.hours)
        if clear:
            new = business_hours.Hours()
        else:
            zone = tz or old.tz
            if not zone:
                raise InvalidRequest("give the inbox's time zone with --tz (e.g. Europe/Lisbon)")
            spans = (
                {d: list(v) if isinstance(v, list) else [str(v)] for d, v in week.items()}
                if week is not None
                else {d: [f"{a}-{b}" for a, b in s] for d, s in old.week.items()}
            )
            new = business_hours.make(
                zone, spans, list(holidays) if holidays is not None else list(old.holidays)
            )
        text = json.dumps(new.to_json(), sort_keys=True)
        if text == json.dumps(old.to_json(), sort_keys=True) and row in tx.session:
            return False
        row.hours = text
        tx.stamp(row)
        return True


def forget_routing(tx: Tx, *, inbox_id: str | None = None, channel_id: str | None = None) -> None:
    """Drop the routing rows of an inbox or channel being removed (and round robin's place)."""
    row = (
        tx.find(RoutingRule, channel_id=channel_id)
        if channel_id
        else tx.find(RoutingRule, inbox_id=inbox_id)
    )
    if row is None:
        return
    tx.session.connection().exec_driver_sql(
        "DELETE FROM routing_cursor WHERE rule_id = ?", (row.id,)
    )
    tx.delete(row)


def _state(row: RoutingRule) -> tuple[Any, ...]:
    return (
        row.rules,
        row.agent_ids,
        row.team_ids,
        row.cap,
        row.only_available,
        row.tickets,
        row.hours,
    )


# ------------------------------------------------------------------------------- reading


@dataclass
class RoutingView:
    """How one inbox or channel routes, with names, for `routing show` and the settings."""

    inbox: str
    channel: str | None
    own: bool  # a channel: has its own routing (else as the inbox)
    rules: list[str]
    agents: list[str]  # handles
    teams: list[str]
    cap: int | None
    only_available: bool
    tickets: bool
    hours: dict[str, Any]
    hours_text: str
    summary: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def show_routing(ws: Workspace, inbox: str, channel: str | None = None) -> list[RoutingView]:
    """The inbox's routing and each of its channels' (or only `channel`'s)."""
    with ws.read() as conn:
        run = conn.con.execute  # type: ignore[attr-defined]
        row = run(
            "SELECT id, name FROM inbox WHERE id = ? OR lower(name) = lower(?)", (inbox, inbox)
        ).fetchone()
        if row is None:
            from ..errors import NotFound

            raise NotFound(f"no inbox {inbox!r}; `unibox inbox list` lists them")
        inbox_id, inbox_name = row
        channels = run(
            "SELECT c.id, c.name, r.rules IS NOT NULL FROM channel c LEFT JOIN routing_rule r "
            "ON r.channel_id = c.id WHERE c.inbox_id = ? ORDER BY c.name",
            (inbox_id,),
        ).fetchall()
        if channel is not None:
            channels = [
                c for c in channels if channel in (c[0], c[1]) or c[1].lower() == channel.lower()
            ]
            if not channels:
                raise InvalidRequest(f"inbox {inbox_name!r} has no channel {channel!r}")
        handles = dict(run("SELECT id, handle FROM agent").fetchall())
        teams = dict(run("SELECT id, name FROM team").fetchall())
        targets: list[tuple[str | None, str | None, bool]] = (
            [] if channel is not None else [(None, None, True)]
        )
        targets += [(c[0], c[1], bool(c[2])) for c in channels]
        out = []
        for channel_id, channel_name, own in targets:
            r = effective(run, inbox_id, channel_id)
            out.append(
                RoutingView(
                    inbox=inbox_name,
                    channel=channel_name,
                    own=own,
                    rules=list(r.rules),
                    agents=[handles.get(a, a) for a in r.agent_ids],
                    teams=[teams.get(t, t) for t in r.team_ids],
                    cap=r.cap,
                    only_available=r.only_available,
                    tickets=r.tickets,
                    hours=r.hours.to_json(),
                    hours_text=r.hours.describe(),
                    summary=_summary(r, handles, teams),
                )
            )
        return out


def _summary(r: Any, handles: dict[str, str], teams: dict[str, str]) -> str:
    if r.off:
        text = "off (unassigned, for manual triage)"
    else:
        steps = []
        for rule in r.rules:
            if rule == "owner":
                steps.append("contact owner")
            else:
                pool = [teams.get(t, t) for t in r.team_ids] + [
                    "@" + handles.get(a, a) for a in r.agent_ids
                ]
                steps.append(f"round robin among {', '.join(pool) if pool else 'everyone'}")
        text = ", then ".join(steps)
        text += "; only available agents" if r.only_available else "; available or away"
        if r.cap is not None:
            text += f"; at most {r.cap} open each"
    if r.tickets:
        text += "; opens a ticket"
    return text
