"""Merging two conversations into one: by an agent (`merge_conversations`), or by ingest when
a message links two threads that arrived in pieces (core/threading.py, `fold`).

Conversation B merged into A:
- B's messages (customer mail, replies, comments, activity lines, with their attachments)
  and notifications move to A; an agent's draft on B moves to A, or is appended to their
  draft on A when they have one (one draft per agent and conversation).
- A keeps its contact. B's contact stays as it is, with its identities (it may be a
  colleague in CC, not the same person: `unibox contacts merge` is the separate decision
  that they are one); when replies go by e-mail, B's address is copied on them, as ingest
  does for someone who joins a thread.
- A keeps its ticket. Without one it takes B's; when both have one, B's ticket stays as a
  ticket of its own (the activity line names it), since a conversation links one ticket.
- A is open when either was (a waiting customer is not hidden by a merge), unread when
  either was; it keeps A's assignee and team, or B's when A had none, and starts when the
  earlier of the two started.
- B is deleted, with a tombstone (clients drop it), and leaves a `conversation_merge` row:
  its id still leads to A (`resolve`), and earlier redirects to B now lead to A.
- A gets an activity line saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlmodel import select

from .. import clock
from ..changes import resend_conversation, touch_contact
from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..models import Conversation, ConversationTag, Draft
from ..text import one_line
from ._base import acting_on

LINKED = "a message links both threads"  # why ingest merges
COLUMNS = (
    "id",
    "inbox_id",
    "channel_kind",
    "contact_id",
    "reply_to",
    "subject",
    "preview",
    "status",
    "snoozed_until",
    "assignee_id",
    "team_id",
    "unread",
    "waiting",
    "message_count",
    "created_at",
    "last_message_at",
    "customer_at",
    "first_response_at",
    "closed_at",
    "ticket_id",
    "meta",
)
STATUS_RANK = {"open": 0, "snoozed": 1, "closed": 2}  # the livelier status wins


@dataclass
class MergeResult:
    conversation_id: str  # the conversation that holds both now
    merged_id: str  # the one merged into it (deleted; its id redirects)
    moved: int  # messages moved


def raw_run(tx: Tx) -> Any:
    """`run(sql, params) -> cursor` on the transaction's own connection."""
    return tx.cursor().execute


def resolve(run: Any, conversation_id: str) -> str:
    """The conversation an id leads to now: itself, or the one it was merged into."""
    row = run("SELECT into_id FROM conversation_merge WHERE id = ?", (conversation_id,)).fetchone()
    return row[0] if row else conversation_id


def _row(run: Any, conversation_id: str) -> dict[str, Any]:
    found = run(
        f"SELECT {', '.join(COLUMNS)} FROM conversation WHERE id = ?", (conversation_id,)
    ).fetchone()
    if found is None:
        raise NotFound(f"no conversation {conversation_id}")
    return dict(zip(COLUMNS, found, strict=True))


def _merged(keep: dict[str, Any], gone: dict[str, Any]) -> dict[str, Any]:
    """A's new columns, from A and B."""
    later = gone if (gone["last_message_at"] or "") > (keep["last_message_at"] or "") else keep
    status = min(keep["status"], gone["status"], key=lambda s: STATUS_RANK.get(s, 0))
    with_status = [c for c in (keep, gone) if c["status"] == status]
    meta = {**json.loads(gone["meta"] or "{}"), **json.loads(keep["meta"] or "{}")}
    cc = [
        *json.loads(keep["meta"] or "{}").get("cc", []),
        *json.loads(gone["meta"] or "{}").get("cc", []),
    ]
    address = gone["reply_to"] or ""
    if (
        gone["contact_id"] != keep["contact_id"]
        and keep["channel_kind"] == "email"
        and "@" in address
    ):
        cc.append(address)  # the other customer is copied on replies from now on
    cc = [a for a in dict.fromkeys(cc) if a != keep["reply_to"]]
    if cc:
        meta["cc"] = cc
    starts = [c["created_at"] for c in (keep, gone) if c["created_at"]]
    answered = [c["first_response_at"] for c in (keep, gone) if c["first_response_at"]]
    return {
        "subject": keep["subject"] or gone["subject"],
        "preview": later["preview"],
        "last_message_at": later["last_message_at"],
        "customer_at": max(c["customer_at"] or "" for c in (keep, gone)) or None,
        "waiting": later["waiting"],
        "unread": int(bool(keep["unread"] or gone["unread"])),
        "status": status,
        "snoozed_until": min(c["snoozed_until"] for c in with_status)
        if status == "snoozed"
        else None,
        "closed_at": max(c["closed_at"] or "" for c in with_status) or None
        if status == "closed"
        else None,
        "assignee_id": keep["assignee_id"] or gone["assignee_id"],
        "team_id": keep["team_id"] or gone["team_id"],
        "ticket_id": keep["ticket_id"] or gone["ticket_id"],
        "message_count": keep["message_count"] + gone["message_count"],
        "created_at": min(starts) if starts else None,
        "first_response_at": min(answered) if answered else None,
        "meta": json.dumps(meta) if meta else "{}",
    }


