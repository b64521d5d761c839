"""Applying a client's mutations on the hub: in order, each exactly once (research §I.2).

A mutation is `{mutation_id, name, args, id}` from one client (one cache). The hub keeps
per client the last mutation number applied (`hub_client`) and each answer (`hub_mutation`),
written in the command's own transaction (Workspace.on_next_write): so after a crash either
the command and its number are both stored or neither is, and a retransmitted mutation gets
its stored answer instead of running again. A number past the next one ("gap") is refused
until the missing one arrives. A rejected command (the registry's typed errors: no access,
not found, invalid) still consumes its number, so one poison command cannot block a queue.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..core import clock
from ..core.commands import registry
from ..core.db import Tx, Workspace
from ..core.errors import UniboxError
from .protocol import MAX_MUTATIONS, BadPayload, need

log = logging.getLogger("unibox.hub")
KEEP_ANSWERS = 1000  # answers kept per client for retransmissions
PRUNE_EVERY = 200


def _record(
    conn: Any, client_id: str, agent_id: str, mutation_id: int, status: str, result: dict, seq: Any
) -> None:
    now = clock.to_db(clock.utcnow())
    conn.exec_driver_sql(
        "INSERT INTO hub_client (client_id, agent_id, last_mutation_id, updated_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
        "last_mutation_id = excluded.last_mutation_id, updated_at = excluded.updated_at",
        (client_id, agent_id, mutation_id, now),
    )
    conn.exec_driver_sql(
        "INSERT INTO hub_mutation (client_id, mutation_id, status, result, seq) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, mutation_id) DO UPDATE SET "
        "status = excluded.status, result = excluded.result, seq = excluded.seq",
        (client_id, mutation_id, status, json.dumps(result), seq),
    )
    if mutation_id % PRUNE_EVERY == 0:
        # A client retransmits only what it has no answer for: far behind its last number,
        # an answer is never asked for again (and a pruned one reads as applied).
        conn.exec_driver_sql(
            "DELETE FROM hub_mutation WHERE client_id = ? AND mutation_id < ?",
            (client_id, mutation_id - KEEP_ANSWERS),
        )


def _last(ws: Workspace, client_id: str, agent_id: str) -> int:
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT last_mutation_id, agent_id FROM hub_client WHERE client_id = ?", (client_id,)
        ).first()
    if row is None:
        return 0
    if row[1] != agent_id:
        raise BadPayload("this client id belongs to another agent; start with a new cache")
    return int(row[0])


def _stored(ws: Workspace, client_id: str, mutation_id: int) -> dict[str, Any]:
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT status, result, seq FROM hub_mutation WHERE client_id = ? AND mutation_id = ?",
            (client_id, mutation_id),
        ).first()
    if row is None:  # answered long ago and pruned: it was applied
        return {"mutation_id": mutation_id, "status": "ok", "seq": None, "duplicate": True}
    return {
        "mutation_id": mutation_id,
        "status": row[0],
        "seq": row[2],
        "duplicate": True,
        **json.loads(row[1]),
    }


def apply_batch(
    ws: Workspace, client_id: str, agent_id: str, mutations: Any
) -> list[dict[str, Any]]:
    """Apply a push; one answer per mutation considered (a gap stops the batch)."""
    if not isinstance(mutations, list):
        raise BadPayload("'mutations' must be a list")
    if len(mutations) > MAX_MUTATIONS:
        raise BadPayload(f"at most {MAX_MUTATIONS} mutations per push")
    answers: list[dict[str, Any]] = []
    last = _last(ws, client_id, agent_id)
    with ws.batch():  # one transaction for the push, a savepoint per command
        _apply_all(ws, client_id, agent_id, mutations, last, answers)
    return answers


def _apply_all(
    ws: Workspace,
    client_id: str,
    agent_id: str,
    mutations: list[Any],
    last: int,
    answers: list[dict[str, Any]],
) -> None:
    for m in mutations:
        mutation_id = need(m, "mutation_id", int)
        if mutation_id <= last:
            answers.append(_stored(ws, client_id, mutation_id))
            continue
        if mutation_id > last + 1:
            answers.append({"mutation_id": mutation_id, "status": "gap", "expected": last + 1})
            break
        answers.append(_apply_one(ws, client_id, agent_id, mutation_id, m))
        last = mutation_id


def _apply_one(
    ws: Workspace, client_id: str, agent_id: str, mutation_id: int, m: dict[str, Any]
) -> dict[str, Any]:
    recorded: list[int | None] = []

    def record(tx: Tx) -> None:
        seq = tx._seq
        recorded.append(seq)
        _record(tx.session.connection(), client_id, agent_id, mutation_id, "ok", {}, seq)

    try:
        name = need(m, "name", str)
        args = need(m, "args", dict, optional=True) or {}
        minted = need(m, "id", str, optional=True)
        with ws.on_next_write(record):
            result = registry.run(ws, name, args, actor=agent_id, id=minted)
    except Exception as e:
        if not isinstance(e, (UniboxError, BadPayload)):
            log.exception("mutation %s/%d %s failed", client_id[:8], mutation_id, m.get("name"))
            e = UniboxError(f"the hub failed on this command ({type(e).__name__}); see its log")
        answer = {"mutation_id": mutation_id, "status": "rejected", "error": str(e), "seq": None}
        with ws.write() as tx:
            _record(
                tx.session.connection(),
                client_id,
                agent_id,
                mutation_id,
                "rejected",
                {"error": str(e)},
                None,
            )
        # The reason can quote customer text (a contact's name): not at info level.
        log.info(
            "mutation %s/%d %s rejected (%s)",
            client_id[:8],
            mutation_id,
            m.get("name"),
            type(e).__name__,
        )
        log.debug("mutation %s/%d rejected: %s", client_id[:8], mutation_id, e)
        return answer
    if not recorded:  # the command wrote nothing (e.g. closing a closed conversation)
        with ws.write() as tx:
            _record(tx.session.connection(), client_id, agent_id, mutation_id, "ok", {}, None)
    return {"mutation_id": mutation_id, "status": "ok", **result.to_json()}
