"""The change log (core/changes.py): a replica that replays it holds what its agent may see."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import T0
from unibox_tui.core import access, changes, derived, search_index
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.changes import (
    BY_NAME,
    PRIVATE_SETTINGS,
    Changes,
    apply_changes,
    changes_since,
    open_replica,
    replica_cursor,
)
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.core.demo import build_demo

Dump = dict[str, dict[tuple, dict[str, Any]]]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Workspace]:
    build_demo(tmp_path / "hub.db", conversations=80, seed=5, now=T0)
    with open_workspace(tmp_path / "hub.db") as ws:
        yield ws


def agent_id(ws: Workspace, handle: str) -> str:
    return next(a.id for a in q.agents(ws) if a.handle == handle)


def inbox_id(ws: Workspace, name: str) -> str:
    return next(i.id for i in q.inboxes(ws) if i.name == name)


def raw(target: Path | str) -> Any:
    """A plain connection to the workspace at `target`: its file, or its PostgreSQL URL
    (`ws_target`; autocommit, so it holds no lock between reads)."""
    if isinstance(target, str):
        import psycopg

        return psycopg.connect(target.replace("+psycopg", ""), autocommit=True)
    return sqlite3.connect(target)


def _columns(con: Any, table: str) -> list[str]:
    if isinstance(con, sqlite3.Connection):
        return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    # PostgreSQL: a real `rowid` column in a few tables (SQLite's is hidden; never sent).
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() AND column_name != 'rowid' "
            "ORDER BY ordinal_position",
            (table,),
        )
    ]


def dump(con: Any) -> Dump:
    """Every table a client holds, by key, without the columns the log does not carry, and
    each column as the log sends it (a message's `ord`: the hub's numbering)."""
    out: Dump = {}
    for name, spec in BY_NAME.items():
        columns = [c for c in _columns(con, name) if c not in spec.skip]
        rows = con.execute(f"SELECT {changes.selected(name, columns)} FROM {name} t").fetchall()
        out[name] = {}
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            out[name][tuple(values[k] for k in spec.ident)] = values
    return out


def same(got: Dump, expected: Dump) -> bool:
    """Equal, table by table; a difference fails with a short message (pytest's diff of two
    large dicts takes minutes)."""
    for table in BY_NAME:
        a, b = got[table], expected[table]
        extra, missing = sorted(set(a) - set(b))[:3], sorted(set(b) - set(a))[:3]
        differ = [k for k in a.keys() & b.keys() if a[k] != b[k]][:1]
        detail = [(a[k], b[k]) for k in differ]
        assert not (extra or missing or detail), (table, extra, missing, detail)
    return True


def visible(hub: Dump, rule: access.Access) -> Dump:
    """What `rule`'s agent may see of the hub, decided here in Python from the rule's inbox
    set (the SQL in core/changes.py is what is under test)."""
    convs = hub["conversation"]
    seen_conv = {k[0] for k, c in convs.items() if rule.can_see(c["inbox_id"])}

    def used(column: str, value: str) -> bool:
        users = [c for c in convs.values() if c[column] == value]
        return not users or any(c["id"] in seen_conv for c in users)

    seen_msg = {k[0] for k, m in hub["message"].items() if m["conversation_id"] in seen_conv}
    contacts = {
        k[0]
        for k, c in hub["contact"].items()
        if used("contact_id", c["merged_into_id"] or c["id"])
    }
    keep = {
        "conversation": lambda r: r["id"] in seen_conv,
        "channel": lambda r: rule.can_see(r["inbox_id"]),
        "message": lambda r: r["id"] in seen_msg,
        "attachment": lambda r: r["message_id"] in seen_msg,
        "ticket": lambda r: used("ticket_id", r["id"]),
        "contact": lambda r: r["id"] in contacts,
        "contact_identity": lambda r: r["contact_id"] in contacts,
        "notification": lambda r: rule.agent_id is None or r["agent_id"] == rule.agent_id,
        "setting": lambda r: r["key"] not in PRIVATE_SETTINGS,
    }
    return {
        table: {k: r for k, r in rows.items() if keep.get(table, lambda r: True)(r)}
        for table, rows in hub.items()
    }


def pull(
    ws: Workspace,
    replica: sqlite3.Connection,
    agent: str | None,
    limit: int = 100_000,
    columnar: bool = False,
) -> list[dict]:
    """Pull until nothing remains; returns every change received, in order (as dicts)."""
    received: list[dict] = []
    while True:
        cursor = replica_cursor(replica)
        if columnar:
            runs = changes_since(ws, cursor, agent, limit, columnar=True)
            apply_changes(replica, json.loads(json.dumps(runs.to_json())))  # what travels
            page = runs.as_changes()
        else:
            page = changes_since(ws, cursor, agent, limit)
            json.dumps(page.to_json())  # what travels is JSON
            apply_changes(replica, page)
        received += page.changes
        if not page.more:
            return received


def access_of(ws: Workspace, agent: str | None) -> access.Access:
    with ws.read() as conn:
        return access.for_agent(conn, agent)


@pytest.mark.parametrize("columnar", [False, True], ids=["dicts", "columnar"])
def test_replay_from_zero_reproduces_what_each_agent_may_see(
    demo: Workspace, tmp_path: Path, columnar: bool
) -> None:
    hub = dump(raw(demo.path))
    assert all(hub[t] for t in ("team_member", "inbox_access", "setting", "notification"))
    for who in (None, "ana", "bo", "fatima"):
        agent = agent_id(demo, who) if who else None
        replica = open_replica(tmp_path / f"replica-{who}.db")
        # Pages of 300: long runs (plain inserts) and pages that mix tables.
        pull(demo, replica, agent, limit=300, columnar=columnar)
        expected = visible(hub, access_of(demo, agent))
        assert same(dump(replica), expected), who
        assert replica_cursor(replica) == str(demo.change_seq())
        # The last page put the usual durability back (a pull runs with synchronous=OFF).
        assert replica.execute("PRAGMA synchronous").fetchone()[0] == 1
        check_search_index(tmp_path / f"replica-{who}.db")
    assert same(dump(raw(tmp_path / "replica-None.db")), hub)


def check_search_index(path: Path) -> None:
    """The replica's search index holds exactly its messages, and each conversation with its
    subject and its contact's current name."""
    con = raw(path)
    con.execute("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')")
    con.execute("INSERT INTO conversation_fts(conversation_fts) VALUES ('integrity-check')")
    # The message index (external content, activity entries left out) equals one built
    # afresh from the replica's messages, term by term: a message left out, or a 'delete'
    # of one never indexed, shows as a difference.
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'message_fts'").fetchone()[0]
    tokenize = sql[sql.index("tokenize") : sql.rindex(")")]
    con.execute(f"CREATE VIRTUAL TABLE temp.fresh USING fts5(body, content='', {tokenize})")
    con.execute(
        "INSERT INTO temp.fresh(rowid, body) SELECT rid, body FROM message WHERE kind != 'activity'"
    )
    con.execute("CREATE VIRTUAL TABLE temp.kept USING fts5vocab(main, message_fts, row)")
    con.execute("CREATE VIRTUAL TABLE temp.built USING fts5vocab(temp, fresh, row)")
    terms = "SELECT term, doc, cnt FROM temp.{} ORDER BY term"
    kept, built = (con.execute(terms.format(t)).fetchall() for t in ("kept", "built"))
    assert kept == built and built
    conversations = con.execute("SELECT count(*) FROM conversation").fetchone()[0]
    assert con.execute("SELECT count(*) FROM conversation_fts").fetchone()[0] == conversations
    current = con.execute(
        "SELECT count(*) FROM conversation c JOIN conversation_fts f ON f.rowid = c.rid "
        f"WHERE f.subject = c.subject AND f.contact = {search_index.CONTACT_TEXT}"
    )
    assert current.fetchone()[0] == conversations
    con.close()


