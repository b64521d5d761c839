"""Setting up and running a workspace through the real `unibox` command (a subprocess):
init, agent, team, inbox, snippet, pipeline, notifications, and admin-only channel changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import T0
from tests.core.test_cli import unibox
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace


def ok(*args: str, stdin: str | None = None) -> dict:
    result = unibox(*args, "--json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(*args: str, match: str) -> None:
    """One line on stderr, exit 1, nothing on stdout."""
    result = unibox(*args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("unibox: error: ") and match in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


def seq(db: str) -> int:
    with open_workspace(db) as ws:
        return ws.change_seq()


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A workspace made by `unibox init` (Ana, admin) with Bo, an agent."""
    path = str(tmp_path / "ws.db")
    data = ok(
        "init", "--db", path, "--name", "Ana Lima", "--handle", "ana", "--email", "ana@acme.example"
    )
    assert data["agent"]["role"] == "admin" and data["inbox"]["name"] == "Support"
    ok("agent", "add", "Bo Chen", "--db", path, "--handle", "bo", "--email", "bo@acme.example")
    return path


def test_init_asks_nothing_when_given_everything_and_refuses_a_second_time(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "new.db")
    data = ok(
        "init", "--db", path, "--name", "Ana", "--handle", "ana", "--email", "a@x.example",
        "--inbox", "Help",
    )  # fmt: skip
    assert data["agent"]["handle"] == "ana" and data["agent"]["active"] is True
    assert (data["inbox"]["name"], data["inbox"]["access"], data["inbox_created"]) == (
        "Help",
        "everyone",
        True,
    )
    before = seq(path)
    refused(
        "init", "--db", path, "--name", "B", "--handle", "b", "--email", "b@x.example",
        match="set up already",
    )  # fmt: skip
    assert seq(path) == before


