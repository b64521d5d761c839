"""Notifications: new conversations in a watched view, and marking them read.

Assignments and mentions are notified by the commands that make them (_base.notify). A new
conversation is notified to the agents who watch a view it lands in (config `[ui] watch`):
`note_watched_arrivals` decides which arrivals those are and records them, so they are listed
with the others. The TUI runs it after each change it sees; a hub can run it for each agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import access, clock, queries
from ..db import Workspace
from ..ids import new_id
from ..queries import View
from ..text import one_line
from ._base import agent_ref

ARRIVALS_PER_VIEW = 20  # newest first; a burst larger than this is not toasted one by one


@dataclass
class Arrivals:
    """What `note_watched_arrivals` found: pass `cursor` as `after` next time."""

    cursor: int  # the newest conversation's rid when it looked
    found: dict[str, str] = field(default_factory=dict)  # conversation id -> text, oldest first
    noted: int = 0  # how many became notifications (none without an agent)


def note_watched_arrivals(
    ws: Workspace, agent: str | None, watch: Sequence[View], after: int
) -> Arrivals:
    """Conversations created since `after` (a conversation rid) that are in a view of `watch`
    and in an inbox the agent may see become the agent's new-conversation notifications
    ("Nia: Hi! · in Unassigned", the first watched view that holds it). Without an agent
    (None) nothing is written and the texts are only returned, for a toast."""
    with ws.read() as conn:
        newest = queries.max_conversation_rid(conn)
        if newest <= after:
            return Arrivals(after)
        agent_id = None
        if agent is not None:
            row = conn.exec_driver_sql(
                "SELECT id FROM agent WHERE id = ? OR handle = ?", (agent, agent.lstrip("@"))
            ).first()
            agent_id = row[0] if row else agent  # unknown: note_new_conversations says so
        sees = access.for_agent(conn, agent_id)
        found: dict[str, str] = {}
        for view in watch:
            for row in reversed(queries.conversations_after(conn, view, after, ARRIVALS_PER_VIEW)):
                if sees.can_see(row.inbox_id):
                    text = f"{row.contact_name}: {row.subject or row.preview} · in {view.label}"
                    found.setdefault(row.id, text)
    noted = 0
    if agent and found:
        # Through the registry: on a hub client the notifications are written by the hub
        # (a direct write to the cache is refused by its guard).
        from .registry import call

        noted = call(ws, note_new_conversations, agent, list(found.items()))
    return Arrivals(newest, found, noted)


def note_new_conversations(ws: Workspace, agent: str, found: Iterable[tuple[str, str]]) -> int:
    """Record `(conversation id, text)` as new-conversation notifications for the agent,
    each conversation once (two open TUIs of one agent see the same arrivals); returns how
    many were new."""
    wanted = dict(found)
    if not wanted:
        return 0
    with ws.write() as tx:
        who = agent_ref(tx, agent)
        conn = tx.session.connection()
        marks = ",".join("?" * len(wanted))
        known = {
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT conversation_id FROM notification WHERE agent_id = ? "
                f"AND kind = 'new_conversation' AND conversation_id IN ({marks})",
                (who.id, *wanted),
            )
        }
        stamp = clock.to_db(tx.now)
        rows = [
            (new_id(tx.now), who.id, cid, one_line(text, 300), stamp, stamp, tx.seq)
            for cid, text in wanted.items()
            if cid not in known
        ]
        if rows:
            conn.exec_driver_sql(
                "INSERT INTO notification (id, agent_id, kind, conversation_id, text, "
                "created_at, updated_at, seq) VALUES (?, ?, 'new_conversation', ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)


def mark_notifications_read(ws: Workspace, agent: str, ids: Iterable[str] | None = None) -> int:
    """Mark the agent's notifications read (all, or the given ids); returns how many."""
    with ws.write() as tx:
        who = agent_ref(tx, agent)
        conn = tx.session.connection()
        sql = (
            "UPDATE notification SET read_at = ?, seq = ?, updated_at = ? "
            "WHERE agent_id = ? AND read_at IS NULL"
        )
        params: list = [clock.to_db(tx.now), tx.seq, clock.to_db(tx.now), who.id]
        wanted = list(ids) if ids is not None else None
        if wanted is not None:
            if not wanted:
                return 0
            sql += f" AND id IN ({','.join('?' * len(wanted))})"
            params += wanted
        return conn.exec_driver_sql(sql, tuple(params)).rowcount
