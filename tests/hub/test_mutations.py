"""The hub's group commit (hub/mutations.apply_pushes) in process: several pushes in ONE
transaction keep each client's order and apply each mutation once, and a push refused whole
leaves the others of its group applied. (tests/hub/test_hub.py pushes through a real hub.)"""

from __future__ import annotations

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


def test_one_group_applies_each_mutation_once_in_client_order(team) -> None:  # type: ignore[no-untyped-def]
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
    # What was stored answers a later retransmission the same way.
    (later,) = mutations.apply_pushes(ws, [Push("bo-laptop", team.bo, [comment(1, conv)])])
    assert later[0]["status"] == "ok" and later[0]["seq"] == first[0]["seq"]


def test_a_malformed_push_is_refused_before_it_joins_a_group() -> None:
    for bad in ("nope", [{"mutation_id": "one"}], [{"name": "comment"}], [1]):
        try:
            mutations.check(bad)
        except BadPayload:
            continue
        raise AssertionError(f"{bad!r} was taken")
    assert mutations.check([{"mutation_id": 1}]) == [{"mutation_id": 1}]
