"""Ingest: a message from a customer arrives on a channel.

Resolve the contact by identity (create one if new), thread the message onto a conversation
(core/threading.py) or start one, reopen a closed one when the customer writes again, mark
it unread and waiting. Idempotent: the same external id on the same channel is stored once.
Mail that filters flag (auto-replies, bulk, bounces, denied senders) is recorded but does not
reopen, wake or raise anything: no automatic answer can go to it, so no loop can form.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from .. import clock
from ..changes import touch_contact
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..kinds import IDENTITY_KINDS
from ..text import one_line
from ..threading import Placement, find_conversation, thread_refs
from ..validate import normalize_identity, require_choice

if TYPE_CHECKING:
    from ..db import Tx, Workspace

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# A conversation whose first message is older than this when it is stored is history (an
# initial sync of a mailbox): it is not routed, so connecting a channel does not hand a
# year of old threads to the team one by one, nor open a ticket for each.
ROUTE_HISTORY = timedelta(days=1)
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
    # False: a new conversation is not routed here; the channel routes it later itself with
    # core.routing.route_new_conversation (e.g. a chatflow, when the bot hands over).
    route: bool = True
    # The customer asked for a new conversation (the chat widget's "start a new
    # conversation" after a close): no threading rule applies.
    new_conversation: bool = False


@dataclass
class IngestResult:
    conversation_id: str
    message_id: str
    created_conversation: bool
    duplicate: bool


@dataclass(slots=True)
class Prepared:
    """An `Incoming` with all the work that needs no database done: identity normalised,
    text folded for display, ids made, JSON written. A channel can prepare in a worker
    process what the single writer then only has to store (parse_worker.py)."""

    inc: Incoming  # its attachments are in `attachments` below, as rows
    identity: tuple[str, str]  # (kind, normalised value)
    name: str
    at: str  # created_at as stored
    preview: str
    subject: str
    flags: str
    meta_json: str
    message_id: str
    attachments: tuple[tuple[str, str, str, int, bytes | None, str | None], ...]


def prepare(inc: Incoming, now: datetime | None = None) -> Prepared:
    """Check and prepare one incoming message (raises InvalidRequest)."""
    require_choice(inc.identity_kind, IDENTITY_KINDS, "identity kind")
    value = normalize_identity(inc.identity_kind, inc.identity_value)
    if not value:
        raise InvalidRequest(f"an incoming {inc.identity_kind} message has no sender identity")
    if inc.created_at.tzinfo is None:
        raise InvalidRequest("incoming message time has no time zone")
    now = now or clock.utcnow()
    if not EARLIEST <= inc.created_at <= now + timedelta(days=1):
        # A sender's clock (or a forged Date header) cannot put a message decades away or in
        # the future: the message keeps its text, and takes the time it reached us.
        inc = replace(inc, created_at=now, meta={**inc.meta, "claimed_date": str(inc.created_at)})
    return Prepared(
        inc=replace(inc, attachments=()),
        identity=(inc.identity_kind, value),
        name=one_line(inc.contact_name),
        at=clock.to_db(inc.created_at) or "",
        preview=one_line(inc.body or inc.subject),
        subject=one_line(inc.subject, 300),
        flags=" ".join(sorted(inc.flags)),
        meta_json=json.dumps(inc.meta, default=str) if inc.meta else "{}",
        message_id=new_id(inc.created_at),
        attachments=tuple(
            (
                new_id(inc.created_at),
                one_line(part.filename, 255) or "attachment",
                part.content_type,
                part.size,
                part.data,
                part.note,
            )
            for part in inc.attachments
        ),
    )


def placeholder_name(kind: str, value: str) -> str:
    """A contact's name before they give one: their address or number, and for an
    anonymous website visitor (`visitor:<random id>`) "Visitor" and the id's first
    characters, which read as a name in the list where the raw id did not."""
    if kind == "chat" and value.startswith("visitor:"):
        return f"Visitor {value.removeprefix('visitor:')[:6]}"
    return value


def _rid(b: _Batch, message_id: str) -> int:
    """A message's rowid just inserted, on PostgreSQL (which has no lastrowid)."""
    return b.sql("SELECT rid FROM message WHERE id = ?", (message_id,)).fetchone()[0]


