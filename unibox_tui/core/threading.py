"""Which conversation an incoming message belongs to — the one threading rule.

In order, first match wins:
1. Headers: the message refers (In-Reply-To / References) to a message we stored on the
   same channel, ours or the customer's.
2. A conversation id the channel proved is ours (e-mail: the HMAC token in our Message-ID).
3. Messaging channels (chat, Messenger, WhatsApp): the contact's latest conversation on the
   channel, if it is not closed, or was closed less than REOPEN_WINDOW ago.
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
from datetime import datetime, timedelta

from . import clock

Run = Callable[[str, tuple], sqlite3.Cursor]

REOPEN_WINDOW = timedelta(days=7)
SUBJECT_WINDOW = timedelta(days=14)
MESSAGING_KINDS = frozenset({"chat", "messenger", "whatsapp"})

_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r|enc)(\[\d+\])?\s*:\s*)+", re.I)


def normalize_subject(subject: str) -> str:
    """`Re: Fwd: AW:  Order  #12` -> `order #12`."""
    return " ".join(_PREFIX.sub("", subject or "").split()).lower()


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
) -> str | None:
    """The id of the conversation the message joins, or None for a new one."""
    if references:
        marks = ",".join("?" * len(references))
        row = run(
            f"SELECT conversation_id FROM message WHERE external_id IN ({marks}) "
            "AND (channel_id = ? OR channel_id IS NULL) ORDER BY rid DESC LIMIT 1",
            (*references, channel_id),
        ).fetchone()
        if row:
            return row[0]
    if hint:
        row = run("SELECT id FROM conversation WHERE id = ?", (hint,)).fetchone()
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
        closed = clock.from_db(closed_at)
        return conv_id if closed and now - closed < REOPEN_WINDOW else None
    same_subject = normalize_subject(subject) == normalize_subject(conv_subject)
    recent = last_at and now - clock.from_db(last_at) < SUBJECT_WINDOW  # type: ignore[operator]
    if same_subject and normalize_subject(subject) and recent:
        return conv_id
    return None
