"""Notifications: marking them read."""

from __future__ import annotations

from collections.abc import Iterable

from .. import clock
from ..db import Workspace
from ._base import agent_ref


def mark_notifications_read(ws: Workspace, agent: str, ids: Iterable[str] | None = None) -> int:
    """Mark the agent's notifications read (all, or the given ids); returns how many."""
    with ws.write() as tx:
        who = agent_ref(tx, agent)
        conn = tx.session.connection()
        sql = "UPDATE notification SET read_at = ?, seq = ? WHERE agent_id = ? AND read_at IS NULL"
        params: list = [clock.to_db(tx.now), tx.seq, who.id]
        wanted = list(ids) if ids is not None else None
        if wanted is not None:
            if not wanted:
                return 0
            sql += f" AND id IN ({','.join('?' * len(wanted))})"
            params += wanted
        return conn.exec_driver_sql(sql, tuple(params)).rowcount