def test_acting_before_init_says_to_run_init(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh.db")
    open_workspace(path).close()
    refused("notifications", "--db", path, match="no agents yet; run `unibox init`")
    refused("team", "add", "Tier 1", "--db", path, match="no agents yet; run `unibox init`")


def test_init_prompts_for_what_is_missing(tmp_path: Path) -> None:
    path = str(tmp_path / "asked.db")
    # Name, then the handle (enter takes the one made from the name), then the e-mail.
    data = ok("init", "--db", path, stdin="Dana Scully\n\ndana@fbi.example\n")
    assert (data["agent"]["name"], data["agent"]["handle"], data["agent"]["email"]) == (
        "Dana Scully",
        "dana",
        "dana@fbi.example",
    )


def test_reply_works_right_after_init(db: str) -> None:
    """The init agent is the default agent: a script acts as them without --as."""
    with open_workspace(db) as ws:
        channel = cmd.add_channel(ws, "Support", "email", "support@acme.example")
        conv = cmd.ingest(
            ws,
            cmd.Incoming(
                channel_id=channel,
                identity_kind="email",
                identity_value="carla@example.com",
                contact_name="Carla",
                body="Hello?",
                created_at=T0,
                subject="Order",
            ),
        ).conversation_id
    data = ok("conversations", "reply", conv, "--db", db, "--text", "Hi Carla")
    assert data["delivery_state"] == "queued"
    with open_workspace(db) as ws:
        assert q.thread(ws, conv, access=EVERYTHING)[-1].author == "Ana Lima"


def test_agent_add_list_set_deactivate(db: str) -> None:
    agents = ok("agent", "list", "--db", db)["agents"]
    assert [(a["handle"], a["role"], a["active"]) for a in agents] == [
        ("ana", "admin", True),
        ("bo", "agent", True),
    ]
    assert ok("agents", "--db", db) == {"agents": agents}  # the old name still works
    text = unibox("agents", "--db", db).stdout
    assert "@ana" in text and "admin" in text
    data = ok("agent", "set", "bo", "--db", db, "--availability", "away", "--as", "bo")
    assert data["changed"] and data["agent"]["availability"] == "away"
    assert not ok("agent", "set", "bo", "--db", db, "--availability", "away")["changed"]
    before = seq(db)
    refused(
        "agent", "set", "bo", "--db", db, "--role", "admin", "--as", "bo", match="only an admin"
    )
    refused("agent", "add", "Cy", "--db", db, "--handle", "cy", "--as", "bo", match="only an admin")
    refused("agent", "add", "Cy", "--db", db, "--handle", "bo", match="handle @bo is taken")
    refused("agent", "deactivate", "ana", "--db", db, match="last active admin")
    refused("agent", "set", "ana", "--db", db, "--role", "agent", match="last active admin")
    refused("agent", "set", "zed", "--db", db, "--name", "Z", match="no agent 'zed'")
    assert seq(db) == before
    data = ok("agent", "deactivate", "bo", "--db", db)
    assert data["changed"] and data["agent"]["active"] is False and data["unassigned"] == []
    assert not ok("agent", "deactivate", "bo", "--db", db)["changed"]
    assert ok("agent", "activate", "bo", "--db", db)["agent"]["active"] is True


def test_teams(db: str) -> None:
    team = ok("team", "add", "Tier 1", "--db", db, "--member", "bo")["team"]
    assert (team["name"], team["members"]) == ("Tier 1", ["bo"])
    data = ok("team", "members", "tier 1", "--db", db, "--add", "ana", "--remove", "bo")
    assert data["changed"] and data["team"]["members"] == ["ana"]
    assert ok("team", "list", "--db", db)["teams"] == [data["team"]]
    refused("team", "add", "Night", "--db", db, "--as", "bo", match="only an admin can add teams")
    refused("team", "remove", "Nope", "--db", db, match="no team 'Nope'")
    assert ok("team", "remove", "Tier 1", "--db", db) == {"removed": "Tier 1"}
    assert ok("team", "list", "--db", db)["teams"] == []


def test_inboxes_access_and_remove(db: str) -> None:
    vip = ok("inbox", "add", "VIP", "--db", db, "--access", "listed")["inbox"]
    assert (vip["access"], vip["agents"], vip["default_pipeline"]) == ("listed", [], "Support")
    data = ok("inbox", "access", "VIP", "--db", db, "--add-agent", "bo")
    assert data["changed"] and data["inbox"]["agents"] == ["bo"]
    ok("team", "add", "Tier 1", "--db", db)
    data = ok(
        "inbox", "access", "VIP", "--db", db, "--add-team", "Tier 1", "--remove-agent", "bo",
        "--mode", "listed",
    )  # fmt: skip
    assert (data["inbox"]["agents"], data["inbox"]["teams"]) == ([], ["Tier 1"])
    refused("inbox", "access", "VIP", "--db", db, "--mode", "everyone", "--as", "bo", match="admin")
    renamed = ok("inbox", "rename", "VIP", "Key accounts", "--db", db)
    assert renamed["changed"] and renamed["inbox"]["name"] == "Key accounts"
    refused("inbox", "rename", "Key accounts", "support", "--db", db, match="exists")
    # An inbox with a conversation: refused, unless its conversations move.
    with open_workspace(db) as ws:
        channel = cmd.add_channel(ws, "Key accounts", "chat", "VIP chat")
        cmd.ingest(
            ws,
            cmd.Incoming(
                channel_id=channel,
                identity_kind="chat",
                identity_value="v-1",
                contact_name="Vic",
                body="hi",
                created_at=T0,
            ),
        )
    listed = ok("inbox", "list", "--db", db)["inboxes"]
    key = next(i for i in listed if i["name"] == "Key accounts")
    assert key["conversations"] == 1 and [c["name"] for c in key["channels"]] == ["VIP chat"]
    assert "VIP chat" in unibox("inbox", "list", "--db", db).stdout
    before = seq(db)
    refused("inbox", "remove", "Key accounts", "--db", db, match="holds 1 conversations")
    assert seq(db) == before
    data = ok("inbox", "remove", "Key accounts", "--db", db, "--move-to", "Support")
    assert data == {"removed": "Key accounts", "moved": 1, "moved_to": "Support"}
    [support] = ok("inbox", "list", "--db", db)["inboxes"]
    assert support["conversations"] == 1


def test_snippets(db: str, tmp_path: Path) -> None:
    body = tmp_path / "refund.txt"
    body.write_text("Hi {{contact.first_name}},\nyour refund is on its way.\n")
    saved = ok("snippet", "add", "refund", "--db", db, "--file", str(body), "--as", "bo")
    assert saved["snippet"]["body"].startswith("Hi {{contact.first_name}},")
    ok("snippet", "add", "thanks", "--db", db, "--body", "-", stdin="Thanks!")
    assert [s["name"] for s in ok("snippet", "list", "--db", db)["snippets"]] == [
        "refund",
        "thanks",
    ]
    assert ok("snippet", "show", "thanks", "--db", db)["snippet"]["body"] == "Thanks!"
    assert unibox("snippet", "show", "refund", "--db", db).stdout.startswith("Hi {{contact")
    result = unibox("snippet", "add", "x", "--db", db)
    assert result.returncode == 2 and "exactly one of --body" in result.stderr
    refused(
        "snippet", "add", "x", "--db", db, "--file", str(tmp_path / "nope"), match="cannot read"
    )
    refused("snippet", "show", "nope", "--db", db, match="no snippet 'nope'")
    assert ok("snippet", "remove", "thanks", "--db", db) == {"removed": "thanks"}


def test_pipelines(db: str) -> None:
    [support] = ok("pipeline", "list", "--db", db)["pipelines"]
    assert support["stages"] == ["New", "Waiting on contact", "Waiting on us", "Closed"]
    added = ok("pipeline", "add", "Sales", "--db", db, "--stage", "Lead", "--stage", "Won")
    assert added["pipeline"]["stages"] == ["Lead", "Won"]
    refused("pipeline", "add", "B", "--db", db, "--stage", "x", "--as", "bo", match="admin")
    data = ok("pipeline", "stages", "sales", "--db", db, "--stage", "Lead", "--stage", "Demo",
              "--stage", "Won")  # fmt: skip
    assert data["changed"] and data["pipeline"]["stages"] == ["Lead", "Demo", "Won"]
    assert unibox("pipeline", "stages", "Sales", "--db", db).stdout == "1. Lead\n2. Demo\n3. Won\n"
    data = ok("inbox", "pipeline", "Support", "Sales", "--db", db, "--stage", "Demo")
    assert (data["inbox"]["default_pipeline"], data["inbox"]["default_stage"]) == ("Sales", "Demo")
    refused(
        "inbox", "pipeline", "Support", "Sales", "--db", db, "--stage", "Lost", match="no stage"
    )
    refused("pipeline", "remove", "Sales", "--db", db, match="starts tickets in 'Sales'")
    ok("inbox", "pipeline", "Support", "Support", "--db", db)
    assert ok("pipeline", "remove", "Sales", "--db", db) == {"removed": "Sales"}
    refused("pipeline", "remove", "Support", "--db", db, match="only pipeline")


def test_notifications_list_and_mark_read(db: str) -> None:
    with open_workspace(db) as ws:
        channel = cmd.add_channel(ws, "Support", "email", "Support mail")
        conv = cmd.ingest(
            ws,
            cmd.Incoming(
                channel_id=channel,
                identity_kind="email",
                identity_value="carla@example.com",
                contact_name="Carla",
                body="Where is it?",
                created_at=T0,
                subject="Order late",
            ),
        ).conversation_id
        long_note = "@bo can you check the warehouse? " + "The pallet list follows. " * 20
        cmd.comment(ws, conv, long_note, actor="ana")
        cmd.assign(ws, conv, "bo", actor="ana")
        # The TUI's screen brings the start of the comment; the CLI brings all of it.
        (tui_mention,) = [
            n
            for n in q.notifications(ws, next(a.id for a in q.agents(ws) if a.handle == "bo"))
            if n.comment
        ]
        assert tui_mention.comment == long_note[:400] and tui_mention.actor_handle == "ana"
    data = ok("notifications", "--db", db, "--as", "bo")
    kinds = {n["kind"]: n for n in data["notifications"]}
    assert set(kinds) == {"mention", "assigned"} and data["marked_read"] == 0
    assert kinds["mention"]["comment"] == long_note  # whole, past the TUI's 400 characters
    assert kinds["mention"]["actor"] == "ana" and kinds["mention"]["conversation_id"] == conv
    assert kinds["assigned"]["comment"] is None and not kinds["assigned"]["read"]
    text = unibox("notifications", "--db", db, "--as", "bo").stdout
    assert "can you check the warehouse" in text
    cleared = ok("notifications", "--db", db, "--as", "bo", "--unread", "--mark-read")
    assert len(cleared["notifications"]) == 2 and cleared["marked_read"] == 2
    assert ok("notifications", "--db", db, "--as", "bo", "--unread")["notifications"] == []
    assert ok("notifications", "--db", db)["notifications"] == []  # Ana's own: none


def test_channel_changes_need_an_admin(db: str) -> None:
    with open_workspace(db) as ws:
        channel = cmd.add_channel(ws, "Support", "chat", "Site chat")
    before = seq(db)
    refused("channel", "disable", channel, "--db", db, "--as", "bo", match="only an admin")
    refused("channel", "remove", channel, "--db", db, "--as", "bo", match="only an admin")
    assert seq(db) == before
    result = unibox("channel", "disable", channel, "--db", db)  # Ana: the default agent, admin
    assert result.returncode == 0, result.stderr
    assert not q.channels(open_workspace(db))[0].enabled


def test_read_commands_do_not_create_a_workspace(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    for args in (("agent", "list"), ("team", "list"), ("inbox", "list"), ("pipeline", "list")):
        refused(*args, "--db", str(missing), match="no workspace at")
    assert not missing.exists()
