"""The one outbox: replies waiting to leave, and the state machine they go through.

pending --claim()--> sending --handed_over()--> sending, handed over --> sent
   ^                   |                          |
   +-- retry (not ok   +--> failed (permanent;    +--> uncertain (the connection or the
   |   yet, transient)      the message shows     |    engine died before the provider
   |                        the reason)           |    answered; never resent on its own)
   +------------- resend() by an agent -----------+---- mark_sent() by an agent

The message and its entry are written together by commands.reply, so nothing queued is lost
when unibox stops. An entry left in `sending` by a crash is taken again once its lease ends:
- before its hand-over (e.g. SMTP had not yet been given the message): it is sent again; the
  adapter makes that idempotent (e-mail: the same Message-ID, derived from the stored
  message), and the e-mail channel first looks for a copy in the Sent folder;
- after its hand-over: it may have arrived, and sending again could deliver it twice, so it
  becomes `uncertain` with the reason (unless the channel finds its copy: then `sent`), and
  waits for an agent to resend it or mark it as sent.

A reply that a channel sends as several provider messages (Messenger and WhatsApp: the text,
then one message per file) hands each one over in turn and records the parts delivered so far
(`parts`, with each hand-over); when one part fails after others went out, the reply is
failed (or retried, or uncertain) with what failed named, and any later try, automatic or an
agent's resend, sends only the parts not recorded: a delivered part never goes twice.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from . import clock
from .answering import answering_kind
from .db import Tx, Workspace
from .errors import InvalidRequest, NotFound
from .models import REPLY_IDENTITY, Message, OutboxEntry
from .outgoing import OutboxItem

BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)  # then hourly
UNCERTAIN_AFTER_CRASH = (
    "unibox stopped after handing this reply to the server and before the server confirmed "
    "it; it may or may not have arrived. Resend it, or mark it as sent"
)


def backoff(attempts: int) -> int:
    """Seconds to wait before the next try after `attempts` failed tries."""
    return BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1] if attempts else 0


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
               m.body, m.body_html, c.subject, c.contact_id, ct.name,
               coalesce(a.name, m.author_bot, ''),
               m.created_at, m.external_id, c.meta, c.reply_to, c.channel_kind,
               o.handed_over_at, m.author_agent_id, m.meta, o.parts
        FROM outbox o
        JOIN message m ON m.id = o.message_id
        JOIN conversation c ON c.id = m.conversation_id
        JOIN contact ct ON ct.id = c.contact_id
        JOIN channel ch ON ch.id = o.channel_id
        LEFT JOIN agent a ON a.id = m.author_agent_id
        WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= ? AND ch.enabled = 1
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
            # A chat transcript names its own address and subject (commands/chat.py).
            transcript = json.loads(row[19] or "{}").get("transcript") or {}
            if transcript.get("to"):
                ident = transcript["to"]
            elif row[15] and REPLY_IDENTITY[answering_kind(row[16])] == wanted:
                ident = row[15]  # where the customer wrote from on this conversation
            else:  # continuing on another channel: the contact's identity of that kind
                ident = conn.exec_driver_sql(
                    "SELECT value FROM contact_identity WHERE contact_id = ? AND kind = ? "
                    "ORDER BY rowid LIMIT 1",
                    (row[9], wanted),
                ).scalar()
            # Provider ids of this kind of channel only (a form's submission id is no
            # Message-ID; a chat continued by e-mail threads on the e-mail messages).
            thread = conn.exec_driver_sql(
                "SELECT m.kind, m.external_id FROM message m JOIN channel ch ON ch.id = m.channel_id "
                "WHERE m.conversation_id = ? AND m.external_id IS NOT NULL "
                "AND m.kind IN ('incoming', 'outgoing') AND m.id != ? AND ch.kind = ? "
                "ORDER BY m.created_at, m.rid",
                (row[4], row[1], kind),
            ).all()
            last_inbound = conn.exec_driver_sql(
                "SELECT max(m.created_at) FROM message m JOIN channel ch ON ch.id = m.channel_id "
                "WHERE m.conversation_id = ? AND m.kind = 'incoming' AND ch.kind = ?",
                (row[4], kind),
            ).scalar()
            files = conn.exec_driver_sql(
                "SELECT filename, content_type, data, id FROM attachment "
                "WHERE message_id = ? AND data IS NOT NULL ORDER BY rowid",
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
                    subject=transcript.get("subject") or row[8],
                    recipient=ident,
                    recipient_name=row[10],
                    author_name=row[11],
                    created_at=clock.from_db(row[12]),  # type: ignore[arg-type]
                    external_id=row[13],
                    handed_over=row[17] is not None,
                    thread=[(t[0], t[1]) for t in thread],
                    conversation_meta=json.loads(row[14] or "{}"),
                    attachments=[(f[0], f[1], f[2]) for f in files],
                    message_meta=_sending_meta(row[19]),
                    last_inbound_at=clock.from_db(last_inbound),
                    by_agent=row[18] is not None,
                    attachment_ids=[f[3] for f in files],
                    parts=_parts(row[20]),
                )
            )
    return items


# What a channel may read from a message's meta when it sends it: e-mail addresses and a
# forward, a WhatsApp template, a bot's quick replies or an article/meeting card, the bot.
SENT_META = ("to", "cc", "bcc", "forward", "template", "quick_replies", "card", "bot")


def _parts(raw: str | None) -> dict[str, str]:
    """The delivered parts an entry records (see OutboxEntry.parts)."""
    try:
        found = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str | int)}


def _sending_meta(raw: str | None) -> dict[str, object]:
    """The parts of a message's meta its channel reads when sending."""
    meta = json.loads(raw or "{}")
    return {k: meta[k] for k in SENT_META if k in meta}


