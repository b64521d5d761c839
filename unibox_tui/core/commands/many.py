"""One decision on many conversations: close, reopen, assign, move, snooze, tag... the
selected ones, in one transaction and one change number.

Why one command and not the single commands in a row: it is one step everywhere it runs.
On a hub client it is one mutation (applied whole or rejected whole), the hub applies it in
one transaction, and the agent undoes it with one key. It runs the single commands' own
steps (`closing`, `assigning`, ... in conversations.py and tags.py) on each conversation,
so every rule (activity lines, notifications, an assignee's access) is the one they follow.

Access is checked per conversation by the one rule (core/access.py), as the single commands
do (`acting_on`, with the agent and the rule read once): one the actor may not act in (or
not see) is skipped and counted, not a reason to refuse the rest; so is one the step
refuses (e.g. an assignee without access to that conversation's inbox).

It takes the conversations' ids, never a view's condition: the set the agent saw is the set
that changes, even on a hub where new conversations entered the view meanwhile. At most
`MAX_BULK` at a time (select all in a larger view selects its first MAX_BULK).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import select

from .. import access
from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound, UniboxError
from ..models import Agent, Conversation
from ._base import active_agent, future, inbox_ref, require_access
from .conversations import (
    assigning,
    assigning_team,
    closing,
    moving,
    reading,
    reopening,
    snoozing,
)
from .tags import tag_name, tagging, untagging

MAX_BULK = 1000
Step = Callable[[Tx, Conversation, Agent], bool]
# action -> does it take `value`? (the others take nothing, or `until`)
ACTIONS = {
    "close": False,
    "reopen": False,
    "assign": True,  # value: an agent's handle or id, or null to unassign
    "assign_team": True,  # value: a team, or null to remove it
    "move": True,  # value: an inbox
    "snooze": False,  # until
    "tag": True,
    "untag": True,
    "read": False,
    "unread": False,
}


@dataclass
class BulkResult:
    action: str
    changed: list[str] = field(default_factory=list)  # ids that changed
    unchanged: list[str] = field(default_factory=list)  # already so
    skipped: list[str] = field(default_factory=list)  # not acted on: no access, or refused
    reasons: list[str] = field(default_factory=list)  # why, one line each (distinct, first 5)


def _step(action: str, value: str | None, until: datetime | None) -> Step:
    if action == "close":
        return lambda tx, conv, by: closing(tx, conv, by)
    if action == "reopen":
        return reopening
    if action == "assign":
        return lambda tx, conv, by: assigning(tx, conv, by, value)
    if action == "assign_team":
        return lambda tx, conv, by: assigning_team(tx, conv, by, value)
    if action == "move":
        return lambda tx, conv, by: moving(tx, conv, by, str(value))
    if action == "snooze":
        assert until is not None
        return lambda tx, conv, by: snoozing(tx, conv, by, until)
    if action == "tag":
        return lambda tx, conv, by: tagging(tx, conv, by, str(value))
    if action == "untag":
        return lambda tx, conv, by: untagging(tx, conv, by, str(value))
    read = action == "read"
    return lambda tx, conv, by: reading(tx, conv, read)


def _check(action: str, ids: list[str], value: str | None, until: datetime | None) -> None:
    if action not in ACTIONS:
        raise InvalidRequest(f"no bulk action {action!r}; use one of {', '.join(ACTIONS)}")
    if not ids:
        raise InvalidRequest("no conversations selected")
    if len(ids) > MAX_BULK:
        raise InvalidRequest(
            f"{len(ids):,} conversations at once is too many; act on at most {MAX_BULK:,} at a time"
        )
    if action == "snooze" and until is None:
        raise InvalidRequest("a bulk snooze needs `until`")
    if action in ("move", "tag", "untag") and not value:
        raise InvalidRequest(
            f"a bulk {action} needs a value (the {'inbox' if action == 'move' else 'tag'})"
        )
    if action in ("tag", "untag"):
        tag_name(str(value))  # a bad name is the request's fault, not each conversation's


def bulk(
    ws: Workspace,
    conversation_ids: list[str],
    action: str,
    value: str | None = None,
    *,
    until: datetime | None = None,
    actor: str,
    now: datetime | None = None,
) -> BulkResult:
    """Act on many conversations in one transaction (close, reopen, assign, assign_team,
    move, snooze, tag, untag, read, unread); those the actor may not act in are skipped."""
    ids = list(dict.fromkeys(conversation_ids))  # each once, in the order given
    _check(action, ids, value, until)
    result = BulkResult(action)
    with ws.write(now) as tx:
        if until is not None:
            future(until, tx.now, "snooze time")
        step = _step(action, value, until)
        by = active_agent(tx, actor)
        # The access rule and the conversations, read once for all of them (per
        # conversation, `acting_on` would read both again each time: ~1 ms apiece).
        rule = access.for_agent(tx.session.connection(), by.id)
        found: dict[str, Conversation] = {}
        for i in range(0, len(ids), 400):
            chunk = ids[i : i + 400]
            rows = tx.session.exec(select(Conversation).where(Conversation.id.in_(chunk)))  # type: ignore[attr-defined]
            found.update((c.id, c) for c in rows)
        reading_only = action in ("read", "unread")  # reading is enough, as for mark_read
        for cid in ids:
            try:
                conv = found.get(cid)
                if conv is None or not rule.can_see(conv.inbox_id):
                    raise NotFound(f"no conversation {cid} (not found or no access)")
                if not reading_only and not rule.can_act(conv.inbox_id):
                    require_access(tx, by, inbox_ref(tx, conv.inbox_id))  # raises, in words
                # A step refuses before it writes anything (its checks come first), so a
                # skipped conversation leaves nothing half-done in this transaction.
                changed = step(tx, conv, by)
            except UniboxError as e:
                result.skipped.append(cid)
                if str(e) not in result.reasons and len(result.reasons) < 5:
                    result.reasons.append(str(e))
                continue
            (result.changed if changed else result.unchanged).append(cid)
    return result


def describe(result: BulkResult) -> dict[str, Any]:
    """Counts for a toast or the CLI's JSON."""
    return {
        "changed": len(result.changed),
        "unchanged": len(result.unchanged),
        "skipped": len(result.skipped),
    }


