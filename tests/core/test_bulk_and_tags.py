"""Bulk decisions (commands/many.py) and tags (commands/tags.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import T0, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.changes import apply_changes, changes_since, open_replica, replica_cursor
from unibox_tui.core.commands import registry
from unibox_tui.core.commands.many import MAX_BULK, undo_steps
from unibox_tui.core.errors import InvalidRequest

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def row(ws: Any, cid: str) -> q.ConversationRow:
    return q.conversation(ws, cid, access=EVERYTHING)


def three(team: Any) -> tuple[str, str, str]:
    """Two Support conversations and one in Sales (listed: ana and cy, not bo)."""
    a = team.start("One", who="a@example.com")
    b = team.start("Two", who="b@example.com")
    s = team.start("Three", channel=team.sales_email, who="s@example.com")
    return a, b, s


def test_bulk_close_is_one_transaction_and_skips_what_the_actor_may_not_act_in(team) -> None:
    ws = team.ws
    a, b, s = three(team)
    before = ws.change_seq()
    result = registry.run(
        ws, "bulk", {"conversation_ids": [a, b, s], "action": "close"}, actor="bo"
    )
    assert ws.change_seq() == before + 1  # one change number for the whole decision
    assert result.value.changed == [a, b]
    assert result.value.skipped == [s]
    assert "not found or no access" in result.value.reasons[0]
    assert [row(ws, c).status for c in (a, b, s)] == ["closed", "closed", "open"]
    # Each changed conversation got its activity line, as a single close writes it.
    thread = q.thread(ws, a, access=EVERYTHING)
    assert thread[-1].kind == "activity" and thread[-1].body == "Bo Chen closed this"
    # Already closed: unchanged, not skipped.
    again = cmd.bulk(ws, [a, b], "close", actor="ana")
    assert (again.changed, again.unchanged) == ([], [a, b])


def test_bulk_assign_checks_the_assignee_per_conversation(team) -> None:
    ws = team.ws
    a, b, s = three(team)
    result = cmd.bulk(ws, [a, b, s], "assign", "bo", actor="ana")
    assert result.changed == [a, b] and result.skipped == [s]  # bo has no access to Sales
    assert [row(ws, c).assignee for c in (a, b, s)] == ["bo", "bo", None]
    notes = q.notifications(ws, team.bo)
    assert len([n for n in notes if n.kind == "assigned"]) == 2


def test_bad_bulk_requests_are_refused_whole(team) -> None:
    ws = team.ws
    a, _, _ = three(team)
    before = ws.change_seq()
    for args, message in (
        ({"conversation_ids": [a], "action": "explode"}, "no bulk action"),
        ({"conversation_ids": [], "action": "close"}, "no conversations"),
        ({"conversation_ids": [a], "action": "snooze"}, "needs `until`"),
        ({"conversation_ids": [a], "action": "tag", "value": "two words"}, "one word"),
        ({"conversation_ids": [a] * (MAX_BULK + 1), "action": "close"}, "at most"),
    ):
        ids = args["conversation_ids"]
        if len(ids) > MAX_BULK:  # distinct ids: duplicates count once
            args = {**args, "conversation_ids": [f"x{i}" for i in range(MAX_BULK + 1)]}
        with pytest.raises(InvalidRequest, match=message):
            registry.run(ws, "bulk", args, actor="ana")
    assert ws.change_seq() == before


def test_undo_steps_put_back_what_a_bulk_decision_changed(team) -> None:
    ws = team.ws
    a, b, s = three(team)
    cmd.snooze(ws, b, later(600), actor="ana", now=T0)
    cmd.assign(ws, s, "cy", actor="ana")
    ids = [a, b, s]
    with ws.read() as conn:
        before = q.rows_of(conn, ids, access=EVERYTHING)
    result = cmd.bulk(ws, ids, "close", actor="ana", now=later(1))
    assert result.changed == ids
    steps = undo_steps("close", None, before, result.changed, later(2))
    assert sorted((s[0], len(s[1])) for s in steps) == [("reopen", 2), ("snooze", 1)]
    for action, step_ids, value, until in steps:
        cmd.bulk(ws, step_ids, action, value, until=until, actor="ana", now=later(2))
    assert [row(ws, c).status for c in ids] == ["open", "snoozed", "open"]
    assert row(ws, b).snoozed_until == later(600)
    # Assign, then undo: each back to whoever had it.
    result = cmd.bulk(ws, ids, "assign", "ana", actor="ana")
    for action, step_ids, value, until in undo_steps("assign", "ana", before, result.changed, T0):
        cmd.bulk(ws, step_ids, action, value, until=until, actor="ana")
    assert [row(ws, c).assignee for c in ids] == [None, None, "cy"]


def test_tag_and_untag_with_names_completion_and_a_view(team) -> None:
    ws = team.ws
    a, b, s = three(team)
    assert cmd.tag(ws, a, "#Billing", actor="ana") is True
    assert cmd.tag(ws, a, "billing", actor="ana") is False  # already
    cmd.tag(ws, b, "vip", actor="ana")
    cmd.tag(ws, b, "billing", actor="ana")
    assert row(ws, a).tags == ["billing"] and row(ws, b).tags == ["billing", "vip"]
    assert q.tags(ws) == ["billing", "vip"]
    v = q.view("tag:billing", access=EVERYTHING)
    assert v.counted is None  # no counter row knows tags: counted through the index
    assert {r.id for r in q.list_conversations(ws, v).rows} == {a, b}
    assert q.count(ws, v) == (2, 2)
    with pytest.raises(InvalidRequest, match="one word"):
        cmd.tag(ws, a, "no spaces please", actor="ana")
    with pytest.raises(InvalidRequest, match="one word"):
        cmd.tag(ws, a, "\x1b[31mred", actor="ana")
    # bo may not act in Sales: "not found or no access", and nothing is made.
    with pytest.raises(Exception, match="not found or no access"):
        cmd.tag(ws, s, "secret", actor="bo")
    assert q.tags(ws) == ["billing", "vip"]
    assert cmd.untag(ws, b, "billing", actor="ana") is True
    assert cmd.untag(ws, b, "billing", actor="ana") is False
    assert row(ws, b).tags == ["vip"]
    # Untagging left a tombstone, so replicas drop the pairing too.
    with ws.read() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM tombstone WHERE table_name = 'conversation_tag'"
            ).scalar()
            == 1
        )
    # Views of a reader who may not see Sales leave its tagged conversation out.
    cmd.tag(ws, s, "billing", actor="ana")
    bo_view = q.view("tag:billing", access=q.reader(ws, team.bo))
    assert {r.id for r in q.list_conversations(ws, bo_view).rows} == {a}


def test_a_client_minted_tag_id_is_idempotent(team) -> None:
    from unibox_tui.core.ids import new_id

    ws = team.ws
    a = team.start()
    pair = new_id()
    registry.run(ws, "tag", {"conversation_id": a, "name": "x"}, actor="ana", id=pair)
    again = registry.run(ws, "tag", {"conversation_id": a, "name": "x"}, actor="ana", id=pair)
    assert again.value is False
    with ws.read() as conn:
        assert conn.exec_driver_sql("SELECT id FROM conversation_tag").scalars().all() == [pair]


def pull(ws: Any, replica: sqlite3.Connection, agent: str | None) -> None:
    while True:
        page = changes_since(ws, replica_cursor(replica), agent, 1000)
        apply_changes(replica, page)
        if not page.more:
            return


def test_tags_reach_a_replica_and_untags_leave_it(team, tmp_path: Path) -> None:
    ws = team.ws
    a, b, s = three(team)
    cmd.bulk(ws, [a, b, s], "tag", "urgent", actor="ana")
    bo = open_replica(tmp_path / "bo.db")
    pull(ws, bo, team.bo)
    everyone = open_replica(tmp_path / "all.db")
    pull(ws, everyone, None)

    def tagged(con: sqlite3.Connection) -> set[str]:
        return {
            r[0]
            for r in con.execute(
                "SELECT x.conversation_id FROM conversation_tag x JOIN tag g ON g.id = x.tag_id "
                "WHERE g.name = 'urgent'"
            )
        }

    assert tagged(everyone) == {a, b, s}
    assert tagged(bo) == {a, b}  # Sales is hidden from bo: its tag rows are too
    cmd.bulk(ws, [a, s], "untag", "urgent", actor="ana")
    pull(ws, bo, team.bo)
    pull(ws, everyone, None)
    assert tagged(everyone) == {b} and tagged(bo) == {b}
    # The replica reads as the workspace: the row's tags and the tag view.
    with open_workspace_at(tmp_path / "all.db") as replica_ws:
        assert q.conversation(replica_ws, b, access=EVERYTHING).tags == ["urgent"]
        v = q.view("tag:urgent", access=EVERYTHING)
        assert [r.id for r in q.list_conversations(replica_ws, v).rows] == [b]


def open_workspace_at(path: Path) -> Any:
    from unibox_tui.core.db import open_workspace

    return open_workspace(path)


def test_a_moved_conversation_brings_its_tags_to_the_new_inbox(team, tmp_path: Path) -> None:
    ws = team.ws
    s = team.start("Sales thing", channel=team.sales_email, who="s@example.com")
    cmd.tag(ws, s, "lead", actor="ana")
    bo = open_replica(tmp_path / "bo.db")
    pull(ws, bo, team.bo)
    assert bo.execute("SELECT count(*) FROM conversation_tag").fetchone()[0] == 0
    cmd.move_inbox(ws, s, "Support", actor="ana")
    pull(ws, bo, team.bo)
    assert bo.execute("SELECT conversation_id FROM conversation_tag").fetchall() == [(s,)]


def test_the_cli_tags_untags_and_lists_a_tag_view(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from unibox_tui.core.demo import build_demo

    db = str(tmp_path / "demo.db")
    build_demo(db, conversations=30, seed=3, now=T0)

    def unibox(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "unibox_tui", *args, "--db", db],
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = json.loads(unibox("conversations", "list", "--json").stdout)
    first = listed["conversations"][0]["id"]
    done = unibox("conversations", "tag", first, "VIP", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["changed"] is True and data["conversation"]["tags"] == ["vip"]
    view = json.loads(unibox("conversations", "list", "--view", "tag:vip", "--json").stdout)
    assert (view["total"], [c["id"] for c in view["conversations"]]) == (1, [first])
    bad = unibox("conversations", "tag", first, "two words")
    assert bad.returncode == 1 and bad.stderr.startswith("unibox: error: a tag is one word")
    assert "Traceback" not in bad.stderr
    gone = json.loads(unibox("conversations", "untag", first, "vip", "--json").stdout)
    assert gone["changed"] is True and gone["conversation"]["tags"] == []
    text = unibox("conversations", "untag", first, "vip")
    assert text.stdout.startswith("no change:")


def test_merging_conversations_keeps_their_tags_once(team) -> None:  # type: ignore[no-untyped-def]
    from unibox_tui.core import commands as cmd

    a = team.start("first", who="a@example.com")
    b = team.start("second", who="b@example.com")
    cmd.tag(team.ws, a, "vip", actor=team.ana)
    cmd.tag(team.ws, b, "vip", actor=team.ana)
    cmd.tag(team.ws, b, "billing", actor=team.ana)
    cmd.merge_conversations(team.ws, a, b, actor=team.ana)
    with team.ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.conversation_id, t.name FROM conversation_tag c JOIN tag t ON t.id = c.tag_id "
            "ORDER BY t.name"
        ).all()
    assert [tuple(r) for r in rows] == [(a, "billing"), (a, "vip")]
