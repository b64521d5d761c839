"""Tags: labels agents put on conversations, to find them again (a view per tag) and to see
at a glance what a conversation is about (shown in the list's rows).

A tag is one lower-case word (`billing`, `vip`, `bug-1042`); tagging with a new name makes
the tag. Everyone sees every tag name; a conversation's tags go where its messages go (the
change log's "message" rule: by the conversation's inbox). Untagging deletes the pairing
through `tx.delete`, so replicas drop it too; the tag itself stays for completion.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id, seeded_id
from ..models import Agent, Conversation, ConversationTag, Tag
from ._base import acting_on, activity

MAX_TAG = 40
TAG_CHARS = "-_."


def tag_name(text: str) -> str:
    """A tag's stored form: trimmed, without a leading `#`, lower-case; refused unless it is
    one word of letters, digits and - _ . (so `tag:NAME` views and the CLI take it as is)."""
    name = (text or "").strip().lstrip("#").lower()
    if not name or len(name) > MAX_TAG or not all(ch.isalnum() or ch in TAG_CHARS for ch in name):
        shown = (text or "")[:60].encode("unicode_escape").decode("ascii")
        raise InvalidRequest(
            f"a tag is one word of letters, digits, - _ or . (1-{MAX_TAG} characters), "
            f"not {shown!r}"
        )
    return name


def _tag_id(pair_id: str | None, at: datetime) -> str:
    """The id of a tag made by this write. From a client-minted pair id it is derived (the
    same on the client's cache and on the hub, so both name the new tag alike); else new."""
    if pair_id is None:
        return new_id(at)
    ms = uuid.UUID(pair_id).int >> 80
    return seeded_id(random.Random(pair_id), datetime.fromtimestamp(ms / 1000, UTC))


def tagging(tx: Tx, conv: Conversation, by: Agent, name: str, *, id: str | None = None) -> bool:
    """Put tag `name` on `conv` (in a transaction the caller holds, after `acting_on`)."""
    name = tag_name(name)
    found = tx.find(Tag, name=name)
    if found is None:
        found = Tag(id=_tag_id(id, tx.now), name=name)
        tx.stamp(found)
    elif tx.find(ConversationTag, conversation_id=conv.id, tag_id=found.id) is not None:
        return False
    tx.stamp(ConversationTag(id=id or new_id(tx.now), conversation_id=conv.id, tag_id=found.id))
    activity(tx, conv, f"{by.name} tagged this #{name}", by)  # also stamps conv: rows redraw
    return True


def untagging(tx: Tx, conv: Conversation, by: Agent, name: str) -> bool:
    name = tag_name(name)
    found = tx.find(Tag, name=name)
    pair = found and tx.find(ConversationTag, conversation_id=conv.id, tag_id=found.id)
    if not pair:
        return False
    tx.delete(pair)
    activity(tx, conv, f"{by.name} removed the tag #{name}", by)
    return True


def tag(
    ws: Workspace,
    conversation_id: str,
    name: str,
    *,
    actor: str,
    id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Put a tag on a conversation (made if new). False if it already had it."""
    with ws.write(now) as tx:
        if id and tx.find(ConversationTag, id=id):
            return False
        conv, by = acting_on(tx, conversation_id, actor)
        return tagging(tx, conv, by, name, id=id)


def untag(
    ws: Workspace, conversation_id: str, name: str, *, actor: str, now: datetime | None = None
) -> bool:
    """Take a tag off a conversation. False if it did not have it."""
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        return untagging(tx, conv, by, name)


def resend_tags(run: Any, conversation_id: str, seq: int) -> None:
    """A moved conversation's tags go to the agents of its new inbox (like its messages,
    core/changes.resend_conversation)."""
    run(
        "UPDATE conversation_tag SET seq = ? WHERE conversation_id = ? AND seq < ?",
        (seq, conversation_id, seq),
    )