def undo_steps(
    action: str, value: str | None, before: list[Any], changed: list[str], now: datetime
) -> list[tuple[str, list[str], str | None, datetime | None]]:
    """The bulk steps that put back what one bulk decision changed: `before` is the
    conversations as they were (queries.ConversationRow), `changed` the ids it changed.
    Each step is (action, ids, value, until), grouped so that a few steps undo thousands
    of changes (the closed ones that were open reopen together, ...)."""
    rows = [r for r in before if r.id in set(changed)]
    steps: dict[tuple[str, str | None, datetime | None], list[str]] = {}

    def put(step: str, ids_of: Any, val: str | None = None, until: datetime | None = None) -> None:
        steps.setdefault((step, val, until), []).append(ids_of)

    for r in rows:
        if action in ("close", "reopen", "snooze"):
            if r.status == "closed":
                put("close", r.id)
            elif r.status == "snoozed" and r.snoozed_until is not None and r.snoozed_until > now:
                put("snooze", r.id, None, r.snoozed_until)
            else:
                put("reopen", r.id)
        elif action == "assign":
            put("assign", r.id, r.assignee_id)
        elif action == "assign_team":
            put("assign_team", r.id, r.team)
        elif action == "move":
            put("move", r.id, r.inbox_id)
            if r.assignee_id:  # a move unassigns who has no access there
                put("assign", r.id, r.assignee_id)
        elif action in ("tag", "untag"):
            put("untag" if action == "tag" else "tag", r.id, value)
        elif action in ("read", "unread"):
            put("unread" if r.unread else "read", r.id)
    # Moves first: an assignee is put back once the conversation is in their inbox again.
    order = {"move": 0}
    return [
        (step, ids, val, until)
        for (step, val, until), ids in sorted(steps.items(), key=lambda kv: order.get(kv[0][0], 1))
    ]
