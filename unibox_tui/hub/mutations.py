"""Applying a client's mutations on the hub: in order, each exactly once (research §I.2).

A mutation is `{mutation_id, name, args, id}` from one client (one cache). The hub keeps
per client the last mutation number applied (`hub_client`) and each answer (`hub_mutation`),
written in the commands' own transaction: so after a crash either the command and its number
are both stored or neither is, and a retransmitted mutation gets its stored answer instead
of running again. A number past the next one ("gap") is refused until the missing one
arrives. A rejected command (the registry's typed errors: no access, not found, invalid)
still consumes its number, so one poison command cannot block a queue.

Group commit: the pushes that wait for the writer are applied together in ONE transaction
(`apply_pushes`), each command in a savepoint of it, and answered after it commits (an
answer is only sent for what is durable). A push's bookkeeping (its answers, the client's
last number) is written once, after its commands, and read inside the same transaction: a
second push of the same client in the group sees the first one's numbers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..core import clock
from ..core.commands import registry
from ..core.commands._base import forget_prefetched, prefetch
from ..core.db import Workspace
from ..core.errors import LaterFailed, UniboxError
from .protocol import MAX_MUTATIONS, BadPayload, need

log = logging.getLogger("unibox.hub")
KEEP_ANSWERS = 1000  # answers kept per client for retransmissions
PRUNE_EVERY = 200


@dataclass(slots=True)
class Push:
    """One `push` call: a client's mutations in its order (`check`ed)."""

    client_id: str
    agent_id: str
    mutations: list[dict[str, Any]]


def check(mutations: Any) -> list[dict[str, Any]]:
    """A push's mutations as the protocol says (a list of at most MAX_MUTATIONS objects, each
    with a whole mutation number), or BadPayload: checked before the push joins a group, so
    a malformed one is answered with an error and nothing of it is applied."""
    if not isinstance(mutations, list):
        raise BadPayload("'mutations' must be a list")
    if len(mutations) > MAX_MUTATIONS:
        raise BadPayload(f"at most {MAX_MUTATIONS} mutations per push")
    for m in mutations:
        need(m, "mutation_id", int)
    return mutations


def apply_pushes(ws: Workspace, pushes: list[Push]) -> list[list[dict[str, Any]] | BadPayload]:
    """Apply several pushes in ONE transaction (one commit for all: the writer's fixed cost
    per transaction is then paid once per group, not once per push). Per push: its answers,
    one per mutation considered (a gap stops that push), or the BadPayload that refused it
    whole (its client id belongs to another agent). An error of the database itself fails
    the group: nothing of it is stored or answered as applied, every client retries."""
    try:
        return _apply_group(ws, pushes, later=True)
    except LaterFailed as e:
        # A write sent later failed (core/postgres.Later; PostgreSQL only, and never in the
        # normal run of commands): nothing of the group was stored. Applied again with each
        # write sent at once, the command it belongs to is rejected alone, as it always was.
        log.warning("a group of %d pushes is applied again: %s", len(pushes), e)
        return _apply_group(ws, pushes, later=False)


def _apply_group(
    ws: Workspace, pushes: list[Push], *, later: bool
) -> list[list[dict[str, Any]] | BadPayload]:
    out: list[list[dict[str, Any]] | BadPayload] = []
    with ws.batch(later=later):
        if later:
            _prefetch(ws, pushes)
        for push in pushes:
            try:
                out.append(_apply_push(ws, push))
            except BadPayload as e:
                out.append(e)
    return out


# The commands whose reads `_prefetch` does for the whole group (commands/_base.prefetch):
# any other command may change what was read, and makes the rest of the group read again.
PREFETCHED = frozenset({"comment"})


def _prefetch(ws: Workspace, pushes: list[Push]) -> None:
    conversations: set[str] = set()
    message_ids: set[str] = set()
    for push in pushes:
        for m in push.mutations:
            args = m.get("args")
            if m.get("name") not in PREFETCHED or not isinstance(args, dict):
                continue
            if isinstance(conversation := args.get("conversation_id"), str):
                conversations.add(conversation)
            if isinstance(minted := m.get("id"), str):
                message_ids.add(minted)
    if conversations:
        with ws.write() as tx:  # a savepoint that changes nothing: read in the transaction
            prefetch(tx, conversations, message_ids)


def apply_batch(
    ws: Workspace, client_id: str, agent_id: str, mutations: Any
) -> list[dict[str, Any]]:
    """Apply one push in its own transaction (`apply_pushes` of one)."""
    (result,) = apply_pushes(ws, [Push(client_id, agent_id, check(mutations))])
    if isinstance(result, BadPayload):
        raise result
    return result


