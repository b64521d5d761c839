"""The one outbox: replies waiting to leave, and the state machine they go through.

pending --claim()--> sending --> sent
   ^                            |
   +---- retry (transient) -----+--> failed (permanent; the message shows the reason)

The message and its entry are written together by commands.reply, so nothing queued is lost
when unibox stops. An entry left in `sending` by a crash is retried: channel adapters make a
send idempotent (e-mail: the same Message-ID, derived from the stored message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import clock
from .db import Workspace
from .errors import InvalidRequest, NotFound
from .models import REPLY_IDENTITY, Message, OutboxEntry

BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)  # then hourly


def backoff(attempts: int) -> int:
    """Seconds to wait before the next try after `attempts` failed tries."""
    return BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1] if attempts else 0


@dataclass
class OutboxItem:
    entry_id: str
    message_id: str
    channel_id: str
    channel_kind: str
    conversation_id: str
    attempts: int
    body: str
    body_html: str | None
    subject: str
    to: str | None
    to_name: str
    author_name: str
    created_at: datetime
    external_id: str | None
    in_reply_to: str | None
    references: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


def due(
    ws: Workspace,
    now: datetime | None = None,
    kinds: tuple[str, ...] | None = None,
    limit: int = 100,
) -> list[OutboxItem]:
    """Entries ready to send now on enabled channels (optionally of these kinds)."""
    now = now or clock.utcnow()
    sql = """
        SELECT o.id, o.message_id, o.channel_id, ch.kind, m.conversation_id, o.attempts,
               m.body, m.body_html, c.subject, c.contact_id, ct.name, coalesce(a.name, ''),
               m.created_at, m.external_id, c.meta, c.reply_to, c.channel_kind
        FROM outbox o
        JOIN message m ON m.id = o.message_id
        JOIN conversation c ON c.id = m.conversation_id
        JOIN contact ct ON ct.id = c.contact_id
        JOIN channel ch ON ch.id = o.channel_id
        LEFT JOIN agent a ON a.id = m.author_agent_id
        WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= ? AND ch.enabled
    """
    params: list = [clock.to_db(now)]
    if kinds:
        sql += f" AND ch.kind IN ({','.join('?' * len(kinds))})"
        params += list(kinds)
    sql += " ORDER BY o.next_attempt_at, o.created_at LIMIT ?"
    params.append(limit)
    items = []
    with ws.read() as conn:
        for row in conn.exec_driver_sql(sql, tuple(params)).all():
            kind = row[3]
            wanted = REPLY_IDENTITY[kind]
            if row[15] and REPLY_IDENTITY[row[16]] == wanted:
                ident = row[15]  # where the customer wrote from on this conversation
            else:  # continuing on another channel: the contact's identity of that kind
                ident = conn.exec_driver_sql(
                    "SELECT value FROM contact_identity WHERE contact_id = ? AND kind = ? "
                    "ORDER BY rowid LIMIT 1",
                    (row[9], wanted),
                ).scalar()
            refs = conn.exec_driver_sql(
                "SELECT external_id, kind FROM message WHERE conversation_id = ? "
                "AND external_id IS NOT NULL AND kind IN ('incoming', 'outgoing') AND id != ? "
                "ORDER BY created_at, rid",
                (row[4], row[1]),
            ).all()
            incoming = [r[0] for r in refs if r[1] == "incoming"]
            files = conn.exec_driver_sql(
                "SELECT filename, content_type, data FROM attachment "
                "WHERE message_id = ? AND data IS NOT NULL",
                (row[1],),
            ).all()
            items.append(
                OutboxItem(
                    entry_id=row[0],
                    message_id=row[1],
                    channel_id=row[2],
                    channel_kind=kind,
                    conversation_id=row[4],
                    attempts=row[5],
                    body=row[6],
                    body_html=row[7],
                    subject=row[8],
                    to=ident,
                    to_name=row[10],
                    author_name=row[11],
                    created_at=clock.from_db(row[12]),  # type: ignore[arg-type]
                    external_id=row[13],
                    in_reply_to=incoming[-1] if incoming else None,
                    references=[r[0] for r in refs],
                    cc=json.loads(row[14] or "{}").get("cc", []),
                    attachments=[(f[0], f[1], f[2]) for f in files],
                )
            )
    return items


def pending_count(ws: Workspace, *, ready_only: bool = False, now: datetime | None = None) -> int:
    """Entries not yet sent or failed (with ready_only: only those due now)."""
    sql = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
    params: tuple = ()
    if ready_only:
        sql += " AND next_attempt_at <= ?"
        params = (clock.to_db(now or clock.utcnow()),)
    with ws.read() as conn:
        return int(conn.exec_driver_sql(sql, params).scalar_one())


def _transition(
    ws: Workspace,
    entry_id: str,
    state: str,
    *,
    error: str | None = None,
    next_at: datetime | None = None,
    external_id: str | None = None,
    delivery: str | None = None,
) -> None:
    with ws.write() as tx:
        entry = tx.find(OutboxEntry, id=entry_id)
        if entry is None:
            raise NotFound(f"no outbox entry {entry_id}")
        if entry.state == "sent":
            raise InvalidRequest(f"outbox entry {entry_id} was already sent; not sending twice")
        entry.state = state
        if error is not None:
            entry.last_error = error
        if next_at is not None:
            entry.next_attempt_at = next_at
        tx.stamp(entry)
        message = tx.find(Message, id=entry.message_id)
        if message is not None and (delivery or external_id or error):
            if delivery:
                message.delivery_state = delivery
            if external_id:
                message.external_id = external_id
            message.delivery_error = error if delivery == "failed" else None
            if delivery == "queued" and error:
                message.delivery_error = f"retrying: {error}"
            tx.stamp(message)


LEASE_SECONDS = 300


def claim(
    ws: Workspace, entry_id: str, now: datetime | None = None, lease_s: int = LEASE_SECONDS
) -> bool:
    """Take an entry for sending: pending -> sending, atomically. False when another engine
    has it (or it is sent/failed). An engine that dies mid-send holds it only until the lease
    ends; then any engine may take it again (and must check it did not leave already)."""
    now = now or clock.utcnow()
    with ws.write(now) as tx:
        taken = tx.session.connection().exec_driver_sql(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?, "
            "seq = ?, updated_at = ? WHERE id = ? AND (state = 'pending' OR "
            "(state = 'sending' AND next_attempt_at <= ?))",
            (
                clock.to_db(now + timedelta(seconds=lease_s)),
                tx.seq,
                clock.to_db(now),
                entry_id,
                clock.to_db(now),
            ),
        )
        return taken.rowcount == 1


def mark_sent(
    ws: Workspace, entry_id: str, external_id: str | None, now: datetime | None = None
) -> None:
    _transition(ws, entry_id, "sent", external_id=external_id, delivery="sent")


def mark_retry(ws: Workspace, entry_id: str, error: str, next_attempt_at: datetime) -> None:
    _transition(ws, entry_id, "pending", error=error, next_at=next_attempt_at, delivery="queued")


def mark_failed(ws: Workspace, entry_id: str, error: str) -> None:
    _transition(ws, entry_id, "failed", error=error, delivery="failed")


def retry(ws: Workspace, message_id: str) -> None:
    """An agent asks to try a failed message again (the thread's retry action)."""
    with ws.write() as tx:
        entry = tx.find(OutboxEntry, message_id=message_id)
        if entry is None:
            raise NotFound(f"message {message_id} is not in the outbox")
        if entry.state != "failed":
            raise InvalidRequest(f"message {message_id} has not failed (it is {entry.state})")
        entry.state, entry.next_attempt_at, entry.attempts = "pending", tx.now, 0
        tx.stamp(entry)
        message = tx.get(Message, message_id, "message")
        message.delivery_state, message.delivery_error = "queued", None
        tx.stamp(message)