def fold(
    tx: Tx,
    run: Any,
    keep_id: str,
    gone_id: str,
    *,
    actor: tuple[str, str] | None,
    why: str | None = None,
) -> MergeResult:
    """Merge conversation `gone_id` into `keep_id` inside `tx` (the module's rules).
    `run` executes SQL on the transaction's connection (ingest passes its own cursor);
    `actor` is (agent id, name), None for Unibox itself; `why` ends the activity line."""
    if keep_id == gone_id:
        raise InvalidRequest("cannot merge a conversation into itself")
    keep, gone = _row(run, keep_id), _row(run, gone_id)
    tx.session.flush()  # nothing the session holds may be written after the rows below
    seq, stamp = tx.seq, cast(str, clock.to_db(tx.now))
    moved = run(
        "UPDATE message SET conversation_id = ?, seq = ?, updated_at = ? WHERE conversation_id = ?",
        (keep_id, seq, stamp, gone_id),
    ).rowcount
    run(
        "UPDATE notification SET conversation_id = ?, seq = ?, updated_at = ? "
        "WHERE conversation_id = ?",
        (keep_id, seq, stamp, gone_id),
    )
    # Tags: the merged conversation's tags go to the survivor (one row per tag: a tag both
    # had stays once; the other row is deleted with a tombstone, so caches drop it too).
    for tag_row in tx.session.exec(
        select(ConversationTag).where(ConversationTag.conversation_id == gone_id)
    ).all():
        if tx.find(ConversationTag, conversation_id=keep_id, tag_id=tag_row.tag_id) is None:
            tag_row.conversation_id = keep_id
            tx.stamp(tag_row)
        else:
            tx.delete(tag_row)
    for draft in tx.session.exec(select(Draft).where(Draft.conversation_id == gone_id)).all():
        theirs = tx.find(Draft, agent_id=draft.agent_id, conversation_id=keep_id)
        if theirs is None:
            draft.conversation_id = keep_id
            tx.stamp(draft)
        else:
            theirs.text = f"{theirs.text.rstrip()}\n\n{draft.text.lstrip()}"
            tx.stamp(theirs)
            tx.delete(draft)
    values = _merged(keep, gone)
    sets = ", ".join(f"{k} = ?" for k in values)
    run(
        f"UPDATE conversation SET {sets}, seq = ?, updated_at = ? WHERE id = ?",
        (*values.values(), seq, stamp, keep_id),
    )
    notes = []
    if gone["contact_id"] != keep["contact_id"]:
        # Its contact may have been seen only with B (another inbox): send it again.
        touch_contact(run, gone["contact_id"], seq)
        if values["meta"] != keep["meta"] and gone["reply_to"] in json.loads(values["meta"]).get(
            "cc", []
        ):
            notes.append(f"{one_line(gone['reply_to'], 80)} is copied on replies")
    if keep["ticket_id"] and gone["ticket_id"] and keep["ticket_id"] != gone["ticket_id"]:
        number = run("SELECT number FROM ticket WHERE id = ?", (gone["ticket_id"],)).fetchone()
        if number:
            notes.append(f"its ticket #{number[0]} stays a ticket of its own")
    if keep["inbox_id"] != gone["inbox_id"]:
        # Agents who see only A's inbox hold none of B's messages' attachments.
        resend_conversation(run, keep_id, seq)
    found = tx.find(Conversation, id=gone_id)
    if found is not None:
        tx.delete(found)  # with its tombstone, while it still names its inbox
    run(
        "UPDATE conversation_merge SET into_id = ?, seq = ?, updated_at = ? WHERE into_id = ?",
        (keep_id, seq, stamp, gone_id),
    )
    run(
        "INSERT INTO conversation_merge (id, into_id, created_at, updated_at, seq) "
        "VALUES (?, ?, ?, ?, ?)",
        (gone_id, keep_id, stamp, stamp, seq),
    )
    title = one_line(gone["subject"] or gone["preview"], 80) or "a conversation"
    count = f"{gone['message_count']} message{'s' if gone['message_count'] != 1 else ''}"
    who = actor[1] if actor else "Unibox"
    text = f"{who} merged “{title}” ({count}) into this conversation"
    if why:
        text += f": {why}"
    if notes:
        text += "; " + "; ".join(notes)
    run(
        "INSERT INTO message (id, conversation_id, kind, author_agent_id, body, flags, meta, "
        "created_at, updated_at, seq) VALUES (?, ?, 'activity', ?, ?, '', '{}', ?, ?, ?)",
        (new_id(tx.now), keep_id, actor[0] if actor else None, text, stamp, stamp, seq),
    )
    tx.session.expire_all()  # the session's copies of A (and B) are stale now
    return MergeResult(keep_id, gone_id, moved)


def merge_conversations(
    ws: Workspace,
    conversation_id: str,
    merge_id: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> MergeResult:
    """Merge conversation `merge_id` into `conversation_id`: its messages, comments,
    attachments, notifications and drafts move; the merged one's id redirects. The agent
    must be able to act in both inboxes."""
    with ws.write(now) as tx:
        run = raw_run(tx)
        for ref in (conversation_id, merge_id):
            into = resolve(run, ref)
            if into != ref:
                raise InvalidRequest(f"conversation {ref} was merged into {into} already")
        if conversation_id == merge_id:
            raise InvalidRequest("cannot merge a conversation into itself")
        keep, agent = acting_on(tx, conversation_id, actor)
        acting_on(tx, merge_id, actor)
        return fold(tx, run, keep.id, merge_id, actor=(agent.id, agent.name))