class _Batch:
    """Per-transaction state of an ingest batch: the write's stamp and small caches.

    Ingest is the hot path of a channel's initial sync (thousands of messages a second), so
    it writes with plain SQL on the transaction's connection instead of ORM objects; the
    rules are the same as every other command's (one change number, activity lines).
    """

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.cursor = tx.cursor()
        self.seq = tx.seq
        self.stamp = cast(str, clock.to_db(tx.now))
        self.channels: dict[str, tuple[str, str]] = {}  # id -> (kind, inbox_id)
        self.contacts: dict[tuple[str, str], tuple[str, str]] = {}  # identity -> (id, name)

    def sql(self, statement: str, params: tuple = ()) -> sqlite3.Cursor:
        # The DBAPI cursor of the transaction's own connection: same transaction, none of
        # SQLAlchemy's per-statement work (which was most of the time per message).
        return self.cursor.execute(statement, params)

    def channel(self, channel_id: str) -> tuple[str, str]:
        found = self.channels.get(channel_id)
        if found is None:
            row = self.sql(
                "SELECT kind, inbox_id FROM channel WHERE id = ?", (channel_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no channel with id {channel_id}")
            found = self.channels[channel_id] = (row[0], row[1])
        return found

    def contact(self, key: tuple[str, str], name: str) -> str:
        value = key[1]
        cached = self.contacts.get(key)
        if cached is None:
            cached = self.contacts[key] = self._find_contact(key, name)
        contact_id, current = cached
        # A name upgrades a contact known only by its address (or by nothing).
        unnamed = not current or current in (value, placeholder_name(*key))
        if name and name != current and unnamed:
            self.sql(
                "UPDATE contact SET name = ?, seq = ?, updated_at = ? WHERE id = ?",
                (name, self.seq, self.stamp, contact_id),
            )
            self.contacts[key] = (contact_id, name)
        return contact_id

    def _find_contact(self, key: tuple[str, str], name: str) -> tuple[str, str]:
        """(id, current name) of the contact with this identity, created if there is none."""
        row = self.sql(
            "SELECT c.id, c.name, c.merged_into_id FROM contact_identity i "
            "JOIN contact c ON c.id = i.contact_id WHERE i.kind = ? AND i.value = ?",
            key,
        ).fetchone()
        if row:
            contact_id, current, merged = row
            seen = {contact_id}
            while merged and merged not in seen:  # a merged contact forwards
                contact_id, current, merged = self.sql(
                    "SELECT id, name, merged_into_id FROM contact WHERE id = ?", (merged,)
                ).fetchone()
                seen.add(contact_id)
            return contact_id, current
        contact_id = new_id(self.tx.now)
        current = name or placeholder_name(*key)
        self.sql(
            "INSERT INTO contact (id, name, notes, created_at, updated_at, seq) "
            "VALUES (?, ?, '', ?, ?, ?)",
            (contact_id, current, self.stamp, self.stamp, self.seq),
        )
        self.sql(
            "INSERT INTO contact_identity (id, contact_id, kind, value, updated_at, seq) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(self.tx.now), contact_id, key[0], key[1], self.stamp, self.seq),
        )
        return contact_id, current

    def activity(self, conversation_id: str, text: str, at: str, event: str | None = None) -> None:
        meta = json.dumps({"event": event}) if event else "{}"  # for the reports (0017)
        self.sql(
            "INSERT INTO message (id, conversation_id, kind, body, flags, meta, created_at, "
            "updated_at, seq) VALUES (?, ?, 'activity', ?, '', ?, ?, ?, ?)",
            (new_id(self.tx.now), conversation_id, text, meta, at, self.stamp, self.seq),
        )


def _merge_cc(meta_json: str, cc: list[str], reply_to: str | None) -> str | None:
    """The conversation's meta with `cc` added (never its reply address); None if unchanged."""
    meta = json.loads(meta_json or "{}")
    known = meta.get("cc", [])
    merged = list(dict.fromkeys([*known, *(a for a in cc if a != reply_to)]))
    if merged == known:
        return None
    meta["cc"] = merged
    return json.dumps(meta)


def _ingest_one(b: _Batch, p: Prepared) -> IngestResult:
    inc = p.inc
    kind, inbox_id = b.channel(inc.channel_id)
    if inc.external_id:
        row = b.sql(
            "SELECT id, conversation_id FROM message WHERE external_id = ? AND channel_id = ?",
            (inc.external_id, inc.channel_id),
        ).fetchone()
        if row:
            return IngestResult(row[1], row[0], created_conversation=False, duplicate=True)
    contact_id = b.contact(p.identity, p.name)
    reply_to = p.identity[1]
    quiet = bool(inc.flags & QUIET_FLAGS)
    at, preview = p.at, p.preview
    cc = inc.meta.get("cc") or []
    placement = (
        Placement(None)
        if inc.new_conversation
        else find_conversation(
            b.sql,
            channel_id=inc.channel_id,
            channel_kind=kind,
            contact_id=contact_id,
            subject=inc.subject,
            references=inc.references,
            hint=inc.conversation_hint,
            # Windows are measured from the message's own time, so history imported by an
            # initial sync threads the way it did when it arrived.
            now=inc.created_at,
            external_id=inc.external_id,
        )
    )
    conv_id = placement.conversation_id
    if placement.merge:
        from .merging import LINKED, fold  # not at import: the parse worker loads this module
    for other in placement.merge:
        # One thread that arrived in pieces (its replies before what they answer): this
        # message links them, so they become one conversation again.
        fold(b.tx, b.sql, conv_id, other, actor=None, why=LINKED)  # type: ignore[arg-type]
    created = conv_id is None
    if conv_id is None:
        conv_id = new_id(inc.created_at)
        denied = "denied" in inc.flags  # recorded, but kept out of the open views
        b.sql(
            "INSERT INTO conversation (id, inbox_id, channel_id, channel_kind, contact_id, reply_to, "
            "subject, preview, status, unread, waiting, message_count, created_at, "
            "last_message_at, customer_at, closed_at, meta, updated_at, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            (
                conv_id,
                inbox_id,
                inc.channel_id,
                kind,
                contact_id,
                reply_to,
                p.subject,
                preview,
                "closed" if denied else "open",
                int(not quiet),
                int(not quiet),
                at,
                at,
                at,
                b.stamp if denied else None,
                json.dumps({"cc": cc}) if cc else "{}",
                b.stamp,
                b.seq,
            ),
        )
        # Agents who could not see this contact (all their conversations were in inboxes
        # hidden from them) may now: send it again (core/changes.py).
        touch_contact(b.sql, contact_id, b.seq)
    else:
        status, last_at, meta, customer, answer_to, first_at, customer_at = b.sql(
            "SELECT status, last_message_at, meta, contact_id, reply_to, created_at, customer_at "
            "FROM conversation WHERE id = ?",
            (conv_id,),
        ).fetchone()
        sets = ["message_count = message_count + 1", "seq = ?", "updated_at = ?"]
        params: list[Any] = [b.seq, b.stamp]
        if contact_id != customer:
            # Someone else joined the thread (e.g. a reply to the customer's Message-ID, or
            # the customer's colleague): replies keep going to the conversation's customer,
            # and the newcomer, if reachable by e-mail, is copied on them from now on.
            address = p.identity[1]
            if p.identity[0] == "email" and address not in json.loads(meta or "{}").get("cc", []):
                cc = [*cc, address]
                who = f"{p.name} <{address}>" if p.name and p.name != address else address
                b.activity(conv_id, f"{who} joined in CC", at)
        elif not quiet:
            # The customer may write from another address of theirs: answer where they wrote.
            sets.append("reply_to = ?")
            params.append(reply_to)
            answer_to = reply_to
        if not quiet:
            if status == "closed":
                b.activity(conv_id, "Reopened: the customer wrote again", b.stamp, "reopened")
            elif status == "snoozed":
                b.activity(conv_id, "Woken: the customer wrote again", b.stamp)
            sets.append("status = 'open', closed_at = NULL, snoozed_until = NULL")
            sets.append("unread = 1, waiting = 1")
        if last_at is None or at >= last_at:
            sets.append("last_message_at = ?, preview = ?")
            params += [at, preview]
        if customer_at is None or at > customer_at:
            sets.append("customer_at = ?")
            params.append(at)
        if first_at is not None and at < first_at:
            # An earlier message of the thread arrived after later ones (an initial sync):
            # the conversation starts when the thread did, under the thread's first subject.
            sets.append("created_at = ?")
            params.append(at)
            if p.subject:
                sets.append("subject = ?")
                params.append(p.subject)
        merged = _merge_cc(meta, cc, answer_to) if cc else None
        if merged is not None:
            sets.append("meta = ?")
            params.append(merged)
        b.sql(f"UPDATE conversation SET {', '.join(sets)} WHERE id = ?", (*params, conv_id))
    message_id = p.message_id
    inserted = b.sql(
        "INSERT INTO message (id, conversation_id, kind, author_contact_id, channel_id, body, "
        "body_html, external_id, flags, meta, created_at, updated_at, seq) "
        "VALUES (?, ?, 'incoming', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message_id,
            conv_id,
            contact_id,
            inc.channel_id,
            inc.body,
            inc.body_html,
            inc.external_id,
            p.flags,
            p.meta_json,
            at,
            b.stamp,
            b.seq,
        ),
    )
    refs = thread_refs(inc.references)
    if refs:
        # What it refers to, for the messages of its thread that arrive after it.
        rid = inserted.lastrowid if not b.tx.postgres else _rid(b, message_id)
        b.cursor.executemany(
            "INSERT OR IGNORE INTO message_ref (ref, message_rid) VALUES (?, ?)",
            [(ref, rid) for ref in refs],
        )
    for attachment_id, filename, content_type, size, data, note in p.attachments:
        b.sql(
            "INSERT INTO attachment (id, message_id, filename, content_type, size, data, note, "
            "updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (attachment_id, message_id, filename, content_type, size, data, note, b.stamp, b.seq),
        )
    if created and inc.route and not quiet and inc.created_at >= b.tx.now - ROUTE_HISTORY:
        # Routing writes with its own plain SQL on this transaction (core/routing.py).
        from ..routing import route_new_conversation

        route_new_conversation(b.tx, conv_id)
    return IngestResult(conv_id, message_id, created_conversation=created, duplicate=False)


