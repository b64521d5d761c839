"""Commands as data: the registry validates JSON arguments against each command's schema, runs
it as an actor in one transaction, and reports what changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Team, db_args, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.commands import registry
from unibox_tui.core.errors import InvalidRequest, NoAccess, NotFound
from unibox_tui.core.ids import new_id

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def test_every_command_has_an_actor_and_a_json_schema() -> None:
    described = registry.describe()
    assert json.loads(json.dumps(described)) == described
    names = {d["name"] for d in described}
    assert {"reply", "comment", "assign", "close", "snooze", "mark_read", "save_contact"} <= names
    for s in registry.specs():
        assert s.actor_param in ("actor", "agent")
        assert all(a.name not in ("ws", "now", "actor") for a in s.args), s.name
    reply = registry.spec("reply").to_json()
    assert reply["takes_id"] and {"name": "text", "type": "str"}.items() <= reply["args"][1].items()


def test_run_reports_the_change_number_and_ids(team: Team) -> None:
    conv = team.start("Where is my order?")
    result = registry.run(team.ws, "close", {"conversation_id": conv}, actor="ana")
    assert result.value is True and result.seq == team.ws.change_seq()
    assert result.to_json() == {
        "command": "close",
        "seq": result.seq,
        "ids": [conv],
        "changed": True,
    }
    again = registry.run(team.ws, "close", {"conversation_id": conv}, actor="ana")
    assert again.value is False and again.seq is None  # nothing changed, no number taken


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("close", {"conversation_id": "X", "force": True}, "close takes no argument 'force'"),
        ("comment", {"conversation_id": "X"}, "comment needs the argument 'text'"),
        ("comment", {"conversation_id": "X", "text": 5}, "'text' must be a string"),
        ("close", {"conversation_id": "X", "close_ticket": "yes"}, "must be true or false"),
        ("snooze", {"conversation_id": "X", "until": "2026-12-01T09:00"}, "needs a time zone"),
        ("snooze", {"conversation_id": "X", "until": "soon"}, "cannot read the time"),
        ("reply", {"conversation_id": None, "text": "hi"}, "cannot be null"),
        ("add_identity", {"contact_id": "X", "kind": "email", "value": ["a"]}, "must be a string"),
        ("save_contact", {"contact_id": "X", "identities": [["email"]]}, "[kind, value] pairs"),
        ("close", [], "must be an object"),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(
    team: Team, name: str, args: object, message: str
) -> None:
    before = team.ws.change_seq()
    with pytest.raises(InvalidRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        registry.run(team.ws, name, args, actor="ana")  # type: ignore[arg-type]
    assert team.ws.change_seq() == before


def test_unknown_command_and_bad_client_id(team: Team) -> None:
    with pytest.raises(NotFound, match="no command 'delete_everything'"):
        registry.run(team.ws, "delete_everything", {}, actor="ana")
    conv = team.start("hi")
    with pytest.raises(InvalidRequest, match="is not a UUID"):
        registry.run(
            team.ws, "comment", {"conversation_id": conv, "text": "x"}, actor="ana", id="1"
        )
    with pytest.raises(InvalidRequest, match="creates nothing and takes no id"):
        registry.run(team.ws, "close", {"conversation_id": conv}, actor="ana", id=new_id())


def test_a_client_minted_id_makes_a_retry_create_nothing_twice(team: Team) -> None:
    conv = team.start("hi")
    mid = new_id()
    for _ in range(2):
        result = registry.run(
            team.ws, "reply", {"conversation_id": conv, "text": "On its way"}, actor="ana", id=mid
        )
        assert result.value == mid
    replies = [m for m in q.thread(team.ws, conv, access=EVERYTHING) if m.kind == "outgoing"]
    assert [m.id for m in replies] == [mid]


def test_null_is_a_value_where_it_means_something(team: Team) -> None:
    conv = team.start("hi")
    cmd.assign(team.ws, conv, "bo", actor="ana")
    registry.run(team.ws, "assign", {"conversation_id": conv, "agent": None}, actor="ana")
    assert q.conversation(team.ws, conv, access=EVERYTHING).assignee is None


def test_times_travel_as_iso_strings(team: Team) -> None:
    conv = team.start("hi", at=later(0))
    registry.run(
        team.ws,
        "snooze",
        {"conversation_id": conv, "until": "2030-01-02T09:00:00Z"},
        actor="ana",
    )
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.status == "snoozed" and row.snoozed_until.isoformat() == "2030-01-02T09:00:00+00:00"


def test_a_command_is_applied_whole_or_rejected_whole(team: Team) -> None:
    first = team.start("hi", who="one@x.io", name="One")
    second = team.start("hi", who="two@x.io", name="Two")
    contact = q.conversation(team.ws, first, access=EVERYTHING).contact_id
    before = team.ws.change_seq()
    with pytest.raises(InvalidRequest, match="already belongs to contact"):
        registry.run(
            team.ws,
            "save_contact",
            {
                "contact_id": contact,
                "name": "Renamed",
                "identities": [["phone", "+15550100"], ["email", "two@x.io"]],
            },
            actor="ana",
        )
    detail = q.contact(team.ws, contact, access=EVERYTHING)
    assert detail.name == "One" and ("phone", "+15550100") not in detail.identities
    assert team.ws.change_seq() == before
    del second


def _cli(db: Path | str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args, *db_args(db)],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_cli_runs_any_command_as_data(team: Team, ws_target: Path | str) -> None:
    db = ws_target
    conv = team.start("Where is my order?")
    listed = _cli(db, "command", "--list", "--json")
    assert listed.returncode == 0 and "reply" in {
        c["name"] for c in json.loads(listed.stdout)["commands"]
    }
    ran = _cli(
        db,
        "command",
        "comment",
        "--args",
        "-",
        "--as",
        "bo",
        stdin=json.dumps({"conversation_id": conv, "text": "@ana look"}),
    )
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["command"] == "comment" and out["mentioned"] == ["ana"] and out["seq"] > 0
    bad = _cli(db, "command", "comment", "--args", "{nope", "--as", "bo")
    assert bad.returncode == 1 and bad.stderr.startswith("unibox: error: --args is not valid JSON")
    assert bad.stderr.count("\n") == 1


def test_administration_runs_as_data_for_admins_only(ws) -> None:  # type: ignore[no-untyped-def]
    cmd.init_workspace(ws, "Ana Lima", "ana", "ana@x.example")
    cmd.create_agent(ws, "Bo Chen", "bo", actor="ana")
    before = ws.change_seq()
    with pytest.raises(NoAccess, match="only an admin"):
        registry.run(ws, "create_team", {"name": "Tier 1", "members": ["bo"]}, actor="bo")
    assert ws.change_seq() == before
    made = registry.run(ws, "create_team", {"name": "Tier 1", "members": ["bo"]}, actor="ana")
    assert made.seq == ws.change_seq() and [t.name for t in q.teams(ws)] == ["Tier 1"]
