"""Ingest: a message from a customer arrives on a channel.

Resolve the contact by identity (create one if new), thread the message onto a conversation
(core/threading.py) or start one, reopen a closed one when the customer writes again, mark
it unread and waiting. Idempotent: the same external id on the same channel is stored once.
Mail that filters flag (auto-replies, bulk, bounces, denied senders) is recorded but does not
reopen, wake or raise anything: no automatic answer can go to it, so no loop can form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import Attachment, Channel, Contact, ContactIdentity, Conversation, Message, SyncState
from ..text import one_line
from ..threading import find_conversation
from ._base import activity, contact, conversation
from .contacts import normalize_identity

QUIET_FLAGS = frozenset({"auto_reply", "bulk", "bounce", "denied"})


@dataclass
class IncomingAttachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None
    note: str | None = None  # e.g. why the bytes were not kept


@dataclass
class Incoming:
    """One message from a customer, as a channel adapter hands it to the core."""

    channel_id: str
    identity_kind: str
    identity_value: str
    contact_name: str
    body: str
    created_at: datetime
    subject: str = ""
    body_html: str | None = None
    external_id: str | None = None
    references: tuple[str, ...] = ()
    conversation_hint: str | None = None
    flags: frozenset[str] = frozenset()
    meta: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[IncomingAttachment, ...] = ()


@dataclass
class IngestResult:
    conversation_id: str
    message_id: str
    created_conversation: bool
    duplicate: bool


def _resolve_contact(tx: Tx, inc: Incoming) -> Contact:
    value = normalize_identity(inc.identity_kind, inc.identity_value)
    identity = tx.find(ContactIdentity, kind=inc.identity_kind, value=value)
    if identity:
        found = contact(tx, identity.contact_id)
        name = one_line(inc.contact_name)
        if name and (not found.name or found.name == value):
            found.name = name
            tx.stamp(found)
        return found
    found = Contact(id=new_id(tx.now), name=one_line(inc.contact_name) or value, created_at=tx.now)
    tx.stamp(found)
    tx.session.flush()
    tx.stamp(
        ContactIdentity(id=new_id(tx.now), contact_id=found.id, kind=inc.identity_kind, value=value)
    )
    return found


def _ingest_one(tx: Tx, inc: Incoming, channels: dict[str, Channel]) -> IngestResult:
    channel = channels.get(inc.channel_id)
    if channel is None:
        channel = channels[inc.channel_id] = tx.get(Channel, inc.channel_id, "channel")
    conn = tx.session.connection()
    if inc.external_id:
        row = conn.exec_driver_sql(
            "SELECT id, conversation_id FROM message WHERE external_id = ? AND channel_id = ?",
            (inc.external_id, channel.id),
        ).first()
        if row:
            return IngestResult(row[1], row[0], created_conversation=False, duplicate=True)
    if inc.created_at.tzinfo is None:
        raise InvalidRequest("incoming message time has no time zone")
    who = _resolve_contact(tx, inc)
    tx.session.flush()
    quiet = bool(inc.flags & QUIET_FLAGS)
    conv_id = find_conversation(
        tx.session,
        channel_id=channel.id,
        channel_kind=channel.kind,
        contact_id=who.id,
        subject=inc.subject,
        references=inc.references,
        hint=inc.conversation_hint,
        # Windows are measured from the message's own time, so history imported by an
        # initial sync threads the way it did when it arrived.
        now=inc.created_at,
    )
    created = conv_id is None
    if conv_id is None:
        conv = Conversation(
            id=new_id(inc.created_at),
            inbox_id=channel.inbox_id,
            channel_id=channel.id,
            channel_kind=channel.kind,
            contact_id=who.id,
            subject=one_line(inc.subject, 300),
            created_at=inc.created_at,
            last_message_at=inc.created_at,
            unread=not quiet,
            waiting=not quiet,
        )
        if "denied" in inc.flags:
            # Recorded, but kept out of the open views: it starts closed.
            conv.status, conv.closed_at = "closed", tx.now
        if inc.meta.get("cc"):
            conv.meta = json.dumps({"cc": inc.meta["cc"]})
        tx.stamp(conv)
    else:
        conv = conversation(tx, conv_id)
        if not quiet:
            if conv.status == "closed":
                conv.status, conv.closed_at = "open", None
                activity(tx, conv, "Reopened: the customer wrote again", None)
            elif conv.status == "snoozed":
                conv.status, conv.snoozed_until = "open", None
                activity(tx, conv, "Woken: the customer wrote again", None)
            conv.unread = True
            conv.waiting = True
        if inc.meta.get("cc"):
            meta = json.loads(conv.meta or "{}")
            cc = list(dict.fromkeys([*meta.get("cc", []), *inc.meta["cc"]]))
            conv.meta = json.dumps({**meta, "cc": cc})
    message = Message(
        id=new_id(inc.created_at),
        conversation_id=conv.id,
        kind="incoming",
        author_contact_id=who.id,
        channel_id=channel.id,
        body=inc.body,
        body_html=inc.body_html,
        external_id=inc.external_id,
        flags=" ".join(sorted(inc.flags)),
        meta=json.dumps(inc.meta, default=str) if inc.meta else "{}",
        created_at=inc.created_at,
    )
    tx.stamp(message)
    for part in inc.attachments:
        tx.stamp(
            Attachment(
                id=new_id(inc.created_at),
                message_id=message.id,
                filename=one_line(part.filename, 255) or "attachment",
                content_type=part.content_type,
                size=part.size,
                data=part.data,
                note=part.note,
            )
        )
    if conv.last_message_at is None or inc.created_at >= conv.last_message_at:
        conv.last_message_at = inc.created_at
        conv.preview = one_line(inc.body or inc.subject)
    conv.message_count += 1
    tx.stamp(conv)
    tx.session.flush()
    return IngestResult(conv.id, message.id, created_conversation=created, duplicate=False)


def ingest(ws: Workspace, incoming: Incoming) -> IngestResult:
    return ingest_many(ws, [incoming])[0]


def ingest_many(
    ws: Workspace,
    items: list[Incoming],
    sync_state: tuple[str, str, dict[str, Any]] | None = None,
) -> list[IngestResult]:
    """Ingest a batch in one transaction, with the channel's sync state written in the same
    transaction: after a crash either both the messages and the new state are stored, or
    neither is, so the next sync neither loses nor duplicates anything."""
    with ws.write() as tx:
        channels: dict[str, Channel] = {}
        results = [_ingest_one(tx, inc, channels) for inc in items]
        if sync_state is not None:
            save_sync_state(tx, *sync_state)
        return results


def save_sync_state(tx: Tx, channel_id: str, key: str, state: dict[str, Any]) -> None:
    row = tx.find(SyncState, channel_id=channel_id, key=key)
    if row is None:
        row = SyncState(id=new_id(tx.now), channel_id=channel_id, key=key)
    row.state = json.dumps(state, sort_keys=True)
    tx.stamp(row)


def set_sync_state(ws: Workspace, channel_id: str, key: str, state: dict[str, Any]) -> None:
    with ws.write() as tx:
        save_sync_state(tx, channel_id, key, state)
