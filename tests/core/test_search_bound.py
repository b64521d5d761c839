"""`conversation.newest_message_rid` (migration 0030): the bound PostgreSQL's operator-driven
search orders conversations by (queries._driven_scan). It must never be below the rowid of
a conversation's newest searchable message, whatever wrote it: new messages (the search
index's step at each write's end), a merge moving messages over, a cache applying the
hub's pages, the migration's fill."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core.changes import apply_changes, changes_since, open_replica, replica_cursor
from unibox_tui.core.db import Workspace, open_workspace

DATA = Path(__file__).parent.parent / "data"
NEWEST = (
    "SELECT c.id, c.newest_message_rid, (SELECT max(m.rid) FROM message m "
    "WHERE m.conversation_id = c.id AND m.kind != 'activity') FROM conversation c"
)


def bounds(ws: Workspace) -> dict[str, tuple[int | None, int | None]]:
    """conversation -> (its newest_message_rid, its newest searchable message's rid)."""
    with ws.read() as conn:
        return {r[0]: (r[1], r[2]) for r in conn.exec_driver_sql(NEWEST)}


@pytest.mark.both_databases
def test_new_messages_and_merges_keep_the_bound(team: Team) -> None:
    ws = team.ws
    old = team.start("refund please", who="a@x.io", name="A", at=later(1))
    other = team.start("refund for me too", who="b@x.io", name="B", at=later(2))
    newer = team.start("still no refund", who="c@x.io", name="C", at=later(3))
    cmd.reply(ws, newer, "on its way", actor="ana", now=later(4))
    cmd.comment(ws, newer, "a note", actor="ana", now=later(5))
    found = bounds(ws)
    assert all(mine == newest and newest is not None for mine, newest in found.values()), found
    # An activity line (an assignment) is not searchable: the bound stays.
    cmd.assign(ws, other, "ana", actor="ana", now=later(6))
    assert bounds(ws)[other] == found[other]
    # Merging moves `newer`'s messages (the newest, a reply and a note among them) into
    # `old`: its bound rises above `other`'s, so the driven search reads it first.
    cmd.merge_conversations(ws, old, newer, actor="ana")
    after = bounds(ws)
    assert after[old][0] == after[old][1] == found[newer][1]
    assert after[old][0] > after[other][0]


def test_a_cache_keeps_the_bound_in_its_own_numbering(team: Team, tmp_path: Path) -> None:
    """A cache numbers its rows itself: the hub's figure is not sent (it would be another
    database's rowid); the cache's own writes of the pages keep it, merges included."""
    ws = team.ws
    first = team.start("hello", who="a@x.io", name="A", at=later(1))
    second = team.start("hello again", who="b@x.io", name="B", at=later(2))
    replica = open_replica(tmp_path / "cache.db")

    def pull() -> None:
        while True:
            page = changes_since(ws, replica_cursor(replica), None, 1000)
            apply_changes(replica, page)
            if not page.more:
                return

    pull()
    # The cache stored `second`'s message after `first`'s: moved into `first`, it is the
    # newest there.
    cmd.merge_conversations(ws, first, second, actor="ana")
    pull()
    rows = {r[0]: (r[1], r[2]) for r in replica.execute(NEWEST)}
    assert rows[first][0] == rows[first][1] is not None, rows


def test_the_migration_fills_the_bound_from_stored_messages(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(DATA / "workspace_0001.db", path)
    with open_workspace(path) as ws:
        found = bounds(ws)
    assert found and all(mine == newest for mine, newest in found.values()), found
    assert any(newest is not None for _, newest in found.values())
