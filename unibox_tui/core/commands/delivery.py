"""What an agent does with a reply that did not certainly arrive: send it again, or say it
arrived. (The engine's own transitions are in core/outbox.py.)"""

from __future__ import annotations

from datetime import datetime

from .. import outbox
from ..db import Tx, Workspace
from ..errors import NotFound
from ..models import Message
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
