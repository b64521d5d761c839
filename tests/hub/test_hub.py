"""The team hub against a real `unibox hub` process: sign-in, commands as mutations, the
cache kept current, access enforced by the hub, and the faults issue 10 names."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import socketio
from waiting import wait_for

from unibox_tui.core import changes, clock
from unibox_tui.core.commands import registry
from unibox_tui.core.db import open_workspace
from unibox_tui.core.errors import InvalidRequest, NoAccess
from unibox_tui.hub.protocol import PROTOCOL
from unibox_tui.sync.client import HubClient

from .conftest import Served

UNIBOX = [sys.executable, "-m", "unibox_tui"]


def hub_db(served: Served) -> sqlite3.Connection:
    return sqlite3.connect(served.hub.db)


def head(served: Served) -> int:
    with hub_db(served) as con:
        return int(con.execute("SELECT value FROM sequence WHERE name = 'seq'").fetchone()[0])


def cli(served: Served, handle: str | None, *args: str, token: str | None = None) -> Any:
    env = {**os.environ, "UNIBOX_HUB": served.hub.url}
    env.pop("UNIBOX_TOKEN", None)
    if handle is not None or token is not None:
        env["UNIBOX_TOKEN"] = token if token is not None else served.tokens[handle]  # type: ignore[index]
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def raw(served: Served, handle: str, client_id: str = "raw-client-1") -> socketio.SimpleClient:
    """A bare socket.io client: what a forged or broken app could send."""
    sio = socketio.SimpleClient()
    sio.connect(
        served.hub.url,
        auth={"token": served.tokens[handle], "protocol": PROTOCOL, "client_id": client_id},
        transports=["websocket"],
    )
    return sio


def start_conversation(
    served: Served, inbox: str = "Support", subject: str = "Order late", attachments: tuple = ()
) -> str:
    """A customer's message arriving at the hub (the engine's ingest, through the hub's file:
    the hub's watcher pokes it out)."""
    from unibox_tui.core import commands as cmd

    ws = open_workspace(served.hub.db)
    try:
        with ws.read() as conn:
            channel = conn.exec_driver_sql(
                "SELECT ch.id FROM channel ch JOIN inbox i ON i.id = ch.inbox_id "
                "WHERE i.name = ? AND ch.kind = 'email' LIMIT 1",
                (inbox,),
            ).scalar_one()
        return cmd.ingest(
            ws,
            cmd.Incoming(
                channel_id=channel,
                identity_kind="email",
                identity_value="carla@example.com",
                contact_name="Carla Souza",
                body="Hello, where is my order?",
                subject=subject,
                created_at=clock.utcnow(),
                attachments=attachments,
            ),
        ).conversation_id  # type: ignore[return-value]
    finally:
        ws.close()


def cached(client: HubClient, sql: str, params: tuple = ()) -> list[Any]:
    assert client.ws is not None
    with client.ws.read() as conn:
        return list(conn.exec_driver_sql(sql, params).all())


# ------------------------------------------------------------------ the CLI against a hub


def test_cli_commands_go_through_the_hub_and_mentions_notify(served: Served) -> None:
    conv = start_conversation(served)
    r = cli(served, "bo", "conversations", "comment", conv, "--text", "@ana can you look?")
    assert r.returncode == 0, r.stderr
    r = cli(served, "bo", "conversations", "assign", conv, "--to", "ana")
    assert r.returncode == 0, r.stderr
    with hub_db(served) as con:
        bodies = [b for (b,) in con.execute("SELECT body FROM message WHERE kind = 'comment'")]
        assignee = con.execute(
            "SELECT a.handle FROM conversation c JOIN agent a ON a.id = c.assignee_id WHERE c.id = ?",
            (conv,),
        ).fetchone()[0]
    assert bodies == ["@ana can you look?"] and assignee == "ana"
    r = cli(served, "ana", "notifications", "--json")
    assert r.returncode == 0, r.stderr
    kinds = {(n["kind"], n["conversation_id"]) for n in json.loads(r.stdout)["notifications"]}
    assert ("mention", conv) in kinds and ("assigned", conv) in kinds


def test_cli_acts_as_the_tokens_agent_only(served: Served) -> None:
    conv = start_conversation(served)
    r = cli(served, "bo", "conversations", "close", conv, "--as", "ana")
    assert r.returncode == 1
    assert "act as the agent your token signs in (@bo)" in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ sign-in


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (None, "not signed in to"),
        ("ubx_not-a-real-token", "unknown sign-in token"),
        ("hunter2", "not a unibox sign-in token"),
    ],
)
def test_missing_or_wrong_token_is_refused_in_one_line(
    served: Served, token: str | None, says: str
) -> None:
    r = cli(served, None, "conversations", "list", token=token)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr


def test_revoked_token_is_refused_and_a_live_session_ends(served: Served) -> None:
    bo = served.client("bo")
    try:
        assert bo.state == "connected"
        r = subprocess.run(
            [
                *UNIBOX,
                "agent",
                "token",
                "bo",
                "--revoke",
                "--db",
                str(served.hub.db),
                "--as",
                "ana",
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        wait_for(lambda: bo.state == "signed-out", what="the hub ended bo's session")
        assert "revoked" in bo.detail
    finally:
        bo.close()
    r = cli(served, "bo", "conversations", "list")
    assert r.returncode == 1 and "revoked" in r.stderr


def test_an_incompatible_protocol_is_refused_with_what_to_do(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unibox_tui.sync import client as client_module

    monkeypatch.setattr(client_module, "PROTOCOL", PROTOCOL + 1)
    c = HubClient(served.hub.url, served.tokens["bo"], directory=served.tmp / "c")
    with pytest.raises(NoAccess, match="install the same unibox version"):
        c.open()
    c.close()


# ------------------------------------------------------------------ bad payloads


def test_malformed_and_unknown_payloads_get_an_error_and_write_nothing(served: Served) -> None:
    conv = start_conversation(served)
    before = head(served)
    sio = raw(served, "bo")
    try:
        bad = [
            ("push", "not an object"),
            ("push", {"mutations": "nope"}),
            ("push", {"mutations": [{"mutation_id": "one"}]}),
            ("pull", {"cursor": "[garbage"}),
            ("rows", {"wanted": {"outbox": ["x"]}}),
            ("signal", {"kind": "shout"}),
            ("no_such_event", {}),
        ]
        for event, data in bad:
            if event == "no_such_event":
                with pytest.raises(socketio.exceptions.TimeoutError):
                    sio.call(event, data, timeout=1)
                continue
            reply = sio.call(event, data, timeout=10)
            assert isinstance(reply, dict) and "error" in reply, (event, data, reply)
        # Well-formed mutations that are refused: unknown command, bad arguments, too long.
        answers = sio.call(
            "push",
            {
                "mutations": [
                    {"mutation_id": 1, "name": "drop_tables", "args": {}},
                    {"mutation_id": 2, "name": "close", "args": {"conversation_id": 5}},
                    {
                        "mutation_id": 3,
                        "name": "comment",
                        "args": {"conversation_id": conv, "text": "x" * 1_000_001},
                    },
                ]
            },
            timeout=10,
        )["answers"]
        assert [a["status"] for a in answers] == ["rejected"] * 3
        assert "no command 'drop_tables'" in answers[0]["error"]
        assert "must be a string" in answers[1]["error"]
        assert "longer than" in answers[2]["error"]
        # The connection is still there and works.
        assert sio.call("hello", {}, timeout=10)["agent"]["handle"] == "bo"
    finally:
        sio.disconnect()
    with hub_db(served) as con:
        comments = con.execute("SELECT count(*) FROM message WHERE kind = 'comment'").fetchone()[0]
        status = con.execute("SELECT status FROM conversation WHERE id = ?", (conv,)).fetchone()[0]
    assert comments == 0 and status == "open"
    # Only the rejected mutations' bookkeeping was written: no change number was taken.
    assert head(served) == before


# ------------------------------------------------------------------ access


def test_forged_reads_of_an_inbox_without_access_leak_nothing(served: Served) -> None:
    secret = start_conversation(served, inbox="Sales", subject="Acquisition terms XYZZY")
    with hub_db(served) as con:
        sales = con.execute("SELECT id FROM inbox WHERE name = 'Sales'").fetchone()[0]
        message = con.execute(
            "SELECT id FROM message WHERE conversation_id = ?", (secret,)
        ).fetchone()[0]
    received: list[Any] = []
    sio = raw(served, "bo")  # bo sees Support only
    try:
        cursor: Any = "0"
        while True:
            page = sio.call("pull", {"cursor": cursor, "limit": 50}, timeout=10)
            received.append(page)
            cursor = page["cursor"]
            if not page["more"]:
                break
        for event, data in [
            ("rows", {"wanted": {"conversation": [secret], "message": [message]}}),
            ("backfill", {"inbox_id": sales}),
            ("signal", {"kind": "viewing", "conversation_id": secret}),
            (
                "push",
                {
                    "mutations": [
                        {
                            "mutation_id": 1,
                            "name": "comment",
                            "args": {"conversation_id": secret, "text": "hi"},
                        },
                        {"mutation_id": 2, "name": "close", "args": {"conversation_id": secret}},
                    ]
                },
            ),
        ]:
            received.append(sio.call(event, data, timeout=10))
    finally:
        sio.disconnect()
    text = json.dumps(received)
    assert "XYZZY" not in text and "where is my order" not in text
    # The rows lookup answers "deleted" for what may not be seen, and nothing else.
    rows = received[-4]["changes"]
    assert all("row" not in c for c in rows)
    assert [a["status"] for a in received[-1]["answers"]] == ["rejected", "rejected"]
    assert secret not in json.dumps(received[:-4])  # the pulls never named it
    with hub_db(served) as con:
        assert (
            con.execute("SELECT status FROM conversation WHERE id = ?", (secret,)).fetchone()[0]
            == "open"
        )


def test_losing_access_drops_the_inbox_from_the_cache_and_gaining_backfills(
    served: Served,
) -> None:
    support_conv = start_conversation(served, inbox="Support", subject="Support matter")
    bo = served.client("bo")
    ana = served.client("ana")
    try:
        assert cached(bo, "SELECT id FROM conversation WHERE id = ?", (support_conv,))
        # Support becomes listed, without bo.
        registry.run(
            ana.ws,  # type: ignore[arg-type]
            "set_inbox_access",
            {"inbox": "Support", "mode": "listed", "add_agents": ["ana"]},
            actor=ana.agent["id"],
        )
        wait_for(
            lambda: not cached(bo, "SELECT 1 FROM conversation WHERE id = ?", (support_conv,)),
            what="bo's cache dropped the Support conversation",
        )
        assert not cached(bo, "SELECT 1 FROM message WHERE conversation_id = ?", (support_conv,))
        # And back: the conversation, unchanged since, comes back by backfill.
        registry.run(
            ana.ws,  # type: ignore[arg-type]
            "set_inbox_access",
            {"inbox": "Support", "mode": "everyone"},
            actor=ana.agent["id"],
        )
        wait_for(
            lambda: cached(bo, "SELECT 1 FROM message WHERE conversation_id = ?", (support_conv,)),
            what="bo's cache got the Support conversation back",
        )
    finally:
        bo.close()
        ana.close()


# ------------------------------------------------------------------ mutations: once, in order


def test_a_retransmitted_mutation_applies_once_and_a_gap_waits(served: Served) -> None:
    conv = start_conversation(served)

    def comment(n: int) -> dict[str, Any]:
        return {
            "mutation_id": n,
            "name": "comment",
            "args": {"conversation_id": conv, "text": f"note {n}"},
        }

    sio = raw(served, "bo", client_id="retransmitter")
    try:
        first = sio.call("push", {"mutations": [comment(1)]}, timeout=10)["answers"]
        again = sio.call("push", {"mutations": [comment(1)]}, timeout=10)["answers"]
        assert first[0]["status"] == "ok" and again[0]["status"] == "ok"
        assert again[0].get("duplicate") is True and again[0]["seq"] == first[0]["seq"]
        gap = sio.call("push", {"mutations": [comment(3)]}, timeout=10)["answers"]
        assert gap == [{"mutation_id": 3, "status": "gap", "expected": 2}]
        both = sio.call("push", {"mutations": [comment(2), comment(3)]}, timeout=10)["answers"]
        assert [a["status"] for a in both] == ["ok", "ok"]
    finally:
        sio.disconnect()
    with hub_db(served) as con:
        bodies = sorted(
            b for (b,) in con.execute("SELECT body FROM message WHERE kind = 'comment'")
        )
    assert bodies == ["note 1", "note 2", "note 3"]


def test_concurrent_pushes_answer_each_mutation_and_apply_it_once(served: Served) -> None:
    """Pushes that arrive together are applied in one group commit: a refused mutation in a
    push answers alone and the others apply; a push retransmitted over a second connection
    (the same client id) while the first is in flight applies nothing twice; each client's
    comments land in its order."""
    import threading

    conv = start_conversation(served)
    missing = "01900000-0000-7000-8000-000000000000"

    def stored_for(prefix: str) -> int:
        with hub_db(served) as con:
            return int(
                con.execute(
                    "SELECT count(*) FROM message WHERE kind = 'comment' AND body LIKE ?",
                    (prefix + " %",),
                ).fetchone()[0]
            )

    def comment(client: str, n: int) -> dict[str, Any]:
        target = missing if n % 7 == 0 else conv  # every 7th is refused: no such conversation
        args = {"conversation_id": target, "text": f"{client} {n}"}
        return {"mutation_id": n, "name": "comment", "args": args}

    # bo-a is pushed over two connections at once (an app that reconnected and resent its
    # queue while the first push was still being applied); bo-b and cy-c once each.
    senders = [("bo", "bo-a-client"), ("bo", "bo-a-client"), ("bo", "bo-b-client")]
    senders.append(("cy", "cy-c-client"))
    batch = 40
    answers: dict[int, list[list[dict[str, Any]]]] = {}
    start = threading.Barrier(len(senders) + 1)
    failures: list[BaseException] = []

    def push(i: int, handle: str, client: str) -> None:
        sio = raw(served, handle, client_id=client)
        try:
            start.wait(timeout=30)
            got = answers.setdefault(i, [])
            for first in range(1, 121, batch):
                mutations = [comment(client, n) for n in range(first, first + batch)]
                got.append(sio.call("push", {"mutations": mutations}, timeout=60)["answers"])
        except BaseException as e:
            failures.append(e)
        finally:
            sio.disconnect()

    threads = [threading.Thread(target=push, args=(i, h, c)) for i, (h, c) in enumerate(senders)]
    for t in threads:
        t.start()
    # A long push first keeps the writer busy, so that the pushes above arrive while it
    # works and go to it together (the same client twice in one group).
    blocker = raw(served, "ana", client_id="ana-blocker")
    try:
        blocker.emit("push", {"mutations": [comment("ana", n) for n in range(1, 401)]})
        start.wait(timeout=30)
        for t in threads:
            t.join(timeout=120)
        wait_for(lambda: stored_for("ana") == 400 - 400 // 7, what="the long push applied")
    finally:
        blocker.disconnect()
    assert not failures, failures
    for i, _ in enumerate(senders):
        flat = [a for call in answers[i] for a in call]
        assert [a["mutation_id"] for a in flat] == list(range(1, 121))
        assert [a["status"] for a in flat] == [
            "rejected" if n % 7 == 0 else "ok" for n in range(1, 121)
        ]
        assert all("not found" in a["error"] for a in flat if a["status"] == "rejected")
    # The two connections of bo-a got the same answers: one applied, the other was told.
    seqs = [[a["seq"] for call in answers[i] for a in call] for i in (0, 1)]
    assert seqs[0] == seqs[1]
    with hub_db(served) as con:
        rows = con.execute(
            "SELECT body FROM message WHERE kind = 'comment' ORDER BY seq, rowid"
        ).fetchall()
    bodies = [b for (b,) in rows]
    for client in ("bo-a-client", "bo-b-client", "cy-c-client"):
        mine = [b for b in bodies if b.startswith(client + " ")]
        assert mine == [f"{client} {n}" for n in range(1, 121) if n % 7 != 0], client


def test_a_rejected_command_is_undone_in_the_cache(served: Served) -> None:
    conv = start_conversation(served)
    bo = served.client("bo")
    ana = served.client("ana")
    rejected: list[str] = []
    bo.on_rejected = lambda error, _name, _args: rejected.append(error)
    try:
        # Ana deactivates bo's teammate... simpler: ana makes Support listed without bo while
        # bo is offline from the hub's point of view: bo's close is applied locally first.
        bo._sio.disconnect()
        wait_for(lambda: bo.state == "reconnecting", what="bo went offline")
        registry.run(bo.ws, "close", {"conversation_id": conv}, actor=bo.agent["id"])  # type: ignore[arg-type]
        assert cached(bo, "SELECT status FROM conversation WHERE id = ?", (conv,))[0][0] == "closed"
        assert bo.status().queued == 1
        registry.run(
            ana.ws,  # type: ignore[arg-type]
            "set_inbox_access",
            {"inbox": "Support", "mode": "listed", "add_agents": ["ana"]},
            actor=ana.agent["id"],
        )
        bo._sio.connect(served.hub.url, auth=bo._auth, transports=["websocket"])
        wait_for(lambda: rejected, what="the hub rejected bo's close")
        wait_for(lambda: bo.status().queued == 0, what="bo's queue emptied")
    finally:
        bo.close()
        ana.close()
    with hub_db(served) as con:
        assert (
            con.execute("SELECT status FROM conversation WHERE id = ?", (conv,)).fetchone()[0]
            == "open"
        )


def test_commands_queued_offline_survive_a_restart_and_apply_once(served: Served) -> None:
    conv = start_conversation(served)
    served.hub.stop()
    bo = HubClient(served.hub.url, served.tokens["bo"], directory=served.tmp / "cache-bo")
    with pytest.raises(Exception, match="cannot reach the hub"):
        bo.open(offline_ok=False)  # never connected: no cache to fall back on yet
    bo.close()
    served.hub.start()
    served.client("bo").close()  # a first session fills the cache
    served.hub.stop()
    bo = HubClient(served.hub.url, served.tokens["bo"], directory=served.tmp / "cache-bo")
    bo.open()
    assert bo.state == "offline"
    registry.run(
        bo.ws, "comment", {"conversation_id": conv, "text": "written offline"}, actor=bo.agent["id"]
    )  # type: ignore[arg-type]
    registry.run(bo.ws, "close", {"conversation_id": conv}, actor=bo.agent["id"])  # type: ignore[arg-type]
    assert bo.status().queued == 2
    bo.close()  # the app quits while offline
    served.hub.start()
    bo = served.client("bo")
    try:
        wait_for(lambda: bo.status().queued == 0, what="the queue went out")
    finally:
        bo.close()
    with hub_db(served) as con:
        bodies = [b for (b,) in con.execute("SELECT body FROM message WHERE kind = 'comment'")]
        status = con.execute("SELECT status FROM conversation WHERE id = ?", (conv,)).fetchone()[0]
    assert bodies == ["written offline"] and status == "closed"


def test_sigterm_stops_the_hub_cleanly(served: Served) -> None:
    bo = served.client("bo")
    try:
        assert served.hub.stop() == 0
        wait_for(lambda: bo.state == "reconnecting", what="bo noticed the hub went away")
    finally:
        bo.close()
    log = served.hub.log.read_text()
    assert "connect @bo" in log and "stopped at change" in log
    assert "Traceback" not in log


# ------------------------------------------------------------------ crash during a burst


def _table(con: Any, sql: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in con.execute(sql))


def test_hub_killed_during_a_burst_loses_and_duplicates_nothing(served: Served) -> None:
    import threading

    conv = start_conversation(served)
    clients = {h: served.client(h) for h in ("ana", "bo", "cy")}
    per_client = 334  # 1,002 commands in all
    sent: dict[str, int] = {h: 0 for h in clients}

    def burst(handle: str) -> None:
        c = clients[handle]
        for i in range(per_client):
            registry.run(
                c.ws,  # type: ignore[arg-type]
                "comment",
                {"conversation_id": conv, "text": f"{handle} {i}"},
                actor=c.agent["id"],
            )
            sent[handle] += 1

    threads = [threading.Thread(target=burst, args=(h,)) for h in clients]
    for t in threads:
        t.start()
    # Kill the hub once some commands have landed and while the clients still send.
    wait_for(lambda: _count_comments(served) >= 100, what="a hundred commands reached the hub")
    served.hub.kill()
    for t in threads:
        t.join(120)
    served.hub.start()
    try:
        for c in clients.values():
            wait_for(lambda c=c: c.status().queued == 0, what="every queue emptied", timeout=120)
            c.synced.clear()
            c._kick.set()
            assert c.wait_synced(60)
        with hub_db(served) as con:
            bodies = [b for (b,) in con.execute("SELECT body FROM message WHERE kind = 'comment'")]
        assert len(bodies) == len(set(bodies)) == 3 * per_client
        # Every cache equals the hub, table by table (what each agent may see of it).
        for handle, c in clients.items():
            page = changes.changes_since(open_workspace(served.hub.db), 0, c.agent["id"], 10**9)
            expect: dict[str, set[str]] = {}
            for ch in page.changes:
                if "row" in ch:
                    spec = changes.BY_NAME[ch["table"]]
                    expect.setdefault(ch["table"], set()).add(
                        json.dumps([ch["row"][k] for k in spec.ident])
                    )
            assert c.replica is not None
            for table, idents in expect.items():
                spec = changes.BY_NAME[table]
                have = {
                    json.dumps(list(r))
                    for r in c.replica.execute(f"SELECT {', '.join(spec.ident)} FROM {table}")
                }
                assert have == idents, f"{handle}'s cache differs from the hub in {table}"
            # And the rows' contents: messages, conversations.
            with hub_db(served) as con:
                hub_rows = _table(con, "SELECT id, body, kind FROM message")
                hub_conv = _table(con, "SELECT id, status, assignee_id FROM conversation")
            assert _table(c.replica, "SELECT id, body, kind FROM message") == hub_rows
            assert _table(c.replica, "SELECT id, status, assignee_id FROM conversation") == hub_conv
    finally:
        for c in clients.values():
            c.close()


def _count_comments(served: Served) -> int:
    try:
        with hub_db(served) as con:
            return int(
                con.execute("SELECT count(*) FROM message WHERE kind = 'comment'").fetchone()[0]
            )
    except sqlite3.OperationalError:
        return 0


def test_hub_only_commands_wait_for_the_hubs_answer(served: Served) -> None:
    ana = served.client("ana")
    try:
        token = registry.run(ana.ws, "issue_token", {"handle": "cy"}, actor=ana.agent["id"]).value  # type: ignore[arg-type]
        assert isinstance(token, str) and token.startswith("ubx_")
        with pytest.raises(InvalidRequest, match="only an admin"):
            bo = served.client("bo")
            try:
                registry.run(bo.ws, "issue_token", {"handle": "ana"}, actor=bo.agent["id"])  # type: ignore[arg-type]
            finally:
                bo.close()
    finally:
        ana.close()
    cy = HubClient(served.hub.url, token, directory=served.tmp / "cy-new")
    try:
        cy.open(offline_ok=False)
        assert cy.agent["handle"] == "cy"
    finally:
        cy.close()
    old = HubClient(served.hub.url, served.tokens["cy"], directory=served.tmp / "cy-old")
    with pytest.raises(NoAccess, match="revoked"):
        old.open(offline_ok=False)
    old.close()


def test_cache_file_lives_in_the_data_dir_per_hub_and_agent(
    served: Served, isolated_home: Path
) -> None:
    c = HubClient(served.hub.url, served.tokens["bo"])
    try:
        c.open()
        path = Path(c.ws.path)  # type: ignore[union-attr]
    finally:
        c.close()
    assert str(path).startswith(str(isolated_home / "data"))
    assert path.name == f"{c.agent['id']}.db" and "127.0.0.1" in str(path)


def test_attachment_bytes_come_from_the_hub_when_opened(served: Served) -> None:
    from unibox_tui.core import commands as cmd
    from unibox_tui.core import queries

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    conv = start_conversation(
        served,
        subject="Photo of the damage",
        attachments=(cmd.IncomingAttachment("damage.png", "image/png", len(png), png),),
    )
    secret = start_conversation(
        served,
        inbox="Sales",
        subject="Contract",
        attachments=(cmd.IncomingAttachment("contract.pdf", "application/pdf", 4, b"%PDF"),),
    )
    bo = served.client("bo")
    try:
        rows = cached(
            bo,
            "SELECT a.id, a.data FROM attachment a JOIN message m ON m.id = a.message_id "
            "WHERE m.conversation_id = ?",
            (conv,),
        )
        [(attachment_id, stored)] = rows
        assert stored is None  # the log carries metadata only
        # ... yet the thread offers it (the hub has its bytes): the attachment picker
        # disabled every attachment in a hub's cache before.
        reader = queries.reader(bo.ws, bo.agent["id"])
        [message] = queries.thread(bo.ws, conv, access=reader)
        assert [(a.filename, a.stored) for a in message.attachments] == [("damage.png", True)]
        assert queries.attachment_bytes(
            bo.ws, attachment_id, access=queries.reader(bo.ws, bo.agent["id"])
        ) == ("damage.png", png)  # type: ignore[arg-type]
        with hub_db(served) as con:
            hidden = con.execute(
                "SELECT a.id FROM attachment a JOIN message m ON m.id = a.message_id "
                "WHERE m.conversation_id = ?",
                (secret,),
            ).fetchone()[0]
        with pytest.raises(InvalidRequest, match="not found or no access"):
            bo.fetch_attachment(hidden)
    finally:
        bo.close()


def test_login_with_a_token_file_makes_the_hub_the_default(
    served: Served, tmp_path: Path, isolated_home: Path
) -> None:
    token_file = tmp_path / "bo.token"
    token_file.write_text(served.tokens["bo"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("UNIBOX_HUB", "UNIBOX_TOKEN")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*UNIBOX, *args], capture_output=True, text=True, env=env, timeout=120
        )

    r = run("login", served.hub.url, "--token-file", str(token_file))
    assert r.returncode == 0, r.stderr
    assert "signed in to" in r.stdout and "@bo" in r.stdout
    assert f'url = "{served.hub.url}"' in (isolated_home / "config.toml").read_text()
    assert served.tokens["bo"] not in (isolated_home / "config.toml").read_text()
    # No --hub, no UNIBOX_HUB: the config's hub is used (the token from the same file).
    env["UNIBOX_TOKEN_FILE"] = str(token_file)
    r = run("agents", "--json")
    assert r.returncode == 0, r.stderr
    assert {a["handle"] for a in json.loads(r.stdout)["agents"]} == {"ana", "bo", "cy"}
    r = run("logout")
    assert r.returncode == 0 and "signed out" in r.stdout
    assert "url" not in (isolated_home / "config.toml").read_text()
    # A wrong token is refused at login, and nothing is written.
    token_file.write_text("ubx_wrong")
    r = run("login", served.hub.url, "--token-file", str(token_file))
    assert r.returncode == 1 and "unknown sign-in token" in r.stderr
    assert "url" not in (isolated_home / "config.toml").read_text()


def test_plain_http_off_loopback_is_refused_unless_insecure(tmp_path: Path) -> None:
    r = subprocess.run(
        [*UNIBOX, "hub", "--db", str(tmp_path / "w.db"), "--listen", "0.0.0.0:8799"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "not a loopback address: serve TLS with --certfile/--keyfile" in r.stderr
    assert not (tmp_path / "w.db").exists()  # refused before anything was made
    r = subprocess.run(
        [*UNIBOX, "login", "http://hub.example.com:8750"], capture_output=True, text=True
    )
    assert r.returncode == 1 and "plain HTTP to another machine: use https://" in r.stderr


def test_the_hub_serves_tls_with_its_own_certificate(tmp_path: Path) -> None:
    import shutil
    import ssl
    import urllib.request

    from servers.hub import free_port

    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *(*UNIBOX, "hub", "--db", str(tmp_path / "w.db"), "--listen", f"127.0.0.1:{port}"),
            *("--certfile", str(cert), "--keyfile", str(key), "--no-channels"),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))

        def health() -> Any:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/healthz", context=context, timeout=1
                ) as r:
                    return json.loads(r.read())
            except OSError:
                return None

        assert wait_for(health, what="the hub answered over TLS")["ok"] is True
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_poke_carries_the_changes_each_agent_may_see(served: Served) -> None:
    """A poke brings the page of changes since the last poke's cursor, as the poked agent
    may see it: what a pull from there answers, and nothing of an inbox they cannot see."""

    def caught_up(sio: socketio.SimpleClient) -> str:
        cursor: Any = "0"
        while True:
            page = sio.call("pull", {"cursor": cursor, "limit": 500}, timeout=10)
            cursor = page["cursor"]
            if not page["more"]:
                return str(cursor)

    def pokes_until(sio: socketio.SimpleClient, text: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                event, data = sio.receive(timeout=max(0.1, deadline - time.monotonic()))
            except socketio.exceptions.TimeoutError:
                break
            if event == "poke":
                got.append(data)
                if text in json.dumps(data):
                    return got
        raise AssertionError(f"no poke brought {text!r}: {got}")

    bo, ana = raw(served, "bo"), raw(served, "ana", client_id="raw-client-2")
    try:
        caught_up(bo), caught_up(ana)
        start_conversation(served, inbox="Sales", subject="Acquisition terms XYZZY")
        start_conversation(served, inbox="Support", subject="Parcel PLUGH")
        seen_by_bo = pokes_until(bo, "PLUGH")
        pokes_until(ana, "XYZZY")  # ana may see Sales: hers carries it
        assert "XYZZY" not in json.dumps(seen_by_bo)
        poke = seen_by_bo[-1]
        pulled = bo.call("pull", {"cursor": poke["from"], "limit": 500}, timeout=10)
        if pulled["cursor"] == poke["page"]["cursor"]:  # nothing newer meanwhile
            assert pulled == poke["page"]
    finally:
        bo.disconnect()
        ana.disconnect()


class _KickRacedByAPoke(threading.Event):
    """A sync loop's kick whose wait, once armed, gives up just as a poke lands: the poke's
    handler sets the kick after the wait timed out and before the loop looked at it. A
    loaded machine hits that interleaving now and then (2 of 9,800 arrivals in a fan-out
    run); here it happens every time."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = threading.Event()
        self.entered = threading.Event()  # the loop is in the armed wait
        self.poked = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        if not self.armed.is_set():
            return super().wait(timeout)
        self.armed.clear()
        self.poked.clear()
        self.entered.set()
        self.poked.wait(30)  # timing out... and meanwhile the poke sets the kick
        return False

    def set(self) -> None:
        super().set()
        self.poked.set()


def test_a_poke_landing_as_the_sync_loop_times_out_is_applied(served: Served) -> None:
    """The page a poke brings is applied at once even when its kick lands between the sync
    loop's wait timing out and the loop clearing the kick (it was wiped out, and the page
    waited for the safety round: here switched off)."""
    conv = start_conversation(served)
    ana = served.client("ana")
    kick = _KickRacedByAPoke()
    bo = HubClient(served.hub.url, served.tokens["bo"], directory=served.tmp / "cache-bo")
    bo.safety_round = float("inf")  # only pokes bring changes
    bo._kick = kick
    try:
        bo.open()
        assert bo.wait_synced(30)
        wait_for(
            lambda: cached(bo, "SELECT 1 FROM conversation WHERE id = ?", (conv,)),
            what="bo has the conversation",
        )
        kick.armed.set()
        assert kick.entered.wait(30), "the sync loop never waited again"
        result = ana.run(
            "comment", {"conversation_id": conv, "text": "kick race"}, actor=ana.agent["id"]
        )
        wait_for(
            lambda: cached(bo, "SELECT 1 FROM message WHERE id = ?", (result.value.message_id,)),
            what="bo's cache got the comment a poke brought",
            timeout=15,
        )
    finally:
        bo.close()
        ana.close()


def test_pokes_tell_the_app_its_status_only_when_it_changes(served: Served) -> None:
    """Every sync round (every poke) asked the app's status callback, which waits on the
    UI thread: twenty hand-overs a second under a chat load to hear 'connected' again. The
    app hears a status once, and again only when it changes."""
    conv = start_conversation(served)
    ana = served.client("ana")
    statuses: list[Any] = []
    pulled = threading.Semaphore(0)
    bo = HubClient(
        served.hub.url,
        served.tokens["bo"],
        directory=served.tmp / "cache-bo",
        on_status=statuses.append,
        on_pulled=pulled.release,
    )
    try:
        bo.open()
        assert bo.wait_synced(30)
        wait_for(
            lambda: cached(bo, "SELECT 1 FROM conversation WHERE id = ?", (conv,)),
            what="bo has the conversation",
        )
        told = list(statuses)
        assert told and told[-1].state == "connected"
        while pulled.acquire(timeout=0):
            pass
        ids = [
            ana.run(
                "comment", {"conversation_id": conv, "text": f"note {n}"}, actor=ana.agent["id"]
            ).value.message_id
            for n in range(3)
        ]
        marks = ",".join("?" * len(ids))
        wait_for(
            lambda: (
                len(cached(bo, f"SELECT 1 FROM message WHERE id IN ({marks})", tuple(ids))) == 3
            ),
            what="bo's cache got the three comments",
        )
        assert pulled.acquire(timeout=0), "pulls that wrote rows tell the app to look"
        assert statuses == told  # rounds ran, the status stayed: nothing more to hear
    finally:
        bo.close()
        ana.close()


def test_a_thread_reads_in_the_same_order_in_every_cache(served: Served) -> None:
    """Ana answers an unassigned conversation: the hub writes "Ana took this by replying" and
    her reply in one command, at one instant. Her cache held its own copy of the reply first
    and got the hub's activity line later; ordered by each cache's own row numbers, her
    thread read reply-then-activity and Bo's activity-then-reply."""
    from unibox_tui.core import queries
    from unibox_tui.core.access import EVERYTHING

    conv = start_conversation(served)
    ana, bo = served.client("ana"), served.client("bo")

    def thread(client: HubClient) -> list[str]:
        assert client.ws is not None
        with client.ws.read() as conn:
            return [m.body for m in queries.thread_on(conn, conv, access=EVERYTHING)]

    try:
        registry.run(
            ana.ws,  # type: ignore[arg-type]
            "reply",
            {"conversation_id": conv, "text": "On it, Carla."},
            actor=ana.agent["id"],
        )

        def on_hub() -> list[str]:
            with open_workspace(served.hub.db) as ws:
                return [m.body for m in queries.thread(ws, conv, access=EVERYTHING)]

        wait_for(lambda: len(on_hub()) == 3, what="the hub applied the reply")
        hub_thread = on_hub()
        assert "Ana Lima took this by replying" in hub_thread
        wait_for(lambda: thread(bo) == hub_thread, what="bo's cache reads the hub's order")
        wait_for(lambda: ana.status().queued == 0, what="ana's reply was confirmed")
        wait_for(lambda: thread(ana) == hub_thread, what="ana's cache reads the hub's order")
    finally:
        ana.close()
        bo.close()
