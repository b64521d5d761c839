"""The hub's group commit (hub/mutations.apply_pushes) in process: several pushes in ONE
transaction keep each client's order and apply each mutation once, and a push refused whole
leaves the others of its group applied. (tests/hub/test_hub.py pushes through a real hub.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from unibox_tui.core import clock
from unibox_tui.core import commands as cmd
from unibox_tui.hub import mutations
from unibox_tui.hub.mutations import Push
from unibox_tui.hub.protocol import BadPayload

# On SQLite and on a real PostgreSQL, where a group's writes are sent later, with the next
# statement that needs an answer (core/postgres.Later).
pytestmark = pytest.mark.both_databases


def comment(n: int, conv: str, text: str | None = None) -> dict[str, Any]:
    args = {"conversation_id": conv, "text": text or f"note {n}"}
    return {"mutation_id": n, "name": "comment", "args": args}


def test_one_group_applies_each_mutation_once_in_client_order(team, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, "unibox.hub")
    ws = team.ws
    conv = cmd.ingest(
        ws,
        cmd.Incoming(
            channel_id=team.email,
            identity_kind="email",
            identity_value="carla@example.com",
            contact_name="Carla Souza",
            body="Hello",
            subject="Order late",
            created_at=clock.utcnow(),
        ),
    ).conversation_id
    assert conv is not None
    missing = "01900000-0000-7000-8000-000000000000"
    results = mutations.apply_pushes(
        ws,
        [
            Push("bo-laptop", team.bo, [comment(1, conv), comment(2, missing), comment(3, conv)]),
            # The same client again in the same group (a retransmission over a second
            # connection): what the first push applied is answered, not applied again.
            Push("bo-laptop", team.bo, [comment(2, missing), comment(3, conv), comment(4, conv)]),
            Push("bo-laptop", team.bo, [comment(6, conv)]),  # a gap: waits for 5
            Push("bo-laptop", team.ana, [comment(5, conv)]),  # another agent's client id
            Push("ana-desk", team.ana, [comment(1, conv, "from ana")]),
            # The same mutation twice in one push (a broken app): applied once, answered twice.
            Push("cy-phone", team.cy, [comment(1, conv, "cy"), comment(2, missing)] * 2),
        ],
    )
    first, again, gap, forged, ana, twice = results
    assert [(a["status"], a.get("duplicate")) for a in twice] == [
        ("ok", None),
        ("rejected", None),
        ("ok", True),
        ("rejected", True),
    ]
    assert twice[2]["seq"] == twice[0]["seq"] and twice[3]["error"] == twice[1]["error"]
    assert [a["status"] for a in first] == ["ok", "rejected", "ok"]
    assert "not found" in first[1]["error"]
    assert [(a["status"], a.get("duplicate")) for a in again] == [
        ("rejected", True),
        ("ok", True),
        ("ok", None),
    ]
    assert again[0]["error"] == first[1]["error"] and again[1]["seq"] == first[2]["seq"]
    assert gap == [{"mutation_id": 6, "status": "gap", "expected": 5}]
    assert isinstance(forged, BadPayload) and "another agent" in str(forged)
    assert [a["status"] for a in ana] == ["ok"]
    with ws.read() as conn:
        bodies = [
            b
            for (b,) in conn.exec_driver_sql(
                "SELECT body FROM message WHERE kind = 'comment' ORDER BY seq"
            ).all()
        ]
        last = dict(
            conn.exec_driver_sql("SELECT client_id, last_mutation_id FROM hub_client").all()
        )
    assert bodies == ["note 1", "note 3", "note 4", "from ana", "cy"]
    assert last == {"bo-laptop": 4, "ana-desk": 1, "cy-phone": 2}
    # Each comment counted on the one before it (on PostgreSQL its UPDATE was queued, and
    # sent with the next comment's read): 1 message ingested, 5 comments.
    with ws.read() as conn:
        count = conn.exec_driver_sql(
            "SELECT message_count FROM conversation WHERE id = ?", (conv,)
        ).scalar_one()
    assert count == 6
    assert "applied again" not in caplog.text  # no queued write failed
    # What was stored answers a later retransmission the same way.
    (later,) = mutations.apply_pushes(ws, [Push("bo-laptop", team.bo, [comment(1, conv)])])
    assert later[0]["status"] == "ok" and later[0]["seq"] == first[0]["seq"]


POISON = {  # a message whose body is 'poison' is refused by the database itself
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON message WHEN new.body = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'poisoned'; END $$",
        "CREATE TRIGGER poison BEFORE INSERT ON message FOR EACH ROW "
        "WHEN (new.body = 'poison') EXECUTE FUNCTION poison()",
    ],
}
CURE = {
    "sqlite": ["DROP TRIGGER poison"],
    "postgresql": ["DROP TRIGGER poison ON message", "DROP FUNCTION poison()"],
}


def test_a_write_the_database_refuses_rejects_its_command_alone(team, caplog) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL a comment's INSERT is queued and sent with the next command's read
    (core/postgres.Later): its error comes when later commands have run on a transaction
    the server aborted. The group is then applied again, each write sent at once: the
    command is rejected alone, as on SQLite, and the rest is applied once."""
    caplog.set_level(logging.INFO, "unibox.hub")
    ws = team.ws
    conv = team.start("Where is my order?")
    with ws.write() as tx:
        for statement in POISON[ws.dialect]:
            tx.sql(statement)
    try:
        pushes = [
            Push("bo-laptop", team.bo, [comment(1, conv), comment(2, conv, "poison")]),
            Push("ana-desk", team.ana, [comment(1, conv, "after it")]),
            Push("bo-laptop", team.bo, [comment(3, conv)]),
        ]
        bo, ana, bo_again = mutations.apply_pushes(ws, pushes)
    finally:
        with ws.write() as tx:
            for statement in CURE[ws.dialect]:
                tx.sql(statement)
    assert [a["status"] for a in bo] == ["ok", "rejected"]
    assert "the hub failed on this command" in bo[1]["error"]
    assert [a["status"] for a in ana] == ["ok"] and [a["status"] for a in bo_again] == ["ok"]
    with ws.read() as conn:
        bodies = [
            b
            for (b,) in conn.exec_driver_sql(
                "SELECT body FROM message WHERE kind = 'comment' ORDER BY seq"
            ).all()
        ]
        count = conn.exec_driver_sql(
            "SELECT message_count FROM conversation WHERE id = ?", (conv,)
        ).scalar_one()
    assert bodies == ["note 1", "after it", "note 3"]
    assert count == 4
    assert ("applied again" in caplog.text) == (ws.dialect == "postgresql")