def pending_count(ws: Workspace, *, ready_only: bool = False, now: datetime | None = None) -> int:
    """Entries not yet sent, failed or uncertain (with ready_only: only those due now)."""
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
    handed_over: bool | None = None,
    parts: dict[str, str] | None = None,
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
        if handed_over is False:
            entry.handed_over_at = None
        if parts:
            entry.parts = json.dumps(parts, sort_keys=True)
        tx.stamp(entry)
        message = tx.find(Message, id=entry.message_id)
        if message is not None and (delivery or external_id or error):
            if delivery:
                message.delivery_state = delivery
            if external_id:
                message.external_id = external_id
            message.delivery_error = error if delivery in ("failed", "uncertain") else None
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


def handed_over(
    ws: Workspace,
    entry_id: str,
    now: datetime | None = None,
    parts: dict[str, str] | None = None,
) -> bool:
    """Record, before it happens, that the message is being handed to the provider: from
    now on it may arrive, so a crash must not lead to a silent second send. `parts`: the
    parts of the message delivered so far (a reply sent as several provider messages hands
    each one over in turn), kept so that no try sends them again. False when the entry is no
    longer ours to send (not `sending`)."""
    now = now or clock.utcnow()
    sql = "UPDATE outbox SET handed_over_at = ?, seq = ?, updated_at = ?"
    params: list[object] = [clock.to_db(now), None, clock.to_db(now)]
    if parts:
        sql += ", parts = ?"
        params.append(json.dumps(parts, sort_keys=True))
    with ws.write(now) as tx:
        params[1] = tx.seq
        done = tx.session.connection().exec_driver_sql(
            sql + " WHERE id = ? AND state = 'sending'", (*params, entry_id)
        )
        return done.rowcount == 1


def release_handed_over(ws: Workspace, now: datetime | None = None) -> int:
    """Make every entry left `sending` after its hand-over due now, without waiting for its
    lease. Only for an engine that holds the workspace's engine lock: then the engine that
    claimed them is gone. They are never resent on their own (they become uncertain unless
    their copy is found), so no lease needs to protect them. Returns how many."""
    now = now or clock.utcnow()
    with ws.read() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT 1 FROM outbox WHERE state = 'sending' AND handed_over_at IS NOT NULL "
            "AND next_attempt_at > ? LIMIT 1",
            (clock.to_db(now),),
        ).first()
    if not waiting:
        return 0  # the usual case: no write, no change number
    with ws.write(now) as tx:
        done = tx.session.connection().exec_driver_sql(
            "UPDATE outbox SET next_attempt_at = ?, seq = ?, updated_at = ? "
            "WHERE state = 'sending' AND handed_over_at IS NOT NULL AND next_attempt_at > ?",
            (clock.to_db(now), tx.seq, clock.to_db(now), clock.to_db(now)),
        )
        return done.rowcount