_LAST_SQL = "SELECT last_mutation_id, agent_id FROM hub_client WHERE client_id = ?"
_STORED_SQL = "SELECT status, result, seq FROM hub_mutation WHERE client_id = ? AND mutation_id = ?"
_ANSWER_SQL = (  # ON CONFLICT, not INSERT OR REPLACE: PostgreSQL has only the first
    "INSERT INTO hub_mutation (client_id, mutation_id, status, result, seq) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, mutation_id) DO UPDATE SET "
    "status = excluded.status, result = excluded.result, seq = excluded.seq"
)
# PostgreSQL: a push's answers in ONE statement (one row per mutation, from a JSON array)
# rather than one statement each: on the hub's writer each statement costs the driver's
# Python and the server's per-statement work (benchmarks/hub_push.py --postgres).
_ANSWERS_POSTGRES = (
    "INSERT INTO hub_mutation (client_id, mutation_id, status, result, seq) "
    "SELECT * FROM json_to_recordset(?::json) AS a(client_id varchar, mutation_id integer, "
    "status varchar, result text, seq integer) ON CONFLICT (client_id, mutation_id) DO UPDATE "
    "SET status = excluded.status, result = excluded.result, seq = excluded.seq"
)
_ANSWER_KEYS = ("client_id", "mutation_id", "status", "result", "seq")
_CLIENT_SQL = (
    "INSERT INTO hub_client (client_id, agent_id, last_mutation_id, updated_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
    "last_mutation_id = excluded.last_mutation_id, updated_at = excluded.updated_at"
)
_PRUNE_SQL = "DELETE FROM hub_mutation WHERE client_id = ? AND mutation_id < ?"


def _apply_push(ws: Workspace, push: Push) -> list[dict[str, Any]]:
    client_id, agent_id = push.client_id, push.agent_id
    with ws.write() as tx:  # a savepoint that changes nothing: read in the transaction
        row = tx.sql(_LAST_SQL, (client_id,)).fetchone()
    if row is not None and row[1] != agent_id:
        raise BadPayload("this client id belongs to another agent; start with a new cache")
    first = last = int(row[0]) if row is not None else 0
    answers: list[dict[str, Any]] = []
    stored: list[tuple[str, int, str, str, int | None]] = []  # hub_mutation rows
    mine: dict[int, dict[str, Any]] = {}  # this push's answers (stored when it ends)
    for m in push.mutations:
        mutation_id = m["mutation_id"]
        if mutation_id <= last:
            if mutation_id in mine:  # twice in one push: answered like a retransmission
                answers.append({**mine[mutation_id], "duplicate": True})
            else:
                answers.append(_stored(ws, client_id, mutation_id))
            continue
        if mutation_id > last + 1:
            answers.append({"mutation_id": mutation_id, "status": "gap", "expected": last + 1})
            break
        answer = mine[mutation_id] = _apply_one(ws, client_id, agent_id, mutation_id, m)
        answers.append(answer)
        if answer["status"] == "ok":
            stored.append((client_id, mutation_id, "ok", "{}", answer["seq"]))
        else:
            error = json.dumps({"error": answer["error"]})
            stored.append((client_id, mutation_id, "rejected", error, None))
        last = mutation_id
    if last > first:
        with ws.write() as tx:
            if tx.postgres:
                rows = [dict(zip(_ANSWER_KEYS, row, strict=True)) for row in stored]
                tx.later(_ANSWERS_POSTGRES, (json.dumps(rows),))
            else:
                tx.later_many(_ANSWER_SQL, stored)
            tx.later(_CLIENT_SQL, (client_id, agent_id, last, clock.to_db(tx.now)))
            if last // PRUNE_EVERY > first // PRUNE_EVERY:
                # A client retransmits only what it has no answer for: far behind its last
                # number, an answer is never asked for again (and a pruned one reads as
                # applied).
                tx.later(_PRUNE_SQL, (client_id, last - KEEP_ANSWERS))
    return answers


def _stored(ws: Workspace, client_id: str, mutation_id: int) -> dict[str, Any]:
    """A retransmitted mutation's stored answer (read in the transaction: it may have been
    applied by an earlier push of this group)."""
    with ws.write() as tx:
        row = tx.sql(_STORED_SQL, (client_id, mutation_id)).fetchone()
    if row is None:  # answered long ago and pruned: it was applied
        return {"mutation_id": mutation_id, "status": "ok", "seq": None, "duplicate": True}
    return {
        "mutation_id": mutation_id,
        "status": row[0],
        "seq": row[2],
        "duplicate": True,
        **json.loads(row[1]),
    }


def _apply_one(
    ws: Workspace, client_id: str, agent_id: str, mutation_id: int, m: dict[str, Any]
) -> dict[str, Any]:
    try:
        name = need(m, "name", str)
        args = need(m, "args", dict, optional=True) or {}
        minted = need(m, "id", str, optional=True)
        if name not in PREFETCHED and (memo := ws.batch_memo()):
            forget_prefetched(memo)
        result = registry.run(ws, name, args, actor=agent_id, id=minted)
    except Exception as e:
        if not isinstance(e, (UniboxError, BadPayload)):
            log.exception("mutation %s/%d %s failed", client_id[:8], mutation_id, m.get("name"))
            e = UniboxError(f"the hub failed on this command ({type(e).__name__}); see its log")
        # The reason can quote customer text (a contact's name): not at info level.
        log.info(
            "mutation %s/%d %s rejected (%s)",
            client_id[:8],
            mutation_id,
            m.get("name"),
            type(e).__name__,
        )
        log.debug("mutation %s/%d rejected: %s", client_id[:8], mutation_id, e)
        return {"mutation_id": mutation_id, "status": "rejected", "error": str(e), "seq": None}
    # The command's change number (None when it changed nothing, e.g. closing a closed
    # conversation): its last write's, in the answer and in the stored answer alike.
    return {"mutation_id": mutation_id, "status": "ok", **result.to_json()}
