"""Which channel answers a conversation: THE rule, used by the reply command, the outbox and
the composer (nothing else decides it).

A conversation is answered on its own channel, unless that kind of channel cannot send (a
form: kinds.ANSWERED_BY), or the agent continues it on another kind (a chat continued by
e-mail). Then the inbox's channel of the answering kind does: the enabled one added first
(ids are time-ordered), else a disabled one, whose replies wait until it is enabled again.
"""

from __future__ import annotations

from typing import Any

from .kinds import ANSWERED_BY, STANDS_IN


def inbox_channel(conn: Any, inbox_id: str, kind: str) -> str | None:
    """The id of the channel of `kind` that answers for the inbox, or None when it has none.
    An inbox without one is answered by a kind that stands in for it (kinds.STANDS_IN: the
    fallback address for e-mail). `conn`: anything with `exec_driver_sql` (a read
    connection, a write transaction's)."""
    for candidate in (kind, *STANDS_IN.get(kind, ())):
        found = conn.exec_driver_sql(
            "SELECT id FROM channel WHERE inbox_id = ? AND kind = ? "
            "ORDER BY enabled DESC, id LIMIT 1",
            (inbox_id, candidate),
        ).scalar()
        if found is not None:
            return found
    return None


def answering_kind(channel_kind: str) -> str:
    """The kind of channel that sends the replies of a conversation on `channel_kind`."""
    return ANSWERED_BY.get(channel_kind, channel_kind)
