"""Reports: how the team is doing, from the messages and the activity log.

Every figure is read from the derived tables migration 0017's triggers keep as rows are
written (`report_count` per UTC hour, `report_conversation`, `report_cycle`), so a report
reads a few thousand rows at 100k conversations / 1M messages, and the inbox's own indexes
and writes are untouched but for the triggers (benchmarks/reports_bench.py).

Definitions (README "Reports" repeats them for users):
- opened: conversations created; closed: close events (a conversation closed twice counts
  twice). Per day in the report's time zone, and per channel kind.
- first response: the first human reply (an outgoing message with an author agent and no
  "bot" key in its meta) after the conversation's first customer message, minus that
  message's time; attributed to the replying agent, their teams and the channel kind, and
  counted in the range by the customer message's time. With business hours, only the
  seconds inside them count.
- time to close: per close/reopen cycle, from the cycle's start (creation, or the reopen
  before) to the close; counted by the close's time, attributed to whoever closed.
- replies: human replies per agent; conversations: conversations in which the agent sent
  their first reply within the range; load: open conversations assigned to them now.
- busiest hours: customer messages per weekday x hour in the report's time zone (a UTC
  hour is placed at the local hour it starts in: exact for zones on whole-hour offsets).
- delivery: outgoing messages by current delivery state; failed ones grouped by reason.
- bots: per chatflow, activity events bot_started, bot_completed, bot_handoff,
  bot_abandoned and bot_step (meta {"event", "chatflow", "step"}); completion per step is
  the step's count over started. Zeros when no chatflow wrote any.

median is the middle value (the mean of the two middle ones for an even count); p90 is the
nearest-rank 90th percentile (the value at rank ceil(0.9 n)). Durations are seconds.

Access: a reader sees figures only over the inboxes they may see (core/access.py); an admin
sees every inbox. Pure queries: nothing here writes.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from .access import Access
from .db import ReadConnection as Connection
from .db import Workspace
from .errors import InvalidRequest, NotFound
from .kinds import CHANNEL_KINDS

BOT_EVENTS = ("bot_started", "bot_completed", "bot_handoff", "bot_abandoned")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_DAYS = 30
NO_ACCESS = "not found or no access"


@dataclass(frozen=True)
class Scope:
    """What a report covers: [start, end) in UTC, the zone its days and hours are in, and
    the filters. None means every inbox / channel kind / agent the reader may see."""

    start: datetime
    end: datetime
    tz: tzinfo = UTC
    inbox_ids: frozenset[str] | None = None
    channel_kind: str | None = None
    agent_ids: frozenset[str] | None = None

    @property
    def hours(self) -> tuple[int, int]:
        """The UTC hour buckets [first, last) the range covers."""
        return int(self.start.timestamp()) // 3600, -(-int(self.end.timestamp()) // 3600)

    @property
    def seconds(self) -> tuple[int, int]:
        return int(self.start.timestamp()), int(self.end.timestamp())


def scope(
    ws: Workspace,
    access: Access,
    *,
    start: date | None = None,
    end: date | None = None,
    tz: tzinfo = UTC,
    inbox: str | None = None,
    channel: str | None = None,
    agent: str | None = None,
    team: str | None = None,
    today: date | None = None,
) -> Scope:
    """A scope from what a person types: days (inclusive, in `tz`; default the last 30 days
    to today), an inbox name, a channel kind, an agent handle, a team name."""
    today = today or datetime.now(tz).date()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidRequest(f"--from {start} is after --to {end}")
    lo = datetime.combine(start, time(), tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), tz).astimezone(UTC)
    inbox_ids = agent_ids = None
    with ws.read() as conn:
        if inbox:
            rows = conn.exec_driver_sql("SELECT id, name FROM inbox").all()
            found = [i for i, n in rows if (inbox in (i, n) or n.lower() == inbox.lower())]
            found = [i for i in found if access.can_see(i)]
            if not found:
                raise NotFound(f"no inbox {inbox!r} ({NO_ACCESS})")
            inbox_ids = frozenset(found[:1])
        if channel and channel not in CHANNEL_KINDS:
            raise InvalidRequest(
                f"unknown channel {channel!r}; use one of {', '.join(CHANNEL_KINDS)}"
            )
        if agent:
            handle = agent.lstrip("@")
            row = conn.exec_driver_sql(
                "SELECT id FROM agent WHERE handle = ? OR id = ?", (handle, handle)
            ).first()
            if row is None:
                raise NotFound(f"no agent @{handle}")
            agent_ids = frozenset([row[0]])
        if team:
            members = conn.exec_driver_sql(
                "SELECT m.agent_id FROM team t LEFT JOIN team_member m ON m.team_id = t.id "
                "WHERE lower(t.name) = lower(?) OR t.id = ?",
                (team, team),
            ).all()
            if not members:
                raise NotFound(f"no team {team!r}")
            ids = frozenset(r[0] for r in members if r[0])
            agent_ids = ids if agent_ids is None else agent_ids & ids
    return Scope(lo, hi, tz, inbox_ids, channel, agent_ids)


# ---------------------------------------------------------------------------------- helpers


def _where(access: Access, s: Scope, alias: str, *, agent_col: str | None = None) -> tuple:
    """The conditions every report query shares (on a derived table `alias`): the reader's
    inboxes, the inbox and channel filters and, for agent-attributed rows, the agents."""
    clauses: list[str] = []
    params: list[Any] = []
    clause, p = access.where(f"{alias}.inbox_id")
    clauses.append(clause)
    params += p
    if s.inbox_ids is not None:
        clauses.append(f"{alias}.inbox_id IN ({','.join('?' * len(s.inbox_ids))})")
        params += sorted(s.inbox_ids)
    if s.channel_kind:
        clauses.append(f"{alias}.channel_kind = ?")
        params.append(s.channel_kind)
    if agent_col and s.agent_ids is not None:
        clauses.append(f"{alias}.{agent_col} IN ({','.join('?' * len(s.agent_ids)) or 'NULL'})")
        params += sorted(s.agent_ids)
    return " AND ".join(clauses), tuple(params)


def _hourly(
    conn: Connection, access: Access, s: Scope, metrics: tuple[str, ...]
) -> list[tuple[str, int, int]]:
    """(metric, UTC hour, sum) for each hour of the range: one pass over the primary key in
    its own order (metric, hour), so nothing is sorted."""
    where, params = _where(access, s, "r")
    lo, hi = s.hours
    return list(
        conn.exec_driver_sql(
            "SELECT r.metric, r.hour, sum(r.n) FROM report_count r WHERE r.metric IN "
            f"({','.join('?' * len(metrics))}) AND r.hour >= ? AND r.hour < ? AND {where} "
            "GROUP BY r.metric, r.hour",
            (*metrics, lo, hi, *params),
        ).all()
    )


def _totals(
    conn: Connection,
    access: Access,
    s: Scope,
    metrics: tuple[str, ...],
    column: str,
    *,
    by_agent: bool = False,
) -> dict[tuple[str, str], int]:
    """{(metric, value of `column`): sum} over the range. The days the range covers whole
    come from the daily roll-ups (metric + "_day"), the hours at either end from the hourly
    rows (migration 0017), so 180 days read a few thousand rows, not 100k+."""
    lo, hi = s.hours
    first_day, last_day = -(-lo // 24), hi // 24  # [first_day, last_day) lie wholly inside
    if first_day >= last_day:
        spans = [(metrics, lo, hi)]
    else:
        days = tuple(f"{m}_day" for m in metrics)
        spans = [(metrics, lo, first_day * 24), (days, first_day, last_day)]
        spans.append((metrics, last_day * 24, hi))
    where, params = _where(access, s, "r", agent_col="agent_id" if by_agent else None)
    out: dict[tuple[str, str], int] = defaultdict(int)
    for names, a, b in spans:
        if a >= b:
            continue
        for metric, value, n in conn.exec_driver_sql(
            f"SELECT r.metric, r.{column}, sum(r.n) FROM report_count r WHERE r.metric IN "
            f"({','.join('?' * len(names))}) AND r.hour >= ? AND r.hour < ? AND {where} "
            # Ordered: the dict keeps this order and reports list it (PostgreSQL's hashed
            # GROUP BY gives groups in any order; SQLite's came sorted).
            f"GROUP BY r.metric, r.{column} ORDER BY r.metric, r.{column}",
            (*names, a, b, *params),
        ).all():
            out[(metric.removesuffix("_day"), value)] += n
    return out


class _Local:
    """UTC hour bucket -> local seconds since the epoch in the scope's zone. The zone's
    offset is piecewise constant over a range (it changes at daylight-saving transitions):
    found once per range, then each hour is a bisection."""

    def __init__(self, s: Scope) -> None:
        lo, hi = s.hours
        self.starts, self.offsets = [lo], [_offset(s.tz, lo)]
        h = lo
        while h < hi:  # a day at a time; hour by hour through a day whose offset changes
            step = min(h + 24, hi)
            if _offset(s.tz, step) == self.offsets[-1]:
                h = step
                continue
            h = next(k for k in range(h + 1, step + 1) if _offset(s.tz, k) != self.offsets[-1])
            self.starts.append(h)
            self.offsets.append(_offset(s.tz, h))

    def __call__(self, hour: int) -> int:
        return hour * 3600 + self.offsets[bisect.bisect_right(self.starts, hour) - 1]


def _offset(tz: tzinfo, hour: int) -> int:
    delta = datetime.fromtimestamp(hour * 3600, tz).utcoffset()
    return int(delta.total_seconds()) if delta else 0


def _durations(text: str | None) -> list[int]:
    """A group_concat of whole seconds, sorted. They arrive in the index's order, so the
    sort only checks that (a sorted list is one linear pass for Python's sort)."""
    values = list(map(int, text.split(","))) if text else []
    values.sort()
    return values


def _summary(n: int, kth: Callable[[int], float]) -> dict[str, Any]:
    """The summary of `n` values from `kth(k)`, the k-th smallest (0-based)."""
    if not n:
        return {"count": 0, "median_seconds": None, "p90_seconds": None}
    mid = n // 2
    median = kth(mid) if n % 2 else (kth(mid - 1) + kth(mid)) / 2
    return {
        "count": n,
        "median_seconds": _num(median),
        "p90_seconds": _num(kth(max(0, math.ceil(0.9 * n) - 1))),
    }


def runs_summary(runs: list[list[int]]) -> dict[str, Any]:
    """`summary` of the union of sorted lists of whole seconds, without merging them: the
    k-th smallest is the least value v with k+1 values <= v, found by bisection on v (a
    few dozen probes, each a bisection per list)."""
    runs = [r for r in runs if r]
    n = sum(map(len, runs))

    def kth(k: int) -> int:
        if len(runs) == 1:
            return runs[0][k]
        lo, hi = min(r[0] for r in runs), max(r[-1] for r in runs)
        while lo < hi:
            mid = (lo + hi) // 2
            if sum(bisect.bisect_right(r, mid) for r in runs) > k:
                hi = mid
            else:
                lo = mid + 1
        return lo

    return _summary(n, kth)


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(v, 1)


def _names(conn: Connection) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Agent id -> handle, and agent id -> their teams' names."""
    handles = dict(conn.exec_driver_sql("SELECT id, handle FROM agent").all())
    teams: dict[str, list[str]] = defaultdict(list)
    for agent_id, name in conn.exec_driver_sql(
        "SELECT m.agent_id, t.name FROM team_member m JOIN team t ON t.id = m.team_id "
        "ORDER BY t.name"
    ).all():
        teams[agent_id].append(name)
    return handles, teams


# ---------------------------------------------------------------------------------- reports


def volume(conn: Connection, access: Access, s: Scope) -> dict[str, Any]:
    """Conversations opened and closed per local day and per channel kind."""
    days: dict[str, dict[str, int]] = {}
    day = s.start.astimezone(s.tz).date()
    last = (s.end - timedelta(seconds=1)).astimezone(s.tz).date()
    while day <= last:  # every day of the range, zeros included (the chart's x axis)
        days[day.isoformat()] = {"opened": 0, "closed": 0}
        day += timedelta(days=1)
    local = _Local(s)
    epoch = date(1970, 1, 1)
    for metric, hour, n in _hourly(conn, access, s, ("opened", "closed")):
        key = (epoch + timedelta(days=local(hour) // 86400)).isoformat()
        days.setdefault(key, {"opened": 0, "closed": 0})[metric] += n
    channels: dict[str, dict[str, int]] = {}
    totals = {"opened": 0, "closed": 0}
    for (metric, kind), n in _totals(conn, access, s, ("opened", "closed"), "channel_kind").items():
        channels.setdefault(kind, {"opened": 0, "closed": 0})[metric] += n
        totals[metric] += n
    return {
        "totals": totals,
        "per_day": [{"day": d, **v} for d, v in sorted(days.items())],
        "per_channel": [
            {"channel": k, **v} for k, v in sorted(channels.items()) if any(v.values())
        ],
    }


def first_response(
    conn: Connection, access: Access, s: Scope, *, hours: WeeklyHours | None = None
) -> dict[str, Any]:
    """First response times (median, p90) overall and per agent, team and channel kind."""
    # With an agent filter, only conversations those agents answered first (unanswered
    # ones belong to nobody yet).
    where, params = _where(access, s, "r", agent_col="first_reply_agent_id")
    lo, hi = s.seconds
    span = "r.first_in_at >= ? AND r.first_in_at < ?"
    plain, plain_params = _where(access, s, "r")
    unanswered = conn.exec_driver_sql(
        "SELECT count(*) FROM report_conversation r INDEXED BY ix_report_conversation_agent "
        f"WHERE r.first_reply_agent_id IS NULL AND {span} AND r.first_reply_at IS NULL "
        f"AND {plain}",
        (lo, hi, *plain_params),
    ).scalar()
    handles, teams = _names(conn)
    groups: dict[tuple[str, str], list] = {}
    if hours is None:
        # Each (agent, channel)'s durations as one string, in the index's order: sorted, and
        # 40 rows leave SQLite instead of 100k.
        for agent, kind, took in conn.exec_driver_sql(
            "SELECT r.first_reply_agent_id, r.channel_kind, group_concat(r.first_response_s) "
            "FROM report_conversation r INDEXED BY ix_report_conversation_agent WHERE "
            f"{span} AND r.first_response_s IS NOT NULL AND {where} GROUP BY 1, 2",
            (lo, hi, *params),
        ).all():
            groups[(agent, kind)] = _durations(took)
    else:
        for (agent, kind), took in _business_durations(conn, s, hours, where, params).items():
            groups[(agent, kind)] = _durations(took)
    return {
        "business_hours": hours is not None,
        "overall": runs_summary(list(groups.values())),
        "unanswered": int(unanswered or 0),
        **_breakdown(groups, handles, teams),
    }


def _breakdown(
    groups: dict[tuple[str, str], list], handles: dict[str, str], teams: dict[str, list[str]]
) -> dict[str, list[dict[str, Any]]]:
    """per_agent, per_team and per_channel summaries of sorted (agent, channel) groups."""
    per_agent: dict[str, list[list]] = defaultdict(list)
    per_team: dict[str, list[list]] = defaultdict(list)
    per_channel: dict[str, list[list]] = defaultdict(list)
    for (agent, kind), values in groups.items():
        per_agent[handles.get(agent, agent) if agent else "(unibox)"].append(values)
        for team in teams.get(agent, []):
            per_team[team].append(values)
        per_channel[kind].append(values)
    return {
        "per_agent": [{"agent": k, **runs_summary(v)} for k, v in sorted(per_agent.items())],
        "per_team": [{"team": k, **runs_summary(v)} for k, v in sorted(per_team.items())],
        "per_channel": [{"channel": k, **runs_summary(v)} for k, v in sorted(per_channel.items())],
    }


def time_to_close(conn: Connection, access: Access, s: Scope) -> dict[str, Any]:
    """Per close/reopen cycle: from its start to the close (median, p90), overall, per
    channel kind and per agent who closed."""
    where, params = _where(access, s, "r", agent_col="agent_id")
    lo, hi = s.seconds
    groups = {
        (agent, kind): _durations(took)
        for agent, kind, took in conn.exec_driver_sql(
            "SELECT r.agent_id, r.channel_kind, group_concat(r.seconds) FROM report_cycle r "
            "INDEXED BY ix_report_cycle_agent WHERE r.closed_at >= ? AND r.closed_at < ? "
            f"AND {where} GROUP BY 1, 2",  # only indexed columns: the index covers it
            (lo, hi, *params),
        ).all()
    }
    handles, _ = _names(conn)
    breakdown = _breakdown(groups, handles, {})
    del breakdown["per_team"]
    return {"cycles": runs_summary(list(groups.values())), **breakdown}


def agents(conn: Connection, access: Access, s: Scope) -> list[dict[str, Any]]:
    """Per agent: replies, conversations (first reply in range) and current open load."""
    figures: dict[str, dict[str, int]] = defaultdict(
        lambda: {"replies": 0, "conversations": 0, "load": 0}
    )
    replies = _totals(conn, access, s, ("reply", "handled"), "agent_id", by_agent=True)
    for (metric, agent), n in replies.items():
        figures[agent]["replies" if metric == "reply" else "conversations"] += n
    # Load: open conversations assigned now (the view counters of migration 0013).
    where, params = _where(access, s, "k", agent_col="assignee_id")
    for agent, n in conn.exec_driver_sql(
        "SELECT k.assignee_id, sum(k.n) FROM conversation_count k WHERE k.status = 'open' "
        f"AND k.assignee_id != '' AND {where} GROUP BY k.assignee_id",
        params,
    ).all():
        figures[agent]["load"] += n
    handles, _ = _names(conn)
    out = [{"agent": handles.get(a, a), **v} for a, v in figures.items()]
    return sorted(out, key=lambda r: (-r["replies"], r["agent"]))


def busiest_hours(conn: Connection, access: Access, s: Scope) -> dict[str, Any]:
    """Customer messages per local weekday (Mon=0) x hour: a 7 x 24 grid."""
    grid = [[0] * 24 for _ in range(7)]
    local = _Local(s)
    for _, hour, n in _hourly(conn, access, s, ("in",)):
        at = local(hour)
        # 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays.
        grid[(at // 86400 + 3) % 7][at % 86400 // 3600] += n
    return {"weekdays": list(WEEKDAYS), "grid": grid, "total": sum(map(sum, grid))}


def delivery(conn: Connection, access: Access, s: Scope) -> dict[str, Any]:
    """Outgoing messages by delivery state; failed ones by reason."""
    states: dict[str, int] = defaultdict(int)
    for (_, state), n in _totals(conn, access, s, ("delivery",), "detail").items():
        if n:
            states[state or "none"] += n
    where, params = _where(access, s, "c")
    lo, hi = s.seconds
    reasons = conn.exec_driver_sql(
        "SELECT coalesce(m.delivery_error, ''), count(*) FROM message m "
        "INDEXED BY ix_message_failed JOIN conversation c ON c.id = m.conversation_id "
        "WHERE m.delivery_state = 'failed' AND m.created_at >= ? AND m.created_at < ? "
        f"AND {where} GROUP BY 1 ORDER BY 2 DESC, 1",
        (_db(lo), _db(hi), *params),
    ).all()
    return {
        "states": dict(sorted(states.items())),
        "failed_reasons": [{"reason": r or "(no reason given)", "count": n} for r, n in reasons],
    }


def _db(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bots(conn: Connection, access: Access, s: Scope) -> dict[str, Any]:
    """Per chatflow: started, completed, handed off, abandoned; completion per step."""
    flows: dict[str, dict[str, Any]] = {}
    rows = _totals(conn, access, s, (*BOT_EVENTS, "bot_step"), "detail")
    for (metric, detail), n in rows.items():
        name, _, step = detail.partition("\x1f")
        flow = flows.setdefault(
            name, {"chatflow": name, **{e[4:]: 0 for e in BOT_EVENTS}, "steps": {}}
        )
        if metric == "bot_step":
            flow["steps"][step] = flow["steps"].get(step, 0) + n
        else:
            flow[metric[4:]] += n
    out = []
    for flow in sorted(flows.values(), key=lambda f: f["chatflow"]):
        started = flow["started"]
        flow["steps"] = [
            {"step": k, "reached": v, "completion": round(v / started, 3) if started else None}
            for k, v in flow["steps"].items()
        ]
        flow["completion"] = round(flow["completed"] / started, 3) if started else None
        out.append(flow)
    # All chatflows together: zeros when none wrote anything in the range.
    totals = {e[4:]: sum(f[e[4:]] for f in out) for e in BOT_EVENTS}
    return {**totals, "chatflows": out}


SECTIONS = (
    "volume",
    "first_response",
    "time_to_close",
    "agents",
    "busiest_hours",
    "delivery",
    "bots",
)


@dataclass
class Report:
    scope: Scope
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        s = self.scope
        return {
            "from": s.start.isoformat(),
            "to": s.end.isoformat(),
            "timezone": str(getattr(s.tz, "key", s.tz)),
            **self.figures,
        }


def report(
    ws: Workspace,
    access: Access,
    s: Scope,
    *,
    sections: Iterable[str] = SECTIONS,
    hours: WeeklyHours | None = None,
) -> Report:
    """Every section asked for, from one consistent read."""
    out = Report(s)
    with ws.read() as conn:
        for name in sections:
            if name not in SECTIONS:
                raise InvalidRequest(f"unknown report {name!r}; use one of {', '.join(SECTIONS)}")
            if name == "first_response":
                out.figures[name] = first_response(conn, access, s, hours=hours)
            else:
                out.figures[name] = globals()[name](conn, access, s)
    return out


def rows(r: Report) -> list[tuple[str, str, str, str, Any]]:
    """The report as flat rows (section, group, key, metric, value): the CSV shape."""
    out: list[tuple[str, str, str, str, Any]] = []
    f = r.figures
    if "volume" in f:
        for d in f["volume"]["per_day"]:
            out += [("volume", "day", d["day"], m, d[m]) for m in ("opened", "closed")]
        for d in f["volume"]["per_channel"]:
            out += [("volume", "channel", d["channel"], m, d[m]) for m in ("opened", "closed")]
    for section, groups in (
        ("first_response", ("agent", "team", "channel")),
        ("time_to_close", ("agent", "channel")),
    ):
        if section not in f:
            continue
        top = f[section].get("overall") or f[section].get("cycles")
        out += [(section, "all", "", m, v) for m, v in top.items()]
        if section == "first_response":
            out.append((section, "all", "", "unanswered", f[section]["unanswered"]))
        for g in groups:
            for d in f[section][f"per_{g}"]:
                out += [
                    (section, g, d[g], m, d[m]) for m in ("count", "median_seconds", "p90_seconds")
                ]
    for d in f.get("agents", []):
        out += [
            ("agents", "agent", d["agent"], m, d[m]) for m in ("replies", "conversations", "load")
        ]
    if "busiest_hours" in f:
        for i, day in enumerate(f["busiest_hours"]["grid"]):
            out += [
                ("busiest_hours", WEEKDAYS[i], f"{h:02d}", "messages", n) for h, n in enumerate(day)
            ]
    if "delivery" in f:
        out += [("delivery", "state", k, "messages", v) for k, v in f["delivery"]["states"].items()]
        out += [
            ("delivery", "failed_reason", d["reason"], "messages", d["count"])
            for d in f["delivery"]["failed_reasons"]
        ]
    if "bots" in f:
        out += [("bots", "all", "", e[4:], f["bots"][e[4:]]) for e in BOT_EVENTS]
    for flow in f.get("bots", {}).get("chatflows", []):
        for m in ("started", "completed", "handoff", "abandoned", "completion"):
            out.append(("bots", "chatflow", flow["chatflow"], m, flow[m]))
        for step in flow["steps"]:
            out.append(
                ("bots", "step", f"{flow['chatflow']}/{step['step']}", "reached", step["reached"])
            )
    return out


# ---------------------------------------------------------------------------------- hours


@dataclass(frozen=True)
class WeeklyHours:
    """Opening hours per weekday (Mon=0) in a zone, minus holidays. Calling it gives the
    business seconds between two aware instants: that is the definition, and the report's
    SQL (`_business_durations`) evaluates the same sum from `_calendar` (tests check they
    agree)."""

    tz: tzinfo
    days: dict[int, tuple[time, time]]
    holidays: frozenset[date] = frozenset()
    # Each local day's opening as (from, to) unix seconds, or None: worked out once per day
    # (a report asks for tens of thousands of spans over the same few hundred days).
    _windows: dict[date, tuple[float, float] | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def _window(self, day: date) -> tuple[float, float] | None:
        if day not in self._windows:
            span = self.days.get(day.weekday())
            window = None
            if span and day not in self.holidays:
                # Wall-clock opening times, so a DST change moves them with the clock.
                lo = datetime.combine(day, span[0], self.tz).timestamp()
                window = (lo, datetime.combine(day, span[1], self.tz).timestamp())
            self._windows[day] = window
        return self._windows[day]

    def __call__(self, a: datetime, b: datetime) -> float:
        if b <= a:
            return 0.0
        lo, hi = a.timestamp(), b.timestamp()
        total = 0.0
        day = a.astimezone(self.tz).date()
        last = b.astimezone(self.tz).date()
        while day <= last:
            window = self._window(day)
            if window is not None:
                total += max(0.0, min(hi, window[1]) - max(lo, window[0]))
            day += timedelta(days=1)
        return total


# A business clock: B(t), the business seconds from an origin to the instant t, so a span's
# business seconds are B(b) - B(a): the seconds of [a, b] inside the windows (each local
# day's window lies inside that day, and windows never overlap). Per local day d with window
# [open, open + length) and `cum` business seconds on the days before it,
# B(t) = cum + min(max(t - open, 0), length) = min(max(t + k, c0), c1) with k = cum - open,
# c0 = cum, c1 = cum + length: a calendar look-up per conversation (two when the reply is on
# another day) and a few integer operations, all inside SQLite, instead of a Python loop over
# days per conversation.
#
# Calendar keys are local day numbers (days since 1970-01-01 in the hours' zone) plus SHIFT,
# so that the key (t + offset + SHIFT * 86400) / 86400 is positive for any instant of the last
# century and SQLite's division (which truncates toward zero) floors it.
_SHIFT_DAYS = 36525


def _offsets(tz: tzinfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """The zone's UTC offset over [lo, hi] unix seconds as (first second, offset) per stretch
    of one offset: a day at a time, then bisection to the very second it changes (zones that
    change by half an hour, or at other than a whole hour, are exact too)."""

    def offset(t: int) -> int:
        delta = datetime.fromtimestamp(t, tz).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    out = [(lo, offset(lo))]
    t = lo
    while t < hi:
        step = min(t + 86400, hi)
        if offset(step) == out[-1][1]:
            t = step
            continue
        a, b = t, step  # offset(a) is the current one, offset(b) is not
        while b - a > 1:
            mid = (a + b) // 2
            a, b = (mid, b) if offset(mid) == out[-1][1] else (a, mid)
        out.append((b, offset(b)))
        t = b
    return out


def _local_day_sql(column: str, offsets: list[tuple[int, int]]) -> str:
    """SQL for the calendar key of the instant in `column` (its local day + SHIFT)."""
    shift = _SHIFT_DAYS * 86400
    expr = f"{offsets[-1][1] + shift}"
    if len(offsets) > 1:  # a CASE over the few changes of offset in the range
        cases = " ".join(
            f"WHEN {column} < {int(start)} THEN {int(off) + shift}"
            for (_, off), (start, _) in itertools.pairwise(offsets)
        )
        expr = f"CASE {cases} ELSE {expr} END"
    return f"(({column} + {expr}) / 86400)"


def _calendar(hours: WeeklyHours, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
    """(key, k, c0, c1) for each local day from lo's to hi's (unix seconds)."""
    day = datetime.fromtimestamp(lo, hours.tz).date()
    last = datetime.fromtimestamp(hi, hours.tz).date()
    key = (day - date(1970, 1, 1)).days + _SHIFT_DAYS
    out = []
    cum = 0
    while day <= last:
        window = hours._window(day)
        if window is None:
            out.append((key, 0, cum, cum))
        else:
            start, length = int(window[0]), int(window[1] - window[0])
            out.append((key, cum - start, cum, cum + length))
            cum += length
        day += timedelta(days=1)
        key += 1
    return out


def _clock(column: str, day: str) -> str:
    """SQL for B(t) of the instant in `column`, from the calendar row `day` of its day."""
    return f"min(max({column} + {day}.k, {day}.c0), {day}.c1)"


# The calendar's numbers out of its JSON, typed: SQLite's json_extract gives numbers as
# numbers, PostgreSQL's (migrations/postgres.COMPAT) gives text, which has no `=` with an
# integer. The cast costs SQLite nothing measurable (the calendar is a few hundred rows,
# read once: benchmarks/reports_bench.py, business-hours CPU within noise).
_CALENDAR_COLUMNS = ", ".join(f"CAST(json_extract(value, '$[{i}]') AS BIGINT)" for i in range(4))


def _business_durations(
    conn: Connection, s: Scope, hours: WeeklyHours, where: str, params: tuple
) -> dict[tuple[str, str], str]:
    """Each (agent, channel kind)'s first responses in business seconds, as one string (like
    the plain figures), for conversations whose first customer message is in the range."""
    lo, hi = s.seconds
    span = "r.first_in_at >= ? AND r.first_in_at < ?"
    # Replies come after the range too: the calendar runs a month past it, and in the rare
    # case a reply is later still, once more over the bounds the rows really have.
    bounds = (lo, hi + 31 * 86400)
    for _attempt in range(2):
        offsets = _offsets(hours.tz, *bounds)
        day_reply = _local_day_sql("r.first_reply_at", offsets)
        # Most replies come the day the customer wrote: the reply's day is looked up only
        # when it is another. A conversation outside the calendar gives -1 (never a
        # duration: they are >= 0), and the calendar is made again.
        replied = (
            f"CASE WHEN {day_reply} = a.day THEN {_clock('r.first_reply_at', 'a')} "
            f"ELSE (SELECT {_clock('r.first_reply_at', 'b')} FROM cal b "
            f"WHERE b.day = {day_reply}) END"
        )
        found: dict[tuple[str, str], str] = {}
        for agent, kind, took in conn.exec_driver_sql(
            f"WITH cal(day, k, c0, c1) AS (SELECT {_CALENDAR_COLUMNS} FROM json_each(?)) "
            "SELECT r.first_reply_agent_id, r.channel_kind, group_concat(coalesce(max(0, "
            f"{replied} - {_clock('r.first_in_at', 'a')}), -1)) "
            # Only indexed columns (migration 0022): the index covers it, in group order.
            "FROM report_conversation r INDEXED BY ix_report_conversation_agent LEFT JOIN cal a "
            f"ON a.day = {_local_day_sql('r.first_in_at', offsets)} "
            f"WHERE {span} AND r.first_reply_at IS NOT NULL AND {where} GROUP BY 1, 2",
            (json.dumps(_calendar(hours, *bounds)), lo, hi, *params),
        ).all():
            found[(agent, kind)] = took
        missed = any("-" in took for took in found.values())
        if not missed:
            return found
        first, last = conn.exec_driver_sql(
            "SELECT min(min(r.first_in_at, r.first_reply_at)), max(r.first_reply_at) "
            "FROM report_conversation r INDEXED BY ix_report_conversation_agent "
            f"WHERE {span} AND r.first_reply_at IS NOT NULL AND {where}",
            (lo, hi, *params),
        ).one()
        bounds = (min(first, lo), max(last, hi))
    # The second calendar spans every row's instants, so nothing can fall outside it.
    raise AssertionError("the business calendar missed a reply")


def parse_hours(text: str, tz: tzinfo) -> WeeklyHours:
    """`mon-fri 09:00-17:00` (also `mon,wed 8:00-12:00`) in `tz`."""
    names = [d[:3].lower() for d in WEEKDAYS]
    try:
        days_part, clock = text.strip().lower().split()
        lo_text, hi_text = clock.split("-")
        lo, hi = time.fromisoformat(lo_text.zfill(5)), time.fromisoformat(hi_text.zfill(5))
        picked: set[int] = set()
        for part in days_part.split(","):
            first, _, last = part.partition("-")
            i, j = names.index(first[:3]), names.index((last or first)[:3])
            picked.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
    except ValueError as e:
        raise InvalidRequest(
            f"business hours {text!r} not understood; write e.g. 'mon-fri 09:00-17:00'"
        ) from e
    if hi <= lo:
        raise InvalidRequest(f"business hours {text!r} close before they open")
    return WeeklyHours(tz, {d: (lo, hi) for d in picked})
