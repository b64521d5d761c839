"""What happens to a reply after the engine's try: an agent sends one that did not certainly
arrive again, or says it arrived; a provider reports it delivered, read or failed after all.
(The engine's own transitions are in core/outbox.py.)"""

from __future__ import annotations

from datetime import datetime

from .. import outbox
from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound
from ..models import Message, OutboxEntry
from ._base import acting_on, activity


def _outgoing(tx: Tx, message_id: str) -> Message:
    message = tx.find(Message, id=message_id)
    if message is None or message.kind != "outgoing":
        raise NotFound(f"no reply with id {message_id} (or no access to it)")
    return message


def resend(ws: Workspace, message_id: str, *, actor: str, now: datetime | None = None) -> None:
    """Queue a reply whose delivery failed or is uncertain again, deliberately: the customer
    may get it twice when the uncertain one did arrive."""
    with ws.write(now) as tx:
        message = _outgoing(tx, message_id)
        conv, by = acting_on(tx, message.conversation_id, actor)
        outbox.requeue(tx, message.id)
        activity(tx, conv, f"{by.name} sent a reply again", by)


def mark_sent(ws: Workspace, message_id: str, *, actor: str, now: datetime | None = None) -> None:
    """Settle a reply of uncertain delivery as sent (the agent knows it arrived)."""
    with ws.write(now) as tx:
        message = _outgoing(tx, message_id)
        conv, by = acting_on(tx, message.conversation_id, actor)
        outbox.settle_as_sent(tx, message.id)
        activity(tx, conv, f"{by.name} marked a reply as delivered", by)


# A later status never takes a message back: read > delivered > sent.
_RANK = {"sent": 1, "delivered": 2, "read": 3}


def apply_status(
    ws: Workspace,
    channel_id: str,
    external_id: str,
    state: str,
    reason: str | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Store a provider's status for the message it knows as `external_id` on the channel.
    Statuses arrive late, twice and out of order, so one never downgrades a message (read >
    delivered > sent), and `failed` wins over anything but read. False when nothing changed
    (or the message is not ours: a reply sent outside unibox)."""
    if state not in ("delivered", "read", "failed"):
        raise InvalidRequest(f"a delivery status is delivered, read or failed (got {state!r})")
    with ws.write(now) as tx:
        message = tx.find(Message, external_id=external_id, channel_id=channel_id)
        if message is None or message.kind != "outgoing":
            return False
        current = message.delivery_state or ""
        if state == "failed":
            if current in ("read", "failed"):
                return False
            message.delivery_state = "failed"
            message.delivery_error = reason or "the provider could not deliver it"
        elif _RANK[state] > _RANK.get(current, 0) and current != "failed":
            message.delivery_state, message.delivery_error = state, None
            entry = tx.find(OutboxEntry, message_id=message.id)
            if entry is not None and entry.state == "uncertain":  # it did arrive
                entry.state = "sent"
                tx.stamp(entry)
        else:
            return False
        tx.stamp(message)
        return True
