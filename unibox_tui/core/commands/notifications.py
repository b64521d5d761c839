"""Notifications: new conversations in a watched view, and marking them read.

Assignments and mentions are notified by the commands that make them (_base.notify). A new
conversation is notified to the agents whose TUI watches a view it lands in (config `[ui]
watch`): the TUI sees it arrive and records it here, so it is listed with the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import clock
from ..db import Workspace
from ..ids import new_id
from ..text import one_line
from ._base import agent_ref


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