def test_an_agent_replay_holds_nothing_of_an_inbox_they_cannot_see(
    demo: Workspace, tmp_path: Path
) -> None:
    bo, sales = agent_id(demo, "bo"), inbox_id(demo, "Sales")
    assert not access_of(demo, bo).can_see(sales)
    replica = open_replica(tmp_path / "bo.db")
    pull(demo, replica, bo, limit=50)
    hub = raw(demo.path)
    sales_convs = {
        r[0] for r in hub.execute("SELECT id FROM conversation WHERE inbox_id = ?", (sales,))
    }
    sales_msgs = {
        r[0]
        for r in hub.execute(
            "SELECT m.id FROM message m JOIN conversation c ON c.id = m.conversation_id "
            "WHERE c.inbox_id = ?",
            (sales,),
        )
    }
    only_sales_contacts = {
        r[0]
        for r in hub.execute(
            "SELECT contact_id FROM conversation GROUP BY contact_id HAVING min(inbox_id = ?) = 1",
            (sales,),
        )
    }
    assert sales_convs and sales_msgs and only_sales_contacts
    got = dump(replica)
    assert not sales_convs & {k[0] for k in got["conversation"]}
    assert not sales_msgs & {k[0] for k in got["message"]}
    assert not only_sales_contacts & {k[0] for k in got["contact"]}
    assert not only_sales_contacts & {r["contact_id"] for r in got["contact_identity"].values()}
    assert all(r["inbox_id"] != sales for r in got["channel"].values())
    assert all(r["agent_id"] == bo for r in got["notification"].values())
    # Nothing of Sales in the search index either.
    with open_workspace(tmp_path / "bo.db") as mine:
        sales_subject = hub.execute(
            "SELECT subject FROM conversation WHERE inbox_id = ? AND subject != '' LIMIT 1",
            (sales,),
        ).fetchone()[0]
        assert all(
            h.row.inbox_id != sales for h in q.search(mine, sales_subject, access=EVERYTHING)
        )
    # The inboxes, their access lists and the teams are there: the client applies the rule.
    assert sales in {k[0] for k in got["inbox"]} and got["inbox_access"] and got["team_member"]


def test_a_contact_seen_only_in_a_hidden_inbox_arrives_with_a_visible_conversation(
    demo: Workspace, tmp_path: Path
) -> None:
    bo, sales = agent_id(demo, "bo"), inbox_id(demo, "Sales")
    replica = open_replica(tmp_path / "bo.db")
    pull(demo, replica, bo)
    hub = raw(demo.path)
    contact, email = hub.execute(
        "SELECT ci.contact_id, ci.value FROM contact_identity ci WHERE ci.kind = 'email' AND "
        "ci.contact_id IN (SELECT contact_id FROM conversation GROUP BY contact_id "
        "HAVING min(inbox_id = ?) = 1) LIMIT 1",
        (sales,),
    ).fetchone()
    assert (contact,) not in dump(replica)["contact"]
    support_mail = next(c.id for c in q.channels(demo) if c.kind == "email" and c.inbox_id != sales)
    cmd.ingest(
        demo,
        cmd.Incoming(
            channel_id=support_mail,
            identity_kind="email",
            identity_value=email,
            contact_name="",
            body="Now writing to support",
            created_at=T0,
            subject="A support question",
        ),
    )
    received = pull(demo, replica, bo)
    tables = {c["table"] for c in received}
    assert {"contact", "contact_identity", "conversation", "message"} <= tables
    got = dump(replica)
    assert (contact,) in got["contact"]
    assert same(got, visible(dump(raw(demo.path)), access_of(demo, bo)))


def test_a_delete_reaches_the_replica(demo: Workspace, tmp_path: Path) -> None:
    ana = agent_id(demo, "ana")
    replica = open_replica(tmp_path / "ana.db")
    cmd.save_snippet(demo, "Bye", "Have a good day")
    channel = cmd.add_channel(demo, "Support", "chat", "Spare chat")
    cmd.set_sync_state(demo, channel, "INBOX", {"uidnext": 3})  # hub-only: no tombstone
    pull(demo, replica, ana)
    assert ("Bye",) in {(r["name"],) for r in dump(replica)["snippet"].values()}
    assert (channel,) in dump(replica)["channel"]

    cmd.delete_snippet(demo, "Bye")
    cmd.remove_channel(demo, channel)
    received = pull(demo, replica, ana)
    deleted = [c for c in received if "deleted" in c]
    assert {c["table"] for c in deleted} == {"snippet", "channel"}
    got = dump(replica)
    assert "Bye" not in {r["name"] for r in got["snippet"].values()}
    assert (channel,) not in got["channel"]
    assert same(got, visible(dump(raw(demo.path)), access_of(demo, ana)))
    # A replay from zero after the delete never shows the row at all.
    fresh = open_replica(tmp_path / "fresh.db")
    assert changes.pull(demo, fresh, ana, limit=3) > 0  # the client's loop, reading ahead
    assert same(dump(fresh), got)


