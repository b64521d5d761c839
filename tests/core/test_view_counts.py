"""View counts come from the counter table the triggers of migration 0013 keep
(`conversation_count`). They must equal a plain count of the conversations after any mix of
writes: commands, ingest, bulk moves, and a client cache written by the change log."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import T0, Team, later
from unibox_tui.core import changes
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING, Access
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.core.errors import InvalidRequest, NoAccess, NotFound

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

KEY = "inbox_id, status, assignee_id, channel_kind, unread, waiting, ticket"
RECOUNT = (
    "SELECT inbox_id, status, coalesce(assignee_id, ''), channel_kind, unread, waiting, "
    "ticket_id IS NOT NULL, count(*) FROM conversation GROUP BY 1, 2, 3, 4, 5, 6, 7"
)


def counter_rows(con: sqlite3.Connection | Workspace) -> tuple[set, set]:
    """(the counter table's non-empty rows, the same recounted from the conversations)."""
    if isinstance(con, Workspace):
        with con.read() as conn:
            kept = conn.exec_driver_sql(f"SELECT {KEY}, n FROM conversation_count WHERE n != 0")
            return set(map(tuple, kept.all())), set(map(tuple, conn.exec_driver_sql(RECOUNT)))
    kept = con.execute(f"SELECT {KEY}, n FROM conversation_count WHERE n != 0")
    return set(kept.fetchall()), set(con.execute(RECOUNT).fetchall())


def views_for(ws: Workspace, agent: str | None) -> list[q.View]:
    """Every view an agent may open, each with every list filter too."""
    access = q.reader(ws, agent)
    keys = [*q.FIXED_VIEWS, *(f"kind:{k}" for k in q.CHANNEL_KINDS)]
    keys += [f"inbox:{i.id}" for i in q.visible_inboxes(ws, agent)]
    out = []
    for key in keys:
        if key == "mine" and agent is None:
            continue
        v = q.view(key, me=agent, ws=ws, access=access)
        out += [v, *(q.filtered(v, name) for name in q.LIST_FILTERS)]
    return out


def assert_counts_right(ws: Workspace, agents: list[str | None]) -> None:
    kept, recount = counter_rows(ws)
    assert kept == recount
    with ws.read() as conn:
        for agent in agents:
            for v in views_for(ws, agent):
                assert v.counted is not None, v.key  # counted from the counter table
                plain = replace(v, counted=None)  # counted row by row, as before 0013
                assert q.count_on(conn, v) == q.count_on(conn, plain), (agent, v.key)


def test_counts_follow_every_kind_of_write(team: Team) -> None:
    ws = team.ws
    agents: list[str | None] = [None, team.ana, team.bo, team.cy]
    convs = [
        team.start("Where is my order?"),
        team.start("Chat hello", channel=team.chat, kind="chat", who="v-1", subject=""),
        team.start("Hi on Messenger", channel=team.messenger, kind="messenger", who="psid-9"),
        team.start("Price list?", channel=team.sales_email, who="lead@example.com"),
        team.start("Second order", who="dan@example.com", name="Dan", subject="Broken"),
    ]
    assert_counts_right(ws, agents)
    order, chat, messenger, sales, broken = convs
    cmd.assign(ws, order, "bo", actor="ana")
    cmd.assign(ws, sales, "ana", actor="ana")
    cmd.close(ws, chat, actor="ana")
    cmd.snooze(ws, messenger, later(30), actor="bo", now=T0)
    cmd.mark_read(ws, broken, actor="bo")
    cmd.create_ticket(ws, actor="ana", conversation_id=order)
    assert_counts_right(ws, agents)
    cmd.reopen(ws, chat, actor="bo")
    cmd.assign(ws, order, None, actor="ana")
    cmd.wake_due(ws, now=later(60))
    cmd.move_inbox(ws, broken, "Sales", actor="ana")
    cmd.ingest(ws, team.incoming("Any news?", at=later(90)))  # a follow-up on `order`
    cmd.reply(ws, order, "On its way", actor="ana")
    assert_counts_right(ws, agents)
    # Bulk writes: a whole inbox moved at once, an agent's conversations unassigned at once.
    cmd.assign(ws, sales, "cy", actor="ana")
    cmd.remove_inbox(ws, "Sales", move_to="Support")
    cmd.deactivate_agent(ws, "cy")
    assert_counts_right(ws, [None, team.ana, team.bo])


OPS = st.sampled_from(
    "ingest close reopen snooze wake assign unassign read unread move ticket reply merge".split()
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(OPS, st.integers(0, 50), st.sampled_from(["ana", "bo"])), max_size=12))
def test_counts_equal_a_plain_count_after_any_mix_of_commands(
    team: Team, steps: list[tuple[str, int, str]]
) -> None:
    """Each example carries on from the workspace the previous ones left."""
    ws = team.ws
    with ws.read() as conn:
        minute = conn.exec_driver_sql("SELECT count(*) FROM message").scalar_one()
    for op, pick, who in steps:
        minute += 1
        ids = [r.id for r in q.list_conversations(ws, q.view("all", access=EVERYTHING)).rows]
        if op == "ingest" or not ids:
            channel = [team.email, team.chat, team.sales_email][pick % 3]
            kind = "chat" if channel == team.chat else "email"
            who_writes = f"c{pick % 7}@example.com" if kind == "email" else f"v{pick % 7}"
            cmd.ingest(
                ws,
                team.incoming(
                    f"message {minute}",
                    channel=channel,
                    kind=kind,
                    who=who_writes,
                    at=later(minute),
                ),
            )
            continue
        cid = ids[pick % len(ids)]
        if op in ("close", "reopen", "unassign", "ticket", "merge"):
            who = "ana"  # ana may act in both inboxes
        try:
            if op == "close":
                cmd.close(ws, cid, actor=who)
            elif op == "reopen":
                cmd.reopen(ws, cid, actor=who)
            elif op == "snooze":
                cmd.snooze(ws, cid, later(minute + 5), actor=who, now=later(minute))
            elif op == "wake":
                cmd.wake_due(ws, now=later(minute + 10))
            elif op == "assign":
                cmd.assign(ws, cid, who, actor=who)
            elif op == "unassign":
                cmd.assign(ws, cid, None, actor=who)
            elif op in ("read", "unread"):
                cmd.mark_read(ws, cid, op == "read", actor=who)
            elif op == "move":
                cmd.move_inbox(ws, cid, ["Support", "Sales"][pick % 2], actor="ana")
            elif op == "ticket":
                cmd.create_ticket(ws, actor=who, conversation_id=cid)
            elif op == "reply":
                cmd.reply(ws, cid, f"answer {minute}", actor=who)
            elif op == "merge":  # the merged conversation is deleted
                cmd.merge_conversations(ws, cid, ids[(pick + 1) % len(ids)], actor=who)
        except (NotFound, InvalidRequest, NoAccess):  # refused: a command changes nothing
            pass
    assert_counts_right(ws, [None, team.ana, team.bo, team.cy])


