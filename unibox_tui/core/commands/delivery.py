"""What happens to a reply after the engine's try: an agent sends one that did not certainly
arrive again, or says it arrived; a provider reports it delivered, read or failed after all.
(The engine's own transitions are in core/outbox.py.)"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import select

from .. import outbox
from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..models import (
    REPLY_IDENTITY,
    Attachment,
    Channel,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    OutboxEntry,
)
from ..text import one_line
from ._base import acting_on, activity

# What our replies carry to the provider and get back in echoes and statuses (Messenger
# `metadata`, WhatsApp `biz_opaque_callback_data`): this prefix and the message's id.
ECHO_PREFIX = "unibox:"


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
        # After a partial failure only the parts that did not arrive go again: say so, the
        # agent would otherwise expect the customer to get the whole reply twice.
        arrived = outbox.requeue(tx, message.id)
        what = "the parts of a reply that did not arrive" if arrived else "a reply"
        activity(tx, conv, f"{by.name} sent {what} again", by)


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
        if message is None:
            return _part_status(tx, channel_id, external_id, state, reason)
        if message.kind != "outgoing":
            return False
        current = message.delivery_state or ""
        if state == "failed":
            if current in ("read", "failed"):
                return False
            message.delivery_state = "failed"
            message.delivery_error = reason or "the provider could not deliver it"
        elif _RANK[state] > _RANK.get(current, 0) and current != "failed":
            entry = tx.find(OutboxEntry, message_id=message.id)
            if entry is not None and entry.parts not in ("", "{}") and entry.state != "sent":
                # A reply sent in parts (outbox.py) that is not all out: the receipt is for
                # the part it names (the text), not for the files still to go or in doubt.
                return False
            message.delivery_state, message.delivery_error = state, None
            if entry is not None and entry.state == "uncertain":  # it did arrive
                entry.state = "sent"
                tx.stamp(entry)
        else:
            return False
        tx.stamp(message)
        return True


def _part_status(tx: Tx, channel_id: str, external_id: str, state: str, reason: str | None) -> bool:
    """A status for a part of a reply sent in parts (a file after the text: the message
    keeps the text's id, outbox.parts the others'). Receipts follow the text's; a part that
    failed fails the reply, naming the file, and leaves the recorded parts so a resend sends
    that file alone."""
    if state != "failed":
        return False
    quoted = json.dumps(external_id)  # as it is written in the parts' JSON
    for special in ("\\", "%", "_"):  # LIKE's own characters, taken literally
        quoted = quoted.replace(special, "\\" + special)
    pattern = f"%{quoted}%"
    rows = tx.session.exec(
        select(OutboxEntry).where(
            OutboxEntry.channel_id == channel_id,
            OutboxEntry.parts != "{}",  # only replies sent in parts record any
            OutboxEntry.parts.like(pattern, escape="\\"),  # type: ignore[attr-defined]
        )
    ).all()
    for entry in rows:
        parts = json.loads(entry.parts or "{}")
        part = next((k for k, v in parts.items() if v == external_id), None)
        if part is None or part == "text":
            continue
        message = tx.get(Message, entry.message_id, "message")
        attachment = tx.session.get(Attachment, part.removeprefix("file:"))
        name = attachment.filename if attachment is not None else "a file"
        del parts[part]
        entry.parts = json.dumps(parts, sort_keys=True)
        why = reason or "the provider could not deliver it"
        entry.state, entry.last_error = "failed", f"{name} was not delivered: {why}"
        message.delivery_state, message.delivery_error = "failed", entry.last_error
        tx.stamp(entry)
        tx.stamp(message)
        return True
    return False


_BELOW = {"delivered": ("sent",), "read": ("sent", "delivered")}


def apply_watermark(
    ws: Workspace,
    channel_id: str,
    recipient: str,
    state: str,
    until: datetime,
    *,
    now: datetime | None = None,
) -> int:
    """Messenger's receipts name no message: everything sent to `recipient` on the channel
    up to `until` was delivered (or read). Marks those replies, never downgrading one (nor
    touching a failed one); returns how many changed."""
    if state not in _BELOW:
        raise InvalidRequest(f"a receipt is delivered or read (got {state!r})")
    with ws.write(now) as tx:
        rows = tx.session.exec(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)  # type: ignore[arg-type]
            .where(
                Message.channel_id == channel_id,
                Message.kind == "outgoing",
                Conversation.reply_to == recipient,
                Message.created_at <= until,  # type: ignore[operator]
                Message.delivery_state.in_(_BELOW[state]),  # type: ignore[union-attr]
            )
        ).all()
        for message in rows:
            message.delivery_state, message.delivery_error = state, None
            tx.stamp(message)
        return len(rows)


def record_echo(
    ws: Workspace,
    channel_id: str,
    recipient: str,
    external_id: str,
    body: str,
    created_at: datetime,
    *,
    metadata: str | None = None,
    contact_name: str = "",
    now: datetime | None = None,
) -> str | None:
    """A message the channel itself sent, as the provider echoes it (Messenger echoes every
    message a page sends). Our own reply is recognised by its provider id or by the
    `unibox:<message id>` metadata we sent with it, and never stored twice; one an agent
    typed in the provider's own inbox (Meta's Page inbox) is imported once as an outgoing
    message on the customer's latest conversation there. Returns the new message's id, or
    None when it was ours or already imported."""
    with ws.write(now) as tx:
        if tx.find(Message, external_id=external_id, channel_id=channel_id) is not None:
            return None
        if metadata and metadata.startswith(ECHO_PREFIX):
            ours = tx.find(Message, id=metadata[len(ECHO_PREFIX) :])
            if ours is not None and ours.channel_id == channel_id:
                if not ours.external_id:  # the echo came before the send's answer
                    ours.external_id = external_id
                    tx.stamp(ours)
                return None
        channel = tx.get(Channel, channel_id, "channel")
        identity = REPLY_IDENTITY[channel.kind]
        known = tx.find(ContactIdentity, kind=identity, value=recipient)
        if known is None:
            contact = Contact(id=new_id(tx.now), name=contact_name or recipient, created_at=tx.now)
            tx.stamp(contact)
            tx.stamp(
                ContactIdentity(
                    id=new_id(tx.now), contact_id=contact.id, kind=identity, value=recipient
                )
            )
            contact_id = contact.id
        else:
            contact_id = known.contact_id
        conv = tx.session.exec(
            select(Conversation)
            .where(Conversation.contact_id == contact_id, Conversation.channel_id == channel_id)
            .order_by(Conversation.last_message_at.desc())  # type: ignore[union-attr]
        ).first()
        if conv is None:  # the page wrote first, from Meta's inbox
            conv = Conversation(
                id=new_id(tx.now),
                inbox_id=channel.inbox_id,
                channel_id=channel_id,
                channel_kind=channel.kind,
                contact_id=contact_id,
                reply_to=recipient,
                status="open",
                unread=False,
                waiting=False,
                created_at=created_at,
            )
        message = Message(
            id=new_id(tx.now),
            conversation_id=conv.id,
            kind="outgoing",
            channel_id=channel_id,
            body=body,
            external_id=external_id,
            delivery_state="sent",
            meta=json.dumps({"sent_from": f"the {channel.kind} app, outside unibox"}),
            created_at=created_at,
        )
        if conv.last_message_at is None or created_at >= conv.last_message_at:
            conv.last_message_at = created_at
            conv.preview = one_line(body)
            conv.waiting = False
        conv.message_count += 1
        tx.stamp(conv)
        tx.stamp(message)
        return message.id