def test_an_incremental_pull_brings_exactly_the_changes_of_some_commands(
    demo: Workspace, tmp_path: Path
) -> None:
    bo = agent_id(demo, "bo")
    replica = open_replica(tmp_path / "bo.db")
    pull(demo, replica, bo)
    before = demo.change_seq()
    support = inbox_id(demo, "Support")
    conv = next(
        r
        for r in q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows
        if r.inbox_id == support
    )
    now = T0 + timedelta(hours=1)
    reply_id = cmd.reply(demo, conv.id, "We are on it", actor="bo", now=now)
    comment = cmd.comment(demo, conv.id, "@chiara can you check the address?", actor="bo", now=now)
    cmd.assign(demo, conv.id, "chiara", actor="bo", now=now)
    cmd.close(demo, conv.id, actor="bo", now=now)
    assert demo.change_seq() == before + 4

    received = pull(demo, replica, bo)
    hub = raw(demo.path)
    changed = {
        (table, row[0])
        for table, spec in BY_NAME.items()
        for row in hub.execute(f"SELECT {spec.ident[0]} FROM {table} WHERE seq > ?", (before,))
    }
    keys = {(c["table"], c["row"][BY_NAME[c["table"]].ident[0]]) for c in received}
    # Everything that changed, except chiara's notifications: bo may not see them.
    assert keys == {k for k in changed if k[0] != "notification"}
    assert ("message", reply_id) in keys and ("message", comment.message_id) in keys
    assert ("conversation", conv.id) in keys and len(received) == len(keys)
    assert not any(c["table"] == "outbox" for c in received)
    # The conversation arrives once, in its latest state; rows come in change order.
    row = next(c["row"] for c in received if c["table"] == "conversation")
    assert (row["status"], row["seq"]) == ("closed", before + 4)
    seqs = [c["row"]["seq"] for c in received]
    assert seqs == sorted(seqs)
    assert same(dump(replica), visible(dump(hub), access_of(demo, bo)))


def test_paging_with_a_small_limit_equals_one_big_pull(demo: Workspace, tmp_path: Path) -> None:
    fatima = agent_id(demo, "fatima")
    cmd.comment(
        demo,
        q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows[0].id,
        "x",
        actor="ana",
    )
    small, big = open_replica(tmp_path / "small.db"), open_replica(tmp_path / "big.db")
    pages = 0
    received_small: list[dict] = []
    while True:
        page = changes_since(demo, replica_cursor(small), fatima, limit=7)
        assert len(page.changes) <= 7 and (len(page.changes) == 7 or not page.more)
        apply_changes(small, page)
        received_small += page.changes
        pages += 1
        if not page.more:
            break
    received_big = pull(demo, big, fatima)
    assert pages > 100  # the demo is one change number: the pages split it
    in_order = received_small == received_big  # (not in the assert: pytest's diff is slow)
    assert in_order
    assert same(dump(small), dump(big))


def test_writes_between_pages_are_neither_lost_nor_doubled(demo: Workspace, tmp_path: Path) -> None:
    """A pull paused inside the demo's one big change, while commands change rows already
    sent and rows not reached yet, still ends equal to the workspace."""
    ana = agent_id(demo, "ana")
    replica = open_replica(tmp_path / "ana.db")
    for _ in range(30):
        apply_changes(replica, changes_since(demo, replica_cursor(replica), ana, limit=40))
    rows = q.list_conversations(demo, q.view("all", access=EVERYTHING)).rows
    for i, conv in enumerate([rows[0], rows[-1]]):
        cmd.comment(demo, conv.id, f"between pages {i}", actor="ana")
    cmd.save_snippet(demo, "Late", "arrives later")
    cmd.set_availability(demo, "yuki", "away")
    pull(demo, replica, ana, limit=40)
    assert same(dump(replica), visible(dump(raw(demo.path)), access_of(demo, ana)))


def test_cursor_is_at_the_head_even_with_nothing_visible(demo: Workspace) -> None:
    page = changes_since(demo, demo.change_seq(), agent_id(demo, "bo"), 10)
    assert page == Changes([], str(demo.change_seq()), False, demo.change_seq())
    with pytest.raises(ValueError, match="cursor"):
        changes_since(demo, "[1, nonsense]", None, 10)


def test_hub_secrets_and_attachment_bytes_stay_on_the_hub(ws: Workspace, tmp_path: Path) -> None:
    cmd.create_agent(ws, "Ana", "ana")
    cmd.create_inbox(ws, "Support")
    mail = cmd.add_channel(ws, "Support", "email", "Mail", settings={"password_source": "keyring"})
    ws.set_setting("email.thread_key", "0123abcd")
    ws.set_setting("workspace_name", "Acme")
    cmd.ingest(
        ws,
        cmd.Incoming(
            channel_id=mail,
            identity_kind="email",
            identity_value="c@example.com",
            contact_name="C",
            body="see attached",
            created_at=T0,
            attachments=(cmd.IncomingAttachment("a.pdf", "application/pdf", 3, b"pdf"),),
        ),
    )
    received = changes_since(ws, 0, None, 1000).changes
    text = json.dumps(received)
    assert "0123abcd" not in text and "email.thread_key" not in text
    assert "workspace_name" in text
    attachment = next(c["row"] for c in received if c["table"] == "attachment")
    assert attachment["filename"] == "a.pdf" and "data" not in attachment
    assert not any(c["table"] in ("outbox", "sync_state", "sequence") for c in received)


def test_every_write_in_a_small_workspace_is_in_the_log(team: Any, tmp_path: Path) -> None:
    """The ORM commands (teams, access lists, settings...) and ingest stamp every row: a
    replay holds every row, and no row is left at change 0."""
    ws = team.ws
    team.start("Hello")
    cmd.add_team_member(ws, "Tier 1", "cy")
    con = raw(ws.path)
    for table in BY_NAME:
        assert con.execute(f"SELECT count(*) FROM {table} WHERE seq = 0").fetchone()[0] == 0, table
    replica = open_replica(tmp_path / "r.db")
    pull(ws, replica, None, limit=4)
    assert same(dump(replica), visible(dump(con), access_of(ws, None)))


def test_a_conversation_moved_into_a_visible_inbox_arrives_whole(
    demo: Workspace, tmp_path: Path
) -> None:
    bo, sales = agent_id(demo, "bo"), inbox_id(demo, "Sales")
    replica = open_replica(tmp_path / "bo.db")
    pull(demo, replica, bo)
    hub = raw(demo.path)
    moved = hub.execute(
        "SELECT c.id FROM conversation c WHERE c.inbox_id = ? AND NOT EXISTS (SELECT 1 FROM conversation o WHERE o.contact_id = c.contact_id "
        "AND o.inbox_id != ?) LIMIT 1",
        (sales, sales),
    ).fetchone()[0]
    assert (moved,) not in dump(replica)["conversation"]
    assert cmd.move_inbox(demo, moved, "Support", actor="ana")
    received = pull(demo, replica, bo)
    assert {"conversation", "message", "contact", "contact_identity"} <= {
        c["table"] for c in received
    }
    got = dump(replica)
    assert (
        sum(1 for m in got["message"].values() if m["conversation_id"] == moved)
        == (
            hub.execute(
                "SELECT count(*) FROM message WHERE conversation_id = ?", (moved,)
            ).fetchone()[0]
        )
    )
    assert same(got, visible(dump(hub), access_of(demo, bo)))