def mark_sent(
    ws: Workspace,
    entry_id: str,
    external_id: str | None,
    now: datetime | None = None,
    parts: dict[str, str] | None = None,
) -> None:
    _transition(ws, entry_id, "sent", external_id=external_id, delivery="sent", parts=parts)


def mark_retry(
    ws: Workspace,
    entry_id: str,
    error: str,
    next_attempt_at: datetime,
    keep_handover: bool = False,
    parts: dict[str, str] | None = None,
    external_id: str | None = None,
) -> None:
    """Not sent; try again at `next_attempt_at`. The provider said so (or was never reached),
    so the message did not arrive: a hand-over recorded by this try is cleared, unless
    `keep_handover` (nothing was tried: e.g. an earlier try's copy could not be looked for)."""
    _transition(
        ws,
        entry_id,
        "pending",
        error=error,
        next_at=next_attempt_at,
        delivery="queued",
        handed_over=None if keep_handover else False,
        parts=parts,
        external_id=external_id,
    )


def mark_failed(
    ws: Workspace,
    entry_id: str,
    error: str,
    external_id: str | None = None,
    parts: dict[str, str] | None = None,
) -> None:
    """It will not be delivered (`parts`: what of it was, when it went out in parts)."""
    _transition(
        ws, entry_id, "failed", error=error, delivery="failed", external_id=external_id,
        parts=parts,
    )  # fmt: skip


def mark_uncertain(
    ws: Workspace,
    entry_id: str,
    reason: str,
    external_id: str | None = None,
    parts: dict[str, str] | None = None,
) -> None:
    """It may or may not have arrived: shown as such, and not sent again unless an agent
    resends it."""
    _transition(
        ws, entry_id, "uncertain", error=reason, external_id=external_id, delivery="uncertain",
        parts=parts,
    )  # fmt: skip


def retry(ws: Workspace, message_id: str) -> None:
    """Try a failed message again (see commands.resend for the agent's command)."""
    with ws.write() as tx:
        requeue(tx, message_id, ("failed",))


def requeue(tx: Tx, message_id: str, allowed: tuple[str, ...] = ("failed", "uncertain")) -> int:
    """Put a failed or uncertain message back in the queue, as a fresh send, inside `tx`.
    The parts of it already delivered stay recorded: only the others are sent. Returns how
    many parts that is (0: the whole message goes again)."""
    entry = tx.find(OutboxEntry, message_id=message_id)
    if entry is None:
        raise NotFound(f"message {message_id} is not in the outbox")
    if entry.state not in allowed:
        also = "" if allowed == ("failed",) else " and its delivery is not uncertain"
        raise InvalidRequest(
            f"message {message_id} has not failed{also} (it is {_state_words(entry.state)}); "
            "there is nothing to send again"
        )
    entry.state, entry.next_attempt_at, entry.attempts = "pending", tx.now, 0
    entry.handed_over_at = None
    tx.stamp(entry)
    message = tx.get(Message, message_id, "message")
    message.delivery_state, message.delivery_error = "queued", None
    tx.stamp(message)
    return len(_parts(entry.parts))


def settle_as_sent(tx: Tx, message_id: str) -> None:
    """An agent confirms an uncertain message arrived (e.g. the customer answered it)."""
    entry = tx.find(OutboxEntry, message_id=message_id)
    if entry is None:
        raise NotFound(f"message {message_id} is not in the outbox")
    if entry.state != "uncertain":
        raise InvalidRequest(
            f"message {message_id} is {_state_words(entry.state)}; only a message whose "
            "delivery is uncertain can be marked as sent"
        )
    entry.state = "sent"
    tx.stamp(entry)
    message = tx.get(Message, message_id, "message")
    message.delivery_state, message.delivery_error = "sent", None
    tx.stamp(message)


def _state_words(state: str) -> str:
    return {
        "pending": "still queued",
        "sending": "being sent",
        "sent": "already sent",
        "failed": "failed",
        "uncertain": "of uncertain delivery",
    }.get(state, state)
