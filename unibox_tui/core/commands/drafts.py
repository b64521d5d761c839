"""Drafts: what an agent has written to a conversation and not sent yet.

A draft belongs to one agent (only their own queries read it) and one conversation; saving
empty text clears it, and sending a reply or comment clears it (commands.reply/comment).
"""

from __future__ import annotations

import json
from datetime import datetime

from ..composing import MailFields
from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import Draft
from ._base import acting_on, agent_ref

DRAFT_MODES = ("reply", "comment")


def save_draft(
    ws: Workspace,
    conversation_id: str,
    text: str,
    *,
    actor: str,
    mode: str = "reply",
    via_channel_id: str | None = None,
    mail: dict | None = None,
    now: datetime | None = None,
) -> bool:
    """Keep the agent's draft for a conversation (blank text clears it). False if nothing
    changed. `mail`: the e-mail composer's fields (composing.MailFields.to_json)."""
    if mode not in DRAFT_MODES:
        raise InvalidRequest(f"unknown draft mode {mode!r}; use reply or comment")
    if not text.strip():
        return clear_draft(ws, conversation_id, actor=actor, now=now)
    fields = MailFields.from_json(mail)
    with ws.write(now) as tx:
        conv, agent = acting_on(tx, conversation_id, actor)
        return put_draft(tx, conv.id, agent.id, text, mode, via_channel_id, fields)


def put_draft(
    tx: Tx,
    conversation_id: str,
    agent_id: str,
    text: str,
    mode: str,
    via: str | None,
    mail: MailFields | None = None,
) -> bool:
    """Within a command: keep the agent's draft (e.g. an unsent reply's text)."""
    meta = json.dumps(mail.to_json(), sort_keys=True) if mail is not None else "{}"
    draft = tx.find(Draft, agent_id=agent_id, conversation_id=conversation_id)
    if draft is None:
        draft = Draft(id=new_id(tx.now), agent_id=agent_id, conversation_id=conversation_id)
    elif (draft.text, draft.mode, draft.via_channel_id, draft.meta) == (text, mode, via, meta):
        return False
    draft.text, draft.mode, draft.via_channel_id, draft.meta = text, mode, via, meta
    tx.stamp(draft)
    return True


def clear_draft(
    ws: Workspace, conversation_id: str, *, actor: str, now: datetime | None = None
) -> bool:
    """Drop the agent's draft for a conversation. False if there was none."""
    with ws.write(now) as tx:
        return drop_draft(tx, conversation_id, agent_ref(tx, actor).id)


def drop_draft(tx: Tx, conversation_id: str, agent_id: str) -> bool:
    """Within a command: drop the agent's draft (a reply or comment was sent)."""
    # Asked in plain SQL first: most sends have no draft, and an ORM query cost more than
    # the rest of a comment's lookups (benchmarks/hub_push.py). In a batch (the hub's group
    # commit) an agent's drafts are read once, not once per send: on PostgreSQL each query
    # is a round trip (benchmarks/hub_push.py --postgres). Kept in the batch's memo, which a
    # write to the draft table empties (db.MEMO_TABLES).
    if tx.in_batch:
        key = ("drafts", agent_id)
        drafts = tx.memo.get(key)
        if drafts is None:
            drafts = tx.memo[key] = dict(
                tx.sql("SELECT conversation_id, id FROM draft WHERE agent_id = ?", (agent_id,))
            )
        draft_id = drafts.get(conversation_id)
    else:
        row = tx.sql(
            "SELECT id FROM draft WHERE agent_id = ? AND conversation_id = ?",
            (agent_id, conversation_id),
        ).fetchone()
        draft_id = row[0] if row else None
    if draft_id is None:
        return False
    tx.delete(tx.get(Draft, draft_id, "draft"))
    return True