def test_a_snapshot_equals_a_replay_and_pulls_on_from_its_cursor(
    demo: Workspace, tmp_path: Path
) -> None:
    bo = agent_id(demo, "bo")
    cmd.save_snippet(demo, "Gone soon", "x")
    cmd.delete_snippet(demo, "Gone soon")
    replayed = open_replica(tmp_path / "replayed.db")
    pull(demo, replayed, bo)
    cursor = changes.snapshot(demo.path, tmp_path / "snap.db", bo)
    assert cursor == str(demo.change_seq())
    snap = open_replica(tmp_path / "snap.db")
    assert replica_cursor(snap) == cursor
    assert same(dump(snap), dump(replayed))
    with (
        open_workspace(tmp_path / "snap.db") as mine,
        open_workspace(tmp_path / "replayed.db") as other,
    ):
        for word in ("refund", "order"):
            ids = sorted(h.row.id for h in q.search(mine, word, access=EVERYTHING))
            assert ids and ids == sorted(h.row.id for h in q.search(other, word, access=EVERYTHING))
    conv = next(
        r
        for r in q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows
        if r.inbox_id == inbox_id(demo, "Support")
    )
    cmd.comment(demo, conv.id, "after the snapshot", actor="bo")
    assert pull(demo, snap, bo)
    assert same(dump(snap), visible(dump(raw(demo.path)), access_of(demo, bo)))


def test_changes_since_reads_from_any_connection_the_workspace_hands_out(
    team: Any,
) -> None:
    ws = team.ws
    team.start("Hello")
    expected = changes_since(ws, 0, team.bo, 1000).to_json()
    with ws.read() as conn:
        assert changes_since(conn, 0, team.bo, 1000).to_json() == expected
    with ws.write() as tx:  # e.g. a hub answering inside the transaction of a push
        assert changes_since(tx.session.connection(), 0, team.bo, 1000).to_json() == expected
    con = raw(ws.path)
    assert changes_since(con, 0, team.bo, 1000).to_json() == expected


def test_rows_written_before_the_change_log_take_one_change_number(tmp_path: Path) -> None:
    """Migration 0011: team members, access lists and settings had no change number; they
    take one new number, so a replay from zero carries them."""
    from unibox_tui.core.db import make_engine
    from unibox_tui.core.migrations import upgrade

    path = tmp_path / "old.db"
    engine = make_engine(path)
    upgrade(engine, "0010")  # the revision before the change log
    engine.dispose()
    con = sqlite3.connect(path)
    con.executescript(
        """INSERT INTO agent (id, name, handle, availability, role, active, seq)
             VALUES ('a1', 'Ana', 'ana', 'available', 'admin', 1, 3);
           INSERT INTO team (id, name, seq) VALUES ('t1', 'Tier 1', 3);
           INSERT INTO team_member (team_id, agent_id) VALUES ('t1', 'a1');
           INSERT INTO setting (key, value) VALUES ('workspace_name', '"Acme"');
           UPDATE sequence SET value = 3 WHERE name = 'seq';"""
    )
    con.commit()
    con.close()
    with open_workspace(path) as ws:
        assert ws.change_seq() == 4
        tables = {c["table"]: c["row"]["seq"] for c in changes_since(ws, 0, None, 100).changes}
        # The default pipeline (migration 0010) took change 1 when it was made.
        assert tables == {
            "agent": 3,
            "team": 3,
            "team_member": 4,
            "setting": 4,
            "pipeline": 1,
            "pipeline_stage": 1,
        }
        since_3 = {c["table"] for c in changes_since(ws, 3, None, 100).changes}
        assert since_3 == {"team_member", "setting"}


def test_drafts_travel_only_to_their_agent(team: Any) -> None:
    """A draft is private: it reaches its own agent's replica (and its removal does), never
    another agent's."""
    conv = team.start("Where is my order?")
    start = team.ws.change_seq()
    cmd.save_draft(team.ws, conv, "Hi Carla, checking now", actor="ana")

    def drafts_for(agent: str, since: int) -> list[dict[str, Any]]:
        return [
            c for c in changes_since(team.ws, since, agent, 1000).changes if c["table"] == "draft"
        ]

    [mine] = drafts_for(team.ana, start)
    assert mine["row"]["text"] == "Hi Carla, checking now"
    assert drafts_for(team.bo, start) == []
    cleared = team.ws.change_seq()
    cmd.clear_draft(team.ws, conv, actor="ana")
    assert [c.get("deleted") for c in drafts_for(team.ana, cleared)] == [{"id": mine["row"]["id"]}]
    assert drafts_for(team.bo, cleared) == []


def some_deletes(ws: Workspace) -> None:
    """Tombstones of several tables, one with a composite key, and of a message."""
    cmd.save_snippet(ws, "Gone", "x")
    cmd.save_snippet(ws, "Kept", "y")
    cmd.delete_snippet(ws, "Gone")
    channel = cmd.add_channel(ws, "Support", "chat", "Spare chat")
    cmd.remove_channel(ws, channel)
    team, member = (
        raw(ws.path)
        .execute(
            "SELECT t.name, a.handle FROM team_member m JOIN team t ON t.id = m.team_id "
            "JOIN agent a ON a.id = m.agent_id LIMIT 1"
        )
        .fetchone()
    )
    assert cmd.set_team_members(ws, team, remove=[member])
    conv = next(
        r
        for r in q.list_conversations(ws, q.view("open", access=EVERYTHING)).rows
        if r.inbox_id == inbox_id(ws, "Support")
    )
    held = cmd.reply(ws, conv.id, "Taken back", actor="ana")
    cmd.unsend(ws, held, actor="ana")
    cmd.reply(ws, conv.id, "Sent for good", actor="ana")


def test_a_columnar_page_holds_the_same_changes_in_the_same_order(demo: Workspace) -> None:
    before = demo.change_seq()
    some_deletes(demo)
    for agent, since, limit in ((None, 0, 50), (agent_id(demo, "bo"), 0, 50), (None, before, 3)):
        cursor: str = str(since)
        deleted: set[str] = set()
        while True:
            page = changes_since(demo, cursor, agent, limit)
            columnar = changes_since(demo, cursor, agent, limit, columnar=True)
            assert columnar.as_changes() == page
            assert len(columnar) == len(page.changes)
            # What travels: JSON, in which a row is a list.
            sent = json.loads(json.dumps(columnar.to_json()))
            assert sent["cursor"] == page.cursor and sent["more"] == page.more
            for run in sent["runs"]:
                assert set(run) in ({"table", "rows"}, {"table", "deleted"})
                for row in run.get("rows", ()):
                    assert len(row) == len(sent["columns"][run["table"]])
            deleted |= {run["table"] for run in sent["runs"] if "deleted" in run}
            cursor = page.cursor
            if not page.more:
                break
        if agent is None:
            assert {"snippet", "channel", "team_member", "message"} <= deleted


