"""Routing: who a new conversation goes to, and why (issue 14; research §D).

THE entry point is `route_new_conversation(tx, conv, now)`: ingest (commands/incoming.py)
calls it inside its own transaction for every conversation it creates, and a channel that
routes later (a chatflow handing a chat to the team) calls it itself at that moment. It
decides, assigns, writes the activity line that says why ("Assigned to Bo: round robin among
available members of Tier 1"), notifies, and opens a ticket when the channel says so. It
returns the `Decision`.

How an inbox routes is one `routing_rule` row (models.RoutingRule; commands/routing.py
changes it); a channel may have its own row that overrides it. With no row: off. In order:
1. Outside the inbox's business hours (core/hours.py): unassigned.
2. The rules, tried in order until one finds someone: `owner` (the contact's owner; when
   the owner cannot take it, they are notified and the next rule decides) and
   `round_robin` (the next eligible agent of the pool after the one picked last; the pool is
   the rule's agents and teams, or everyone who may act in the inbox). No rule: off.
3. Eligible: active, may act in the inbox (core/access.py), and under the cap of open
   conversations when one is set; with "only available" (on by default) also set to
   available and, on a hub, with an app connected or gone for less than the grace period
   (core/presence.py). A rule that finds nobody leaves the conversation unassigned.

Round robin's place (`routing_cursor`) is stored where conversations are created (the
embedded app or the hub's one writer) in the same transaction, so it survives restarts and
two conversations never take the same turn. Everything here is plain SQL on the
transaction's own sqlite3 connection: ingest is a hot path (≤ 1 ms per decision,
benchmarks/routing_bench.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import access, clock
from .hours import Hours, load
from .ids import new_id
from .text import one_line

if TYPE_CHECKING:
    from .db import Tx, Workspace

Run = Callable[[str, tuple], sqlite3.Cursor]


@dataclass(frozen=True)
class Routing:
    """How one inbox (or one channel of it) routes: its rows merged."""

    inbox_id: str
    inbox_name: str
    pool_rule_id: str | None  # the row whose pool and cursor round robin uses
    rules: tuple[str, ...] = ()
    agent_ids: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()
    cap: int | None = None
    only_available: bool = True
    tickets: bool = False
    hours: Hours = field(default_factory=Hours)

    @property
    def off(self) -> bool:
        return not self.rules


@dataclass
class Decision:
    """What routing did with one new conversation, and why (the activity line's words)."""

    conversation_id: str
    assignee_id: str | None = None
    assignee_name: str | None = None
    rule: str = "off"  # owner | round_robin | off | closed (outside hours) | nobody
    why: str = ""  # "round robin among available members of Tier 1"
    line: str | None = None  # the activity line written, None when nothing was written
    notified_owner: str | None = None  # the owner told that someone else got it
    ticket_id: str | None = None


def _runner(tx: Tx) -> Run:
    return tx.cursor().execute


def _ids(text: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


_ROW = (
    "SELECT id, rules, agent_ids, team_ids, cap, only_available, tickets, hours FROM routing_rule"
)


def effective(run: Run, inbox_id: str, channel_id: str | None = None) -> Routing:
    """The routing of `inbox_id`, with `channel_id`'s own row over it when it has one."""
    name_row = run("SELECT name FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
    inbox_name = name_row[0] if name_row else "?"
    box = run(f"{_ROW} WHERE inbox_id = ?", (inbox_id,)).fetchone()
    chan = run(f"{_ROW} WHERE channel_id = ?", (channel_id,)).fetchone() if channel_id else None
    base = chan if chan is not None and chan[1] is not None else box
    tickets = chan[6] if chan is not None and chan[6] is not None else (box[6] if box else None)
    if base is None:
        return Routing(inbox_id, inbox_name, None, tickets=bool(tickets), hours=_hours(box))
    rid, rules, agents, teams, cap, only_available, _tickets, _hours_json = base
    return Routing(
        inbox_id,
        inbox_name,
        rid,
        tuple(r for r in (rules or "").split(",") if r),
        _ids(agents),
        _ids(teams),
        cap,
        bool(only_available),
        bool(tickets),
        _hours(box),
    )


def _hours(box: Any) -> Hours:
    return load(box[7]) if box is not None else Hours()


def inbox_open_now(source: Workspace | Tx, inbox_id: str, now: datetime | None = None) -> bool:
    """Is the inbox within its business hours at `now`? (Always, when it has none.) For the
    chat widget's away message, and for routing. `source`: a Workspace or a write's Tx."""
    now = now or clock.utcnow()
    sql = "SELECT hours FROM routing_rule WHERE inbox_id = ?"
    if hasattr(source, "read"):
        with source.read() as conn:  # type: ignore[union-attr]
            row = conn.exec_driver_sql(sql, (inbox_id,)).first()
    else:
        row = _runner(source)(sql, (inbox_id,)).fetchone()  # type: ignore[arg-type]
    return load(row[0] if row else None).open_at(now)


# ---------------------------------------------------------------------------- deciding


@dataclass
class _Agent:
    id: str
    name: str
    available: bool
    load: int = 0


def _pool(run: Run, r: Routing) -> list[_Agent]:
    """The pool's agents who are active and may act in the inbox, in id order (creation
    order: round robin's order)."""
    where, params = access.ACTS_IN, [r.inbox_id, r.inbox_id]
    if r.agent_ids or r.team_ids:
        a_marks = ",".join("?" * len(r.agent_ids)) or "NULL"
        t_marks = ",".join("?" * len(r.team_ids)) or "NULL"
        where += (
            f" AND (a.id IN ({a_marks}) OR a.id IN "
            f"(SELECT agent_id FROM team_member WHERE team_id IN ({t_marks})))"
        )
        params += [*r.agent_ids, *r.team_ids]
    rows = run(
        f"SELECT a.id, a.name, a.availability FROM agent a WHERE {where} ORDER BY a.id",
        tuple(params),
    ).fetchall()
    return [_Agent(i, n, av == "available") for i, n, av in rows]


def _one(run: Run, r: Routing, agent_id: str) -> _Agent | None:
    """`agent_id` if active and allowed to act in the inbox (the owner rule)."""
    row = run(
        f"SELECT a.id, a.name, a.availability FROM agent a WHERE a.id = ? AND {access.ACTS_IN}",
        (agent_id, r.inbox_id, r.inbox_id),
    ).fetchone()
    return _Agent(row[0], row[1], row[2] == "available") if row else None


def _loads(run: Run, agents: list[_Agent]) -> None:
    """Each agent's open conversations, from the counts table (core/queries.count_on)."""
    if not agents:
        return
    marks = ",".join("?" * len(agents))
    counts = dict(
        run(
            "SELECT assignee_id, sum(n) FROM conversation_count WHERE status = 'open' "
            f"AND assignee_id IN ({marks}) GROUP BY assignee_id",
            tuple(a.id for a in agents),
        ).fetchall()
    )
    for a in agents:
        a.load = int(counts.get(a.id) or 0)


def _can_take(tx: Tx, r: Routing, a: _Agent, now: datetime) -> bool:
    if r.cap is not None and a.load >= r.cap:
        return False
    if not r.only_available:
        return True
    presence = tx.presence
    return a.available and not (presence is not None and presence.away(a.id, now))


def _names(run: Run, table: str, ids: tuple[str, ...]) -> list[str]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    found = dict(run(f"SELECT id, name FROM {table} WHERE id IN ({marks})", ids).fetchall())
    return [one_line(found[i], 40) for i in ids if i in found]


def _pool_label(run: Run, r: Routing) -> tuple[str, str]:
    """How the pool reads after "round robin among available ..." and after "no available
    ...": ("members of Tier 1", "member of Tier 1"), ("agents of Support", "agent of
    Support"), ("agents Bo and Cy", "agent among Bo and Cy")."""
    teams = _names(run, "team", r.team_ids)
    names = teams + _names(run, "agent", r.agent_ids)
    if not names:
        box = one_line(r.inbox_name, 40)
        return f"agents of {box}", f"agent of {box}"
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if teams:
        return f"members of {listed}", f"member of {listed}"
    return f"agents {listed}", f"agent among {listed}"


def decide(tx: Tx, r: Routing, contact_id: str | None, now: datetime) -> Decision:
    """Who should get a new conversation under `r` (nothing is written; the cursor is not
    moved): see the module docstring for the order."""
    run = _runner(tx)
    d = Decision("")
    if r.off:
        return d
    if not r.hours.open_at(now):
        d.rule, d.why = "closed", f"outside {one_line(r.inbox_name, 40)}'s business hours"
        return d
    reasons: list[str] = []
    for rule in r.rules:
        if rule == "owner":
            owner = None
            if contact_id:
                row = run("SELECT owner_id FROM contact WHERE id = ?", (contact_id,)).fetchone()
                owner = row[0] if row else None
            if owner is None:
                continue
            agent = _one(run, r, owner)
            if agent is not None:
                _loads(run, [agent])
                if _can_take(tx, r, agent, now):
                    d.rule, d.assignee_id, d.assignee_name = "owner", agent.id, agent.name
                    d.why = "contact owner"
                    return d
                why = "at the cap" if r.cap is not None and agent.load >= r.cap else "away"
                reasons.append(f"contact owner {one_line(agent.name, 40)} is {why}")
                d.notified_owner = agent.id
        elif rule == "round_robin":
            pool = _pool(run, r)
            if r.cap is not None:
                _loads(run, pool)
            eligible = [a for a in pool if _can_take(tx, r, a, now)]
            label, one = _pool_label(run, r)
            available = "available " if r.only_available else ""
            if not eligible:
                capped = f" under the cap of {r.cap}" if r.cap is not None else ""
                reasons.append(f"no {available}{one}{capped}")
                continue
            last = None
            if r.pool_rule_id:
                row = run(
                    "SELECT last_agent_id FROM routing_cursor WHERE rule_id = ?",
                    (r.pool_rule_id,),
                ).fetchone()
                last = row[0] if row else None
            pick = next((a for a in eligible if last is None or a.id > last), eligible[0])
            d.rule, d.assignee_id, d.assignee_name = "round_robin", pick.id, pick.name
            d.why = f"round robin among {available}{label}"
            if reasons:
                d.why += f" ({'; '.join(reasons)})"
            return d
    d.rule = "nobody"
    d.why = "; ".join(reasons) or "no rule found anyone"
    return d


# ---------------------------------------------------------------------------- applying


def route_new_conversation(
    tx: Tx, conv: Any, now: datetime | None = None, *, channel_id: str | None = None
) -> Decision:
    """Route one conversation just created in `tx`: decide, assign, say why in its thread,
    notify, open a ticket when the channel's rule says so. `conv` is its id or any object
    with `.id` (an ORM Conversation: flush it first, e.g. with `tx.stamp`). A conversation
    that already has an assignee keeps it (no line; a ticket by rule still opens)."""
    now = now or tx.now
    run = _runner(tx)
    conv_id = conv if isinstance(conv, str) else conv.id
    row = run(
        "SELECT inbox_id, channel_id, contact_id, assignee_id, subject, preview "
        "FROM conversation WHERE id = ?",
        (conv_id,),
    ).fetchone()
    if row is None:
        from .errors import NotFound

        raise NotFound(f"no conversation with id {conv_id}")
    inbox_id, conv_channel, contact_id, assignee, subject, preview = row
    r = effective(run, inbox_id, channel_id or conv_channel)
    d = decide(tx, r, contact_id, now) if assignee is None else Decision("", rule="assigned")
    d.conversation_id = conv_id
    stamp = clock.to_db(tx.now)
    label = one_line(subject or preview, 120)
    if d.assignee_id:
        run(
            "UPDATE conversation SET assignee_id = ?, seq = ?, updated_at = ? WHERE id = ?",
            (d.assignee_id, tx.seq, stamp, conv_id),
        )
        follow_ticket_owner(run, conv_id, tx.seq, stamp)
        d.line = f"Assigned to {one_line(d.assignee_name or '', 60)}: {d.why}"
        _note(run, tx, d.assignee_id, "assigned", f"Routed to you: {label}", conv_id, stamp)
        if d.rule == "round_robin" and r.pool_rule_id:
            run(
                "INSERT INTO routing_cursor (rule_id, last_agent_id) VALUES (?, ?) "
                "ON CONFLICT(rule_id) DO UPDATE SET last_agent_id = excluded.last_agent_id",
                (r.pool_rule_id, d.assignee_id),
            )
    elif d.rule in ("closed", "nobody"):
        d.line = f"Left unassigned: {d.why}"
    if d.notified_owner and d.notified_owner != d.assignee_id:
        who = f"; assigned to {one_line(d.assignee_name, 60)}" if d.assignee_name else ""
        _note(
            run,
            tx,
            d.notified_owner,
            "new_conversation",
            f"Your contact wrote while you were away: {label}{who}",
            conv_id,
            stamp,
        )
    if d.line:
        # An assignment says so in its meta, as a person's does (Slack posts it, reports
        # read events): {"event": "assigned", "assignee": id}.
        meta = (
            json.dumps({"event": "assigned", "assignee": d.assignee_id}) if d.assignee_id else "{}"
        )
        run(
            "INSERT INTO message (id, conversation_id, kind, body, flags, meta, created_at, "
            "updated_at, seq) VALUES (?, ?, 'activity', ?, '', ?, ?, ?, ?)",
            (new_id(tx.now), conv_id, d.line, meta, stamp, stamp, tx.seq),
        )
    if r.tickets:
        d.ticket_id = _open_ticket(tx, run, conv_id, d.assignee_id or assignee, stamp)
    if d.assignee_id or d.ticket_id:
        _forget_orm_state(tx, conv_id)
    return d


def _note(run: Run, tx: Tx, agent_id: str, kind: str, text: str, conv_id: str, at: Any) -> None:
    run(
        "INSERT INTO notification (id, agent_id, kind, conversation_id, text, created_at, "
        "updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id(tx.now), agent_id, kind, conv_id, one_line(text, 300), at, at, tx.seq),
    )


def _forget_orm_state(tx: Tx, conv_id: str) -> None:
    """A caller holding this conversation as an ORM object must not write back the
    assignee it read before the plain UPDATE above."""
    for obj in list(tx.session.identity_map.values()):
        if (
            getattr(obj, "__tablename__", "") == "conversation"
            and getattr(obj, "id", None) == conv_id
        ):
            tx.session.expire(obj, ["assignee_id", "ticket_id", "seq", "updated_at"])


def _open_ticket(tx: Tx, run: Run, conv_id: str, owner: str | None, stamp: Any) -> str | None:
    """Tickets by rule: a ticket in the inbox's default pipeline and stage, owned by the
    conversation's assignee. The same ticket `commands/tickets.open_ticket` makes (and the
    same place as `pipelines.ticket_place` picks), in plain SQL: through the ORM it cost
    ~20 ms per new conversation on the ingest path (benchmarks/routing_bench.py)."""
    row = run(
        "SELECT c.subject, c.preview, c.ticket_id, c.inbox_id FROM conversation c WHERE c.id = ?",
        (conv_id,),
    ).fetchone()
    subject, preview, linked, inbox_id = row
    if linked:
        return None
    pipeline, stage = _ticket_place(run, inbox_id)
    ticket_id = new_id(tx.now)
    number = tx.next_number("ticket")
    title = one_line(subject or preview, 300) or "New conversation"
    run(
        "INSERT INTO ticket (id, number, title, pipeline, stage, priority, owner_id, status, "
        "created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, 'normal', ?, 'open', ?, ?, ?)",
        (ticket_id, number, title, pipeline, stage, owner, stamp, stamp, tx.seq),
    )
    run(
        "UPDATE conversation SET ticket_id = ?, seq = ?, updated_at = ? WHERE id = ?",
        (ticket_id, tx.seq, stamp, conv_id),
    )
    run(
        "INSERT INTO message (id, conversation_id, kind, body, flags, meta, created_at, "
        "updated_at, seq) VALUES (?, ?, 'activity', ?, '', '{}', ?, ?, ?)",
        (new_id(tx.now), conv_id, f"Unibox created ticket #{number}", stamp, stamp, tx.seq),
    )
    return ticket_id


def _ticket_place(run: Run, inbox_id: str) -> tuple[str, str]:
    """(pipeline, stage) names: the inbox's default pipeline and stage; else that
    pipeline's first stage; else the first pipeline's first stage (pipelines.ticket_place)."""
    row = run(
        "SELECT p.id, p.name, s.name FROM inbox i JOIN pipeline p ON p.id = i.default_pipeline_id "
        "LEFT JOIN pipeline_stage s ON s.id = i.default_stage_id AND s.pipeline_id = p.id "
        "WHERE i.id = ?",
        (inbox_id,),
    ).fetchone()
    if row is None:
        row = run(
            "SELECT id, name, NULL FROM pipeline ORDER BY position, name LIMIT 1", ()
        ).fetchone()
    if row is None:
        return "Support", "New"  # pipelines.FALLBACK: a workspace with no pipeline
    pipeline_id, pipeline, stage = row
    if stage is None:
        first = run(
            "SELECT name FROM pipeline_stage WHERE pipeline_id = ? ORDER BY position LIMIT 1",
            (pipeline_id,),
        ).fetchone()
        stage = first[0] if first else "New"
    return pipeline, stage


def follow_ticket_owner(run: Run, conv_id: str, seq: int, stamp: str | None) -> None:
    """The ticket's owner follows the conversation's assignee (plain SQL, for ingest)."""
    run(
        "UPDATE ticket SET owner_id = c.assignee_id, seq = ?, updated_at = ? FROM "
        "(SELECT ticket_id, assignee_id FROM conversation WHERE id = ?) AS c "
        "WHERE ticket.id = c.ticket_id AND ticket.owner_id IS NOT c.assignee_id",
        (seq, stamp, conv_id),
    )