def ingest(ws: Workspace, incoming: Incoming, now: datetime | None = None) -> IngestResult:
    return ingest_many(ws, [incoming], now=now)[0]


def ingest_many(
    ws: Workspace,
    items: Sequence[Incoming | Prepared],
    sync_state: tuple[str, str, dict[str, Any]] | None = None,
    now: datetime | None = None,
) -> list[IngestResult]:
    """Ingest a batch in one transaction, with the channel's sync state written in the same
    transaction: after a crash either both the messages and the new state are stored, or
    neither is, so the next sync neither loses nor duplicates anything."""
    now = now or clock.utcnow()
    ready = [item if isinstance(item, Prepared) else prepare(item, now) for item in items]
    with ws.write(now) as tx:
        batch = _Batch(tx)
        results = [_ingest_one(batch, p) for p in ready]
        if sync_state is not None:
            save_sync_state(tx, *sync_state)
        return results


def save_sync_state(tx: Tx, channel_id: str, key: str, state: dict[str, Any]) -> None:
    from ..models import SyncState  # not at import: the parse worker loads this module

    row = tx.find(SyncState, channel_id=channel_id, key=key)
    if row is None:
        row = SyncState(id=new_id(tx.now), channel_id=channel_id, key=key)
    row.state = json.dumps(state, sort_keys=True)
    tx.stamp(row)