def test_a_pull_may_mix_both_forms(demo: Workspace, tmp_path: Path) -> None:
    fatima = agent_id(demo, "fatima")
    some_deletes(demo)
    replica = open_replica(tmp_path / "mixed.db")
    for i in itertools.count():
        page = changes_since(demo, replica_cursor(replica), fatima, 200, columnar=bool(i % 2))
        apply_changes(replica, json.loads(json.dumps(page.to_json())) if i % 3 else page)
        if not page.more:
            break
    assert same(dump(replica), visible(dump(raw(demo.path)), access_of(demo, fatima)))
    check_search_index(tmp_path / "mixed.db")


def test_long_runs_of_rows_the_replica_already_holds_update_them(
    demo: Workspace, tmp_path: Path
) -> None:
    """A long run is first inserted plainly; rows already there (a pull started again from
    zero here; in a first sync, rows a command moved past the cursor) are updated instead,
    and the search index follows them."""
    ana = agent_id(demo, "ana")
    replica = open_replica(tmp_path / "ana.db")
    pull(demo, replica, ana, limit=500, columnar=True)
    rows = q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows[:10]
    for conv in rows:
        cmd.close(demo, conv.id, actor="ana")
    cmd.comment(demo, rows[0].id, "one more", actor="ana")
    cmd.update_contact(demo, rows[1].contact_id, name="Zorbaquist", actor="ana")
    some_deletes(demo)
    replica.execute("UPDATE replica_state SET value = '0' WHERE key = 'cursor'")
    pull(demo, replica, ana, limit=500, columnar=True)
    assert same(dump(replica), visible(dump(raw(demo.path)), access_of(demo, ana)))
    check_search_index(tmp_path / "ana.db")
    with open_workspace(tmp_path / "ana.db") as mine:
        hits = {h.row.id for h in q.search(mine, "Zorbaquist", access=EVERYTHING)}
        theirs = raw(demo.path).execute(
            "SELECT id FROM conversation WHERE contact_id = ?", (rows[1].contact_id,)
        )
        assert rows[1].id in hits and hits == {r[0] for r in theirs}


def test_a_page_naming_an_unknown_table_or_column_is_refused_whole(
    demo: Workspace, tmp_path: Path
) -> None:
    replica = open_replica(tmp_path / "r.db")
    page = changes_since(demo, 0, None, 50, columnar=True).to_json()
    good = json.loads(json.dumps(page))
    bad_table = {**good, "runs": [*good["runs"], {"table": "outbox", "rows": [[1]]}]}
    bad_column = json.loads(json.dumps(good))
    table = bad_column["runs"][-1]["table"]
    bad_column["columns"][table][-1] = "x) VALUES (1); DROP TABLE message; --"
    for bad, says in ((bad_table, "not a table"), (bad_column, "not columns")):
        with pytest.raises(ValueError, match=says):
            apply_changes(replica, bad)
        assert replica_cursor(replica) == "0"
        assert all(not rows for rows in dump(replica).values())
    apply_changes(replica, good)
    assert replica_cursor(replica) == good["cursor"]


def protect(replica: sqlite3.Connection, table: str, row_id: str, **values: Any) -> int:
    """An optimistic write in a client cache: `values` on one row at the cache's next change
    number, with a pending mutation holding that number; returns it."""
    seq = replica.execute(
        "UPDATE sequence SET value = value + 1 WHERE name = 'seq' RETURNING value"
    ).fetchone()[0]
    sets = ", ".join(f"{k} = ?" for k in values)
    replica.execute(
        f"UPDATE {table} SET {sets}, seq = ? WHERE id = ?", (*values.values(), seq, row_id)
    )
    replica.execute(
        "INSERT INTO pending_mutation (mutation_id, name, args, local_seq, created_at) "
        "VALUES (1, 'snooze', '{}', ?, '2026-01-01 00:00:00')",
        (seq,),
    )
    return seq


def test_a_local_pull_in_either_form_stamps_rows_and_spares_unconfirmed_ones(
    demo: Workspace, tmp_path: Path
) -> None:
    """`local=True` (a hub client's cache): pulled rows take the cache's own change number;
    a row an unconfirmed command wrote keeps its optimistic state, in a long run too (the
    cache pulls everything again here). The same in both forms."""
    ana, chiara = agent_id(demo, "ana"), agent_id(demo, "chiara")

    def pull_local(replica: sqlite3.Connection, columnar: bool) -> list[int]:
        stamps = []
        while True:
            page = changes_since(demo, replica_cursor(replica), ana, 400, columnar=columnar)
            apply_changes(replica, json.loads(json.dumps(page.to_json())), local=True)
            stamps.append(replica.execute("SELECT value FROM sequence WHERE name = 'seq'"))
            if not page.more:
                return [s.fetchone()[0] for s in stamps]

    replicas = [open_replica(tmp_path / f"local-{columnar}.db") for columnar in (False, True)]
    for replica, columnar in zip(replicas, (False, True), strict=True):
        pull_local(replica, columnar)
    support = [
        r
        for r in q.list_conversations(demo, q.view("all", access=EVERYTHING)).rows
        if r.inbox_id == inbox_id(demo, "Support") and r.assignee_id != chiara
    ][:6]
    for conv in support:
        cmd.assign(demo, conv.id, "chiara", actor="ana")
    mine = support[2]
    for replica, columnar in zip(replicas, (False, True), strict=True):
        local_seq = protect(replica, "conversation", mine.id, status="snoozed")
        replica.execute("UPDATE replica_state SET value = '0' WHERE key = 'cursor'")
        stamps = pull_local(replica, columnar)
        assert stamps[0] == local_seq + 1 and len(stamps) > 2
        got = {
            r[0]: r[1:]
            for r in replica.execute("SELECT id, assignee_id, status, seq FROM conversation")
        }
        assert got[mine.id] == (mine.assignee_id, "snoozed", local_seq)
        assert all(got[c.id][0] == chiara for c in support if c is not mine)
        assert all(seq in stamps for id_, (_, _, seq) in got.items() if id_ != mine.id)
        # Everything else as the hub has it (the spared row keeps its whole cached state).
        hub, cached = visible(dump(raw(demo.path)), access_of(demo, ana)), dump(replica)
        del hub["conversation"][(mine.id,)], cached["conversation"][(mine.id,)]
        assert same(without_seq(cached), without_seq(hub))
    assert same(dump(replicas[0]), dump(replicas[1]))


def without_seq(tables: Dump) -> Dump:
    return {
        t: {k: {c: v for c, v in row.items() if c != "seq"} for k, row in rows.items()}
        for t, rows in tables.items()
    }