# ------------------------------------------------------------------------- client caches


@pytest.fixture
def demo(tmp_path: Path) -> Workspace:
    build_demo(tmp_path / "hub.db", conversations=120, seed=3, now=T0)
    ws = open_workspace(tmp_path / "hub.db")
    yield ws
    ws.close()


def handle_id(ws: Workspace, handle: str) -> str:
    return next(a.id for a in q.agents(ws) if a.handle == handle)


def restricted_agent(ws: Workspace) -> str:
    sales = next(i.id for i in q.inboxes(ws) if i.detail == "listed")
    return next(a.id for a in q.agents(ws) if a.active and not q.reader(ws, a.id).can_see(sales))


def pull_all(hub: Workspace, replica: sqlite3.Connection, agent: str | None) -> None:
    changes.pull(hub, replica, agent, limit=97)  # small pages: changes split across them


def test_a_demo_workspace_counts_right(demo: Workspace) -> None:
    agents = [None, handle_id(demo, "ana"), restricted_agent(demo)]
    assert_counts_right(demo, agents)


def test_counts_in_a_client_cache_follow_the_change_log(demo: Workspace, tmp_path: Path) -> None:
    ana = handle_id(demo, "ana")
    for agent in (None, restricted_agent(demo)):
        path = tmp_path / f"cache-{agent}.db"
        replica = changes.open_replica(path)
        pull_all(demo, replica, agent)
        kept, recount = counter_rows(replica)
        assert kept == recount and kept
        # Writes on the hub reach the cache as updated rows: the cache's counts follow.
        rows = q.list_conversations(demo, q.view("open", access=EVERYTHING), limit=30).rows
        support = [r.id for r in rows if r.inbox == "Support" and r.ticket_id is None]
        cmd.close(demo, support[0], actor=ana)
        cmd.assign(demo, support[1], "ana", actor=ana)
        cmd.mark_read(demo, support[2], actor=ana)
        cmd.snooze(demo, support[3], later(60 * 24 * 30), actor=ana, now=T0)
        cmd.create_ticket(demo, actor=ana, conversation_id=support[4])
        pull_all(demo, replica, agent)
        # A delete from the hub arrives as a tombstone.
        gone = support[5]
        page = {
            "changes": [{"table": "conversation", "deleted": {"id": gone}}],
            "cursor": changes.replica_cursor(replica),
            "more": False,
            "head": 0,
        }
        changes.apply_changes(replica, page)
        assert (
            replica.execute("SELECT 1 FROM conversation WHERE id = ?", (gone,)).fetchone() is None
        )
        replica.close()
        with open_workspace(path) as cache:
            assert_counts_right(cache, [None, ana, agent])
            # And the cache's counts are the hub's, for what the agent may see (less the
            # conversation deleted in the cache only).
            access: Access = q.reader(demo, agent)
            with demo.read() as hub_conn, cache.read() as cache_conn:
                for key in ("open", "closed", "all"):
                    hub_n, _ = q.count_on(hub_conn, q.view(key, ws=demo, access=access))
                    cache_n, _ = q.count_on(cache_conn, q.view(key, ws=cache, access=access))
                    assert cache_n == hub_n - (1 if key in ("open", "all") else 0), key


def test_a_snapshot_cache_counts_right(demo: Workspace, tmp_path: Path) -> None:
    agent = restricted_agent(demo)
    changes.snapshot(demo.path, tmp_path / "snap.db", agent)
    with open_workspace(tmp_path / "snap.db") as cache:
        assert_counts_right(cache, [None, agent])
        with cache.read() as conn:
            total = conn.exec_driver_sql("SELECT count(*) FROM conversation").scalar_one()
        assert total and q.count(cache, q.view("all", access=EVERYTHING))[0] == total


def test_a_view_built_by_hand_is_counted_row_by_row(team: Team) -> None:
    team.start("Hello")
    v = q.View("custom", "Custom", "c.subject LIKE ?", ("Order%",))
    assert v.counted is None
    assert q.count(team.ws, v) == (1, 1)


def test_every_list_filter_has_a_counter_condition() -> None:
    assert set(q.FILTER_COUNTS) == set(q.LIST_FILTERS)
