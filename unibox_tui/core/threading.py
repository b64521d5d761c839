"""Which conversation an incoming message belongs to — the one threading rule.

In order, first match wins:
1. Headers, in both directions, so the order messages arrive in does not matter (an initial
   sync fetches by UID, and UIDs are not in date order: replies often come before what they
   answer). The message is linked to a conversation when it refers (In-Reply-To /
   References) to a message stored there, when a message stored there refers to it, or when
   both refer to the same message (siblings whose parent has not arrived yet). Only on the
   same channel. When it links several conversations they are one thread that arrived in
   pieces: the oldest survives and the others merge into it (`Placement.merge`, done by
   ingest through core/commands/merging.py).
2. A conversation id the channel proved is ours (e-mail: the HMAC token in our Message-ID).
3. Messaging channels (chat, Messenger, WhatsApp): the contact's latest conversation on the
   channel, if it is not closed, or was closed less than REOPEN_WINDOW ago. On Messenger a
   conversation an agent closed stays closed: the customer writing again starts a new one
   (the seeds' rule: each Messenger request is its own conversation once handled).
4. E-mail, only when headers fail: the contact's latest conversation on the channel with the
   same normalised subject and a message within SUBJECT_WINDOW (conservative: a customer
   writing about something new with an old subject line is rare; splitting one thread in
   two is cheaper to fix than merging two customers' problems).
Otherwise a new conversation starts: always for a form submission (each is its own request,
with its own ticket; the customer's e-mail answers join it by rule 1 or 2).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import clock

Run = Callable[[str, tuple], sqlite3.Cursor]

REOPEN_WINDOW = timedelta(days=7)
SUBJECT_WINDOW = timedelta(days=14)
MESSAGING_KINDS = frozenset({"chat", "messenger", "whatsapp"})
NEW_AFTER_CLOSE = frozenset({"messenger"})
MAX_REFS = 50  # references a message is threaded (and stored) by: the newest ones

_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r|enc)(\[\d+\])?\s*:\s*)+", re.I)


def normalize_subject(subject: str) -> str:
    """`Re: Fwd: AW:  Order  #12` -> `order #12`."""
    return " ".join(_PREFIX.sub("", subject or "").split()).lower()


@dataclass(frozen=True)
class Placement:
    """Where an incoming message goes: `conversation_id` (None: a new conversation), and the
    other conversations it links, oldest first, which merge into that one."""

    conversation_id: str | None
    merge: tuple[str, ...] = ()


def thread_refs(references: tuple[str, ...]) -> tuple[str, ...]:
    """The references a message is threaded by (newest first, as channels give them)."""
    return references[:MAX_REFS]


def linked_conversations(
    run: Run, *, channel_id: str, external_id: str | None, references: tuple[str, ...]
) -> list[str]:
    """Rule 1: the conversations a message is linked to by headers, oldest first."""
    refs = thread_refs(references)
    found: set[str] = set()
    if refs:
        marks = ",".join("?" * len(refs))
        # It refers to a stored message (ours have no channel in old workspaces' rows).
        found.update(
            r[0]
            for r in run(
                f"SELECT conversation_id FROM message WHERE external_id IN ({marks}) "
                "AND (channel_id = ? OR channel_id IS NULL)",
                (*refs, channel_id),
            )
        )
    keys = (external_id, *refs) if external_id else refs
    if keys:
        marks = ",".join("?" * len(keys))
        # A stored message refers to it, or to a message it refers to too.
        found.update(
            r[0]
            for r in run(
                "SELECT m.conversation_id FROM message_ref r JOIN message m "
                f"ON m.rid = r.message_rid WHERE r.ref IN ({marks}) AND m.channel_id = ?",
                (*keys, channel_id),
            )
        )
    if len(found) < 2:
        return list(found)
    marks = ",".join("?" * len(found))
    rows = run(
        f"SELECT id FROM conversation WHERE id IN ({marks}) ORDER BY created_at, rid",
        tuple(found),
    ).fetchall()
    return [r[0] for r in rows]


def find_conversation(
    run: Run,
    *,
    channel_id: str,
    channel_kind: str,
    contact_id: str,
    subject: str,
    references: tuple[str, ...],
    hint: str | None,
    now: datetime,
    external_id: str | None = None,
) -> Placement:
    """Where the message goes: see the module's rules."""
    linked = linked_conversations(
        run, channel_id=channel_id, external_id=external_id, references=references
    )
    if linked:
        return Placement(linked[0], tuple(linked[1:]))
    return Placement(
        _by_hint_or_contact(
            run,
            channel_id=channel_id,
            channel_kind=channel_kind,
            contact_id=contact_id,
            subject=subject,
            hint=hint,
            now=now,
        )
    )


def _by_hint_or_contact(
    run: Run,
    *,
    channel_id: str,
    channel_kind: str,
    contact_id: str,
    subject: str,
    hint: str | None,
    now: datetime,
) -> str | None:
    """Rules 2-4."""
    if hint:
        row = run(
            "SELECT id FROM conversation WHERE id = coalesce("
            "(SELECT into_id FROM conversation_merge WHERE id = ?), ?)",
            (hint, hint),
        ).fetchone()
        if row:
            return row[0]
    if channel_kind == "form":
        return None
    latest = run(
        "SELECT id, status, closed_at, subject, last_message_at FROM conversation "
        "WHERE contact_id = ? AND channel_id = ? ORDER BY last_message_at DESC LIMIT 1",
        (contact_id, channel_id),
    ).fetchone()
    if latest is None:
        return None
    conv_id, status, closed_at, conv_subject, last_at = latest
    if channel_kind in MESSAGING_KINDS:
        if status != "closed":
            return conv_id
        if channel_kind in NEW_AFTER_CLOSE:
            return None
        closed = clock.from_db(closed_at)
        return conv_id if closed and now - closed < REOPEN_WINDOW else None
    same_subject = normalize_subject(subject) == normalize_subject(conv_subject)
    recent = last_at and now - clock.from_db(last_at) < SUBJECT_WINDOW  # type: ignore[operator]
    if same_subject and normalize_subject(subject) and recent:
        return conv_id
    return None