@pytest.mark.parametrize("columnar", [False, True], ids=["dicts", "columnar"])
def test_pull_fetching_pages_from_elsewhere_ends_equal_to_the_workspace(
    demo: Workspace, tmp_path: Path, columnar: bool
) -> None:
    """`changes.pull(fetch=...)`, as a hub client runs it: pages arrive as JSON, in either
    form, while the previous one is applied."""
    bo = agent_id(demo, "bo")
    some_deletes(demo)
    asked: list[str] = []

    def fetch(cursor: str) -> dict[str, Any]:
        asked.append(cursor)
        page = changes_since(demo, cursor, bo, 250, columnar=columnar)
        return json.loads(json.dumps(page.to_json()))

    replica = open_replica(tmp_path / "bo.db")
    applied = changes.pull(None, replica, bo, fetch=fetch)
    assert applied == len(pull(demo, open_replica(tmp_path / "again.db"), bo))
    assert len(asked) > 3 and asked[0] == "0"
    assert same(dump(replica), visible(dump(raw(demo.path)), access_of(demo, bo)))


def test_table_heads_skip_only_tables_with_nothing_after_the_cursor(demo: Workspace) -> None:
    """A pull told each table's newest change (what a hub reads once per poke) returns the
    same page as one that asks every table, from any cursor, including cursors inside one
    change (small pages); heads read at an older head are not trusted."""
    bo = agent_id(demo, "bo")
    rows = q.list_conversations(demo, q.view("all", access=EVERYTHING)).rows
    base = demo.change_seq()
    now = T0 + timedelta(hours=1)
    cmd.comment(demo, rows[0].id, "first", actor="ana", now=now)
    cmd.save_snippet(demo, "Late", "arrives later")
    cmd.assign(demo, rows[1].id, "bo", actor="ana", now=now)
    cmd.close(demo, rows[2].id, actor="ana", now=now)
    cmd.set_availability(demo, "yuki", "away")
    heads = changes.table_heads(demo)
    assert heads.head == demo.change_seq()
    assert heads.tables["snippet"] > base and heads.tables["pipeline"] <= base
    cursors: list[str | int] = list(range(base - 1, heads.head + 1))
    cursor: str | int = base - 1
    while True:  # cursors inside changes: pages of 2
        page = changes_since(demo, cursor, bo, limit=2)
        cursors.append(page.cursor)
        if not page.more:
            break
        cursor = page.cursor
    for c in cursors:
        for limit in (2, 1000):
            plain = changes_since(demo, c, bo, limit, columnar=True).to_json()
            hinted = changes_since(demo, c, bo, limit, columnar=True, heads=heads).to_json()
            assert hinted == plain, c
    # The log moved on after the heads were read: they are ignored, nothing is missed.
    cmd.save_snippet(demo, "Later still", "after the heads")
    page = changes_since(demo, heads.head, bo, heads=heads)
    assert [c["row"]["name"] for c in page.changes if c["table"] == "snippet"] == ["Later still"]


def every_table(path: Path) -> dict[str, list[tuple]]:
    """Every table of a replica file, sorted rows (the search index's own tables aside: it is
    checked by `check_search_index`; replica_state holds the fill's own bookkeeping)."""
    con = raw(path)
    names = [
        r[0]
        for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_") and "_fts" not in r[0] and r[0] != "replica_state"
    ]
    out = {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}
    con.close()
    return out


@pytest.mark.parametrize("who", [None, "bo"])
def test_a_first_fill_builds_the_derived_tables_the_triggers_would(
    demo: Workspace, tmp_path: Path, who: str | None
) -> None:
    """A first pull of many pages runs without triggers and builds view counters, report
    figures and the search index at its end (core/derived.py): the cache ends equal, table
    by table, to one whose triggers saw every row (one page: no fill), and has its triggers
    back. Fails for a derived table the rebuild forgets."""
    agent = agent_id(demo, who) if who else None
    filled = open_replica(tmp_path / "filled.db")
    triggers = filled.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    triggers = sorted(triggers.fetchall())
    indexes = schema_indexes(filled)
    assert set(derived.FILL_INDEXES) <= {name for name, _ in indexes}
    seen_fill = False
    while True:
        page = changes_since(demo, replica_cursor(filled), agent, 150, columnar=True)
        apply_changes(filled, page)
        if page.more:
            seen_fill = seen_fill or bool(
                filled.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                ).fetchone()[0]
                == 0
                and not set(derived.FILL_INDEXES) & {name for name, _ in schema_indexes(filled)}
            )
        else:
            break
    assert seen_fill  # the triggers and the fill's indexes were off while the pages came
    whole = open_replica(tmp_path / "whole.db")
    apply_changes(whole, changes_since(demo, 0, agent, 1_000_000, columnar=True))
    got, expected = every_table(tmp_path / "filled.db"), every_table(tmp_path / "whole.db")
    for table in ("conversation_count", "report_count", "report_conversation", "report_cycle"):
        assert expected[table], table
    for table in expected:
        assert got[table] == expected[table], table
    assert sorted(filled.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")) == (
        triggers
    )
    assert schema_indexes(filled) == indexes  # every index back, as it was
    assert filled.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check_search_index(tmp_path / "filled.db")


def schema_indexes(con: sqlite3.Connection) -> list[tuple[str, str]]:
    return sorted(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))


def test_a_fill_cut_short_gets_its_triggers_back_when_the_cache_is_opened(
    demo: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "cut.db"
    replica = open_replica(path)
    triggers = replica.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
    count = triggers.fetchone()[0]
    indexes = schema_indexes(replica)
    apply_changes(replica, changes_since(demo, 0, None, 500, columnar=True))
    assert (
        replica.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0]
        == 0
    )
    assert len(schema_indexes(replica)) < len(indexes)
    replica.close()  # the app quit in the middle of its first sync
    again = open_replica(path)
    assert (
        again.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0]
        == count
    )
    assert schema_indexes(again) == indexes
    held = again.execute("SELECT count(*) FROM conversation").fetchone()[0]
    counted = again.execute("SELECT sum(n) FROM conversation_count").fetchone()[0]
    assert held and counted == held
    check_search_index(path)
    pull(demo, again, None)  # the pull goes on from its cursor, triggers on
    assert same(dump(again), dump(raw(demo.path)))
    check_search_index(path)