def test_a_malformed_push_is_refused_before_it_joins_a_group() -> None:
    for bad in ("nope", [{"mutation_id": "one"}], [{"name": "comment"}], [1]):
        try:
            mutations.check(bad)
        except BadPayload:
            continue
        raise AssertionError(f"{bad!r} was taken")
    assert mutations.check([{"mutation_id": 1}]) == [{"mutation_id": 1}]


def test_a_group_reads_ahead_and_still_sees_what_its_commands_changed(team) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL a group reads its comments' conversations and message ids ahead
    (commands/_base.prefetch): a comment retried from an earlier group is still stored
    once, each comment counts on the one before it, and a command of another kind (a reply,
    which counts itself) makes the rest of the group read again."""
    ws = team.ws
    conv = cmd.ingest(
        ws,
        cmd.Incoming(
            team.email, "email", "dee@example.com", "Dee", "Hi", created_at=clock.utcnow()
        ),
    ).conversation_id
    assert conv is not None
    ids = [f"01900000-0000-7000-8000-00000000000{n}" for n in range(5)]

    def minted(n: int, text: str) -> dict[str, Any]:
        return {**comment(n, conv, text), "id": ids[n]}

    (before,) = mutations.apply_pushes(ws, [Push("bo-laptop", team.bo, [minted(1, "one")])])
    assert before[0]["status"] == "ok"
    reply = {"mutation_id": 1, "name": "reply", "args": {"conversation_id": conv, "text": "On it"}}
    (group, other) = mutations.apply_pushes(
        ws,
        [
            # A new client of bo's retries "one" (its app lost the answer), then goes on.
            Push("bo-phone", team.bo, [minted(1, "one"), minted(2, "two"), minted(3, "three")]),
            Push("ana-desk", team.ana, [reply, {**minted(4, "four"), "mutation_id": 2}]),
        ],
    )
    assert [a["status"] for a in group + other] == ["ok"] * 5
    with ws.read() as conn:
        bodies = [
            b
            for (b,) in conn.exec_driver_sql(
                "SELECT body FROM message WHERE conversation_id = ? AND kind = 'comment' "
                "ORDER BY seq, rid",
                (conv,),
            ).all()
        ]
        stored, count = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM message WHERE conversation_id = c.id "
            "AND kind != 'activity'), "
            "c.message_count FROM conversation c WHERE c.id = ?",
            (conv,),
        ).one()
    assert bodies == ["one", "two", "three", "four"]
    assert count == stored, (count, stored)