def set_sync_state(ws: Workspace, channel_id: str, key: str, state: dict[str, Any]) -> None:
    with ws.write() as tx:
        save_sync_state(tx, channel_id, key, state)


def link_identities(ws: Workspace, links: Sequence[tuple[str, str, str, str]]) -> int:
    """`(kind, value, other_kind, other_value)`: the contact with identity (kind, value) is
    also reached at (other_kind, other_value), unless that identity is someone's already
    (e.g. a WhatsApp id's phone number). Returns how many were added. Plain SQL: it runs
    after every webhook batch."""
    wanted: dict[Any, Any] = {}
    for kind, value, other_kind, other_value in links:
        other = (other_kind, normalize_identity(other_kind, other_value))
        wanted.setdefault(other, (kind, normalize_identity(kind, value)))
    if not wanted:
        return 0
    added = 0
    with ws.write() as tx:
        b = _Batch(tx)
        for (other_kind, other_value), (kind, value) in wanted.items():
            if b.sql(
                "SELECT 1 FROM contact_identity WHERE kind = ? AND value = ?",
                (other_kind, other_value),
            ).fetchone():
                continue
            row = b.sql(
                "SELECT contact_id FROM contact_identity WHERE kind = ? AND value = ?",
                (kind, value),
            ).fetchone()
            if row is None:
                continue
            b.sql(
                "INSERT INTO contact_identity (id, contact_id, kind, value, updated_at, seq) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (new_id(tx.now), row[0], other_kind, other_value, b.stamp, b.seq),
            )
            added += 1
    return added