def test_a_fill_cut_short_after_its_last_page_is_finished_by_the_next_open(
    demo: Workspace, tmp_path: Path
) -> None:
    """A fill's end (derived tables, search index, triggers: the report figures computed on
    other connections) runs in a transaction of its own once the last page is committed.
    Cut short there (here: another writer holds the file when it begins), the cache keeps
    every row and its final cursor, is still marked filling, and the next open finishes it:
    equal, table by table, to a cache written in one page."""
    path = tmp_path / "cut-end.db"
    replica = open_replica(path)
    triggers = sorted(replica.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    other = sqlite3.connect(path, isolation_level=None)
    begins = 0

    def on_statement(sql: str) -> None:
        nonlocal begins
        begins += sql == "BEGIN IMMEDIATE"
        if begins == 2:  # the last page's transaction, then its end's: the file is taken
            other.execute("BEGIN IMMEDIATE")

    while True:
        page = changes_since(demo, replica_cursor(replica), None, 150, columnar=True)
        if page.more:
            apply_changes(replica, page)
            continue
        replica.execute("PRAGMA busy_timeout=0")
        replica.set_trace_callback(on_statement)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            apply_changes(replica, page)
        break
    replica.set_trace_callback(None)
    other.execute("ROLLBACK")
    other.close()
    assert replica_cursor(replica) == page.cursor and derived.filling(replica)
    replica.close()
    open_replica(path).close()
    whole = open_replica(tmp_path / "whole.db")
    apply_changes(whole, changes_since(demo, 0, None, 1_000_000, columnar=True))
    got, expected = every_table(path), every_table(tmp_path / "whole.db")
    for table in expected:
        assert got[table] == expected[table], table
    again = open_replica(path)
    assert not derived.filling(again)
    assert sorted(again.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")) == (
        triggers
    )
    check_search_index(path)


def test_shared_pages_equal_each_agents_own_page_and_are_read_once_per_access(
    team: Any,
) -> None:
    """A hub's poke (changes.shared_pages): every agent gets exactly the page
    `changes_since` gives them (nothing of an inbox they cannot see, nobody else's
    notification or draft), and agents of one access with nothing of their own share one
    page object, read once."""
    dee = cmd.create_agent(team.ws, "Dee Fox", "dee")  # Support only, like bo
    fay = cmd.create_agent(team.ws, "Fay Moss", "fay")
    gus = cmd.create_agent(team.ws, "Gus Roe", "gus")
    cmd.deactivate_agent(team.ws, "gus")
    agents = [team.ana, team.bo, team.cy, dee, fay, gus]
    start = team.ws.change_seq()
    conv = team.start("Where is my order? PLUGH")
    team.start("Acquisition terms XYZZY", channel=team.sales_email)
    mid = team.ws.change_seq()
    cmd.comment(team.ws, conv, "@bo can you check?", actor="ana")  # bo's notification
    cmd.save_draft(team.ws, conv, "Hi Carla, checking now", actor="dee")  # dee's draft
    cmd.clear_draft(team.ws, conv, actor="dee")  # and its tombstone

    for cursor in (str(start), str(mid), f'[{mid + 1},"message",0]', str(team.ws.change_seq())):
        heads = changes.table_heads(team.ws)
        pages = changes.shared_pages(team.ws, cursor, agents, 500, heads=heads)
        for agent in agents:
            own = changes_since(team.ws, cursor, agent, 500, columnar=True, heads=heads)
            assert pages[agent].to_json() == own.to_json(), (cursor, agent)
    pages = changes.shared_pages(team.ws, str(start), agents, 500)
    assert pages[fay] is not pages[dee] and pages[fay] is not pages[team.bo]  # dee, bo: own rows
    assert "XYZZY" not in json.dumps(pages[fay].to_json())
    assert "PLUGH" in json.dumps(pages[fay].to_json())
    pages = changes.shared_pages(team.ws, str(mid), agents, 500)
    notes = [r for r in pages[team.bo].to_json()["runs"] if r["table"] == "notification"]
    assert notes and not any(r["table"] == "notification" for r in pages[fay].to_json()["runs"])
    # The draft's removal only: bo has nothing of his own in it now, dee has.
    last = changes.shared_pages(team.ws, str(team.ws.change_seq() - 1), agents, 500)
    assert last[fay] is last[team.bo] and last[fay] is not last[dee]
    assert last[fay] is not last[team.ana] and last[fay] is not last[gus]
    assert [r["table"] for r in last[dee].to_json()["runs"]] == ["draft"]


def test_a_cache_reindexes_a_row_for_search_only_when_its_text_changes(
    team: Any, tmp_path: Path
) -> None:
    """A pull writes every row it brings with one upsert of all its columns; the search
    index and the report rows follow the subject, the contact and the body when they
    change (migration 0025's update triggers), and stay as they are when not."""
    conv = team.start("Where is my order?", subject="Parcel PLUGH")
    replica = open_replica(tmp_path / "ana.db")
    pull(team.ws, replica, team.ana)
    page = changes_since(team.ws, 0, team.ana, 5000).to_json()
    row = next(c["row"] for c in page["changes"] if c["table"] == "conversation")
    message = next(c["row"] for c in page["changes"] if c["table"] == "message")
    other = cmd.ingest(team.ws, team.incoming("Hi", who="dan@example.com", name="Dan Roe"))

    def upsert(table: str, values: dict[str, Any]) -> None:
        cursor = replica_cursor(replica)
        apply_changes(replica, Changes([{"table": table, "row": values}], cursor))

    def found(text: str) -> list[str]:
        with open_workspace(tmp_path / "ana.db") as cache:
            return [h.row.id for h in q.search(cache, text, access=EVERYTHING)]

    def index() -> list[Any]:  # the search indexes' stored segments
        return [
            replica.execute(f"SELECT id, block FROM {t}_fts_data ORDER BY id").fetchall()
            for t in ("conversation", "message")
        ]

    pull(team.ws, replica, team.ana)
    before = index()
    upsert("conversation", row)  # unchanged: nothing re-indexed
    upsert("message", message)
    assert index() == before
    check_search_index(tmp_path / "ana.db")
    assert found("PLUGH") == [conv]
    upsert("conversation", {**row, "subject": "Parcel XYZZY"})
    upsert("message", {**message, "body": "Where is my parcel FROBOZZ?"})
    check_search_index(tmp_path / "ana.db")
    assert found("PLUGH") == [] and found("XYZZY") == [conv] and found("FROBOZZ") == [conv]
    dan = replica.execute(
        "SELECT contact_id FROM conversation WHERE id = ?", (other.conversation_id,)
    ).fetchone()[0]
    upsert("conversation", {**row, "subject": "Parcel XYZZY", "contact_id": dan})
    check_search_index(tmp_path / "ana.db")
    assert conv in found("Dan Roe")
    moved = {**row, "subject": "Parcel XYZZY", "contact_id": dan, "inbox_id": team.sales}
    upsert("conversation", moved)
    assert replica.execute(
        "SELECT r.inbox_id FROM report_conversation r JOIN conversation c ON c.rid = r.rid "
        "WHERE c.id = ?",
        (conv,),
    ).fetchone() == (team.sales,)


def test_a_chain_of_pages_in_one_transaction_equals_them_one_by_one(
    demo: Workspace, tmp_path: Path
) -> None:
    """What a cache that fell behind a burst of pokes does (changes.apply_chain): the pages,
    each starting where the one before ends, written at once, end where applying them one
    by one ends; a client takes them in their chain whatever order they came in."""
    from unibox_tui.sync.client import HubClient

    bo = agent_id(demo, "bo")
    one, many = (open_replica(tmp_path / f"{n}.db") for n in ("one", "many"))
    pull(demo, one, bo)
    pull(demo, many, bo)
    pages: list[dict[str, Any]] = []
    cursor = replica_cursor(one)
    conv = next(
        r
        for r in q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows
        if r.inbox_id == inbox_id(demo, "Support")
    )
    for step in range(4):
        some_deletes(demo) if step == 1 else cmd.comment(demo, conv.id, f"n{step}", actor="bo")
        cmd.assign(demo, conv.id, "bo" if step % 2 else "ana", actor="bo")
        page = changes_since(demo, cursor, bo, 500, columnar=True).to_json()
        pages.append({"from": cursor, "page": page})
        cursor = page["cursor"]
    for item in pages:
        apply_changes(one, item["page"], local=True)
    client = HubClient("http://127.0.0.1:9", "t", directory=tmp_path / "client")
    client.replica = many
    client._poked = [pages[2], pages[0], pages[3], pages[1]]  # handler threads raced
    client._poked_head = demo.change_seq()
    assert client._apply_poked()  # no pull needed
    assert replica_cursor(many) == replica_cursor(one) == cursor

    def unstamped(d: Dump) -> Dump:  # a cache stamps what it pulls with its own numbers
        return {t: {k: {**r, "seq": 0} for k, r in rows.items()} for t, rows in d.items()}

    expected = unstamped(visible(dump(raw(demo.path)), access_of(demo, bo)))
    assert same(unstamped(dump(one)), expected) and same(unstamped(dump(many)), expected)
    check_search_index(tmp_path / "many.db")


def test_a_pokes_page_into_a_cache_writes_what_changed_and_stamps_every_row(
    demo: Workspace, tmp_path: Path
) -> None:
    """A few rows the cache holds (a comment's conversation, a reassigned one) are written
    column by column as they changed, each stamped with the cache's new change number, page
    after page (the statements are the same text each time: the stamp is not in it)."""
    bo = agent_id(demo, "bo")
    replica = open_replica(tmp_path / "bo.db")
    pull(demo, replica, bo)
    convs = [
        r
        for r in q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows
        if r.inbox_id == inbox_id(demo, "Support")
    ][:2]
    for step in range(3):
        cursor = replica_cursor(replica)
        cmd.comment(demo, convs[0].id, f"note {step}", actor="bo")
        cmd.assign(demo, convs[1].id, "chiara" if step % 2 else "bo", actor="bo")
        page = json.loads(json.dumps(changes_since(demo, cursor, bo, 500, columnar=True).to_json()))
        assert page["runs"] and not page["more"]
        apply_changes(replica, page, local=True)
        stamp = replica.execute("SELECT value FROM sequence WHERE name = 'seq'").fetchone()[0]
        for table, run in ((r["table"], r) for r in page["runs"] if "rows" in r):
            at = page["columns"][table].index("id")
            for row in run["rows"]:
                assert replica.execute(
                    f"SELECT seq FROM {table} WHERE id = ?", (row[at],)
                ).fetchone() == (stamp,)
    hub = visible(dump(raw(demo.path)), access_of(demo, bo))
    assert same(without_seq(dump(replica)), without_seq(hub))
    check_search_index(tmp_path / "bo.db")


def poke(ws: Workspace, start: str, agent: str) -> dict[str, Any]:
    """What a poke brings an agent (hub/server._send_pokes): the page since `start`, as it
    travels."""
    page = changes_since(ws, start, agent, 10_000, columnar=True)
    assert not page.more
    return {"from": start, "page": json.loads(json.dumps(page.to_json()))}


def test_a_poke_that_starts_before_the_caches_cursor_takes_it_on_equal_to_the_hub(
    demo: Workspace, tmp_path: Path
) -> None:
    """An agent's cache pulled (a round of its own command's) to a change between two pokes'
    ends: the next poke's page starts before its cursor. It is applied all the same (its
    older rows are ones the cache holds), and the cache ends equal to what the hub lets the
    agent see: also rows the cache held, changed again, and rows deleted in between."""
    bo = agent_id(demo, "bo")
    replica = open_replica(tmp_path / "bo.db")
    pull(demo, replica, bo)
    start = replica_cursor(replica)  # where the last poke ended
    conv = q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows[0].id
    cmd.comment(demo, conv, "first", actor="bo")
    some_deletes(demo)
    pull(demo, replica, bo)  # the cache's own round: past the poke's start
    middle = replica_cursor(replica)
    cmd.comment(demo, conv, "second", actor="ana")
    cmd.close(demo, conv, actor="ana")
    brought = poke(demo, start, bo)
    assert int(start) < int(middle) < int(brought["page"]["cursor"])

    chain = changes.poked_chain(middle, [brought])
    assert chain == [brought["page"]]
    changes.apply_chain(replica, chain)
    assert replica_cursor(replica) == brought["page"]["cursor"]
    assert same(dump(replica), visible(dump(raw(demo.path)), access_of(demo, bo)))


def test_a_poked_chain_continues_in_order_and_leaves_what_does_not_follow(
    demo: Workspace,
) -> None:
    bo = agent_id(demo, "bo")
    conv = q.list_conversations(demo, q.view("open", access=EVERYTHING)).rows[0].id
    cursors = [str(demo.change_seq())]
    pokes = []
    for n in range(3):  # a poke after each comment, as the hub sends them
        cmd.comment(demo, conv, f"note {n}", actor="ana")
        pokes.append(poke(demo, cursors[-1], bo))
        cursors.append(pokes[-1]["page"]["cursor"])
    pages = [p["page"] for p in pokes]
    # Swapped in arrival: still chained in order.
    assert changes.poked_chain(cursors[0], [pokes[2], pokes[0], pokes[1]]) == pages
    # Pages that end at or before the cursor bring nothing; a gap stops the chain.
    assert changes.poked_chain(cursors[2], pokes[:2]) == []
    assert changes.poked_chain(cursors[0], [pokes[0], pokes[2]]) == pages[:1]
    # A cursor inside a change number (a cut pull page) is only continued exactly.
    inside = json.dumps([int(cursors[1]) + 1, "message", "x"])
    assert changes.poked_chain(inside, pokes) == []
