"""The demo workspace: deterministic, realistic, and usable by every query."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import T0
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.core.errors import WorkspaceError


def fingerprint(path: Path) -> list:
    con = sqlite3.connect(path)
    try:
        return [
            con.execute(
                "SELECT id, subject, status, assignee_id, last_message_at FROM conversation ORDER BY rid"
            ).fetchall(),
            con.execute("SELECT id, body, kind FROM message ORDER BY rid").fetchall(),
            con.execute("SELECT id, name FROM contact ORDER BY id").fetchall(),
        ]
    finally:
        con.close()


def test_same_seed_same_ids_and_counts(tmp_path: Path) -> None:
    a = build_demo(tmp_path / "a.db", conversations=300, seed=7, now=T0)
    b = build_demo(tmp_path / "b.db", conversations=300, seed=7, now=T0)
    build_demo(tmp_path / "c.db", conversations=300, seed=8, now=T0)
    for key in ("conversations", "messages", "tickets", "contacts"):
        assert a[key] == b[key]
    assert fingerprint(tmp_path / "a.db") == fingerprint(tmp_path / "b.db")
    assert fingerprint(tmp_path / "a.db") != fingerprint(tmp_path / "c.db")


def test_ids_do_not_depend_on_the_clock(tmp_path: Path) -> None:
    from datetime import timedelta

    build_demo(tmp_path / "a.db", conversations=50, seed=3, now=T0)
    build_demo(tmp_path / "b.db", conversations=50, seed=3, now=T0 + timedelta(days=40))
    ids = [[r[0] for r in fingerprint(tmp_path / p)[0]] for p in ("a.db", "b.db")]
    assert ids[0] == ids[1]


def test_demo_is_realistic_and_works_with_commands(tmp_path: Path) -> None:
    summary = build_demo(tmp_path / "d.db", conversations=400, seed=1, now=T0)
    assert summary["conversations"] == 400 and summary["messages"] > 400 * 4
    with open_workspace(tmp_path / "d.db") as ws:
        assert 6 <= len(q.agents(ws)) <= 10 and len(q.teams(ws)) == 2
        assert [i.name for i in q.inboxes(ws)] == ["Sales", "Support"]
        assert {c.kind for c in q.channels(ws)} == {
            "email",
            "chat",
            "messenger",
            "whatsapp",
            "form",
        }
        for status in ("open", "snoozed", "closed"):
            assert q.count(ws, q.view(status, access=EVERYTHING))[0] > 0
        for kind in ("email", "chat", "messenger", "whatsapp", "form"):
            assert q.count(ws, q.view(f"kind:{kind}", access=EVERYTHING))[0] > 0
        assert q.snippets(ws) and q.search(ws, "refund", access=EVERYTHING)
        assert ws.setting("default_agent") == "ana"
        me = next(a.id for a in q.agents(ws) if a.handle == "ana")
        assert q.notifications(ws, me)  # mentions in comments
        conv = q.list_conversations(ws, q.view("open", access=EVERYTHING)).rows[0]
        cmd.reply(ws, conv.id, "Thanks!", actor="ana")  # the demo takes real commands
        assert q.thread(ws, conv.id, access=EVERYTHING)[-1].kind == "outgoing"
        kinds = {m.kind for m in q.thread(ws, conv.id, access=EVERYTHING)}
        assert {"incoming", "outgoing"} <= kinds
        # Hostile customer text is in the demo on purpose, stored as written.
        assert any(
            "[bold red]" in h.row.subject for h in q.search(ws, "urgent refund", access=EVERYTHING)
        )


def test_demo_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_text("precious")
    with pytest.raises(WorkspaceError, match="exists"):
        build_demo(path, conversations=10)
    assert path.read_text() == "precious"


def test_simulated_stream_ingests_and_delivers(tmp_path: Path) -> None:
    import random
    from datetime import timedelta

    from unibox_tui.core import outbox
    from unibox_tui.core.demo import simulate_step

    build_demo(tmp_path / "s.db", conversations=60, seed=2, now=T0)
    with open_workspace(tmp_path / "s.db") as ws:
        with ws.read() as conn:
            before_said = conn.exec_driver_sql(
                "SELECT count(*) FROM message WHERE kind != 'activity'"
            ).scalar()
        conv = q.list_conversations(ws, q.view("open", access=EVERYTHING)).rows[0]
        mid = cmd.reply(ws, conv.id, "On it", actor="ana", now=T0)
        rng = random.Random(4)
        changed = []
        for i in range(10):
            changed += simulate_step(ws, rng, T0 + timedelta(minutes=i + 1))
        # Our reply and ten customer messages (and an activity line for each snoozed
        # conversation a customer woke).
        with ws.read() as conn:
            said = conn.exec_driver_sql(
                "SELECT count(*) FROM message WHERE kind != 'activity'"
            ).scalar()
        assert said == before_said + 1 + 10
        assert conv.id in changed  # the reply was delivered...
        assert (
            next(m for m in q.thread(ws, conv.id, access=EVERYTHING) if m.id == mid).delivery_state
            == "sent"
        )
        assert outbox.pending_count(ws) == 0
        newest = q.list_conversations(ws, q.view("all", access=EVERYTHING)).rows[0]
        assert newest.last_message_at == T0 + timedelta(minutes=10) and newest.unread


def test_a_demo_workspace_looks_up_external_ids_and_changes_by_index(tmp_path: Path) -> None:
    """The demo's ANALYZE once recorded that these indexes select nothing (every external id
    NULL, every row at change 1): an incoming message's duplicate check then scanned every
    message. The plans must use the indexes, on a new demo and on one migrated from then."""
    import sqlite3

    path = tmp_path / "d.db"
    build_demo(path, conversations=300, seed=1, now=T0)
    checks = {
        "SELECT id FROM message WHERE external_id = 'x' AND channel_id = 'y'": "ix_message_external",
        "SELECT id FROM message WHERE seq > 5": "ix_message_seq",
    }
    con = sqlite3.connect(path)
    try:
        for sql, index in checks.items():
            plan = " ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert index in plan, plan
        # A file built before the fix: put the misleading statistics back, migrate, check.
        con.execute(
            "INSERT INTO sqlite_stat1 VALUES ('message', 'ix_message_external', '1000000 1000000')"
        )
        con.execute("UPDATE alembic_version SET version_num = '0013'")
        con.commit()
    finally:
        con.close()
    from unibox_tui.core.db import HEAD_REVISION, make_engine, open_workspace
    from unibox_tui.core.migrations import upgrade

    # Only 0014 runs again (later migrations made tables that exist already), then the file
    # is back at head.
    engine = make_engine(path)
    try:
        upgrade(engine, "0014")
    finally:
        engine.dispose()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = ?", (HEAD_REVISION,))
    con.commit()
    con.close()
    open_workspace(path).close()
    con = sqlite3.connect(path)
    try:
        plan = " ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {next(iter(checks))}"))
        assert "ix_message_external" in plan, plan
    finally:
        con.close()


def test_demo_threads_read_like_real_ones(tmp_path: Path) -> None:
    """One language per conversation; e-mail answers quote the message they answer; some
    customers send HTML mail; forms read field by field; chats have no greetings."""
    import itertools
    import sqlite3

    from unibox_tui.core import demo_text as T

    build_demo(tmp_path / "c.db", conversations=200, seed=7, now=T0)
    lang_of: dict[str, str] = {}
    for story in T.STORIES:
        for lang, text in story.items():
            for key in ("ask", "thanks"):
                lang_of[str(text[key]).split("{n}")[0][:20]] = lang
            for key in ("answers", "follows"):
                for line in text[key]:  # type: ignore[attr-defined]
                    lang_of[str(line).split("{n}")[0][:20]] = lang
    for table in (T.CHAT_HELLO, T.MORE_HELP):
        for lang, line in table.items():
            lang_of[line[:20]] = lang
    for lang, asks in T.CHAT_ASKS.items():
        for line in asks:
            lang_of[line[:20]] = lang

    con = sqlite3.connect(tmp_path / "c.db")
    convs = con.execute(
        "SELECT id, channel_kind FROM conversation ORDER BY rowid LIMIT -1 OFFSET ?",
        (len(T.HOSTILE),),
    ).fetchall()
    quoted = html = 0
    for conv_id, kind in convs:
        rows = con.execute(
            "SELECT kind, body, body_html FROM message WHERE conversation_id = ? "
            "AND kind IN ('incoming', 'outgoing') ORDER BY created_at, rowid",
            (conv_id,),
        ).fetchall()
        langs = set()
        for _, body, _ in rows:
            found = [lang for marker, lang in lang_of.items() if marker in body]
            assert found, body
            langs.add(found[0])
        assert len(langs) == 1, (conv_id, langs)
        for (_, before, _), (_, after, page) in itertools.pairwise(rows):
            if kind == "email":  # every reply quotes what it answers
                lines = [line[2:] for line in after.split("\n") if line.startswith("> ")]
                assert lines and all(line in before.split("\n") for line in lines), after
                quoted += 1
            if page:
                assert page.startswith("<html>") and "<p>" in page
                html += 1
        first = rows[0][1]
        if kind == "form":
            assert first.startswith("Name: ") and "\nEmail: " in first and "\nMessage:\n" in first
        if kind in ("chat", "messenger", "whatsapp"):
            assert not any(body.startswith(("Hi ", "Hola ", "Dear")) for _, body, _ in rows)
    assert quoted > 50 and html > 5


def test_demo_threads_are_one_agent_answering_one_story_at_a_time(tmp_path: Path) -> None:
    """A thread reads like a real exchange: one agent answers it, never twice in a row, and
    no answer is said twice (the old demo ran past its story: three agents in turn wrote
    "Glad that's sorted" and the customer thanked twice)."""
    import itertools
    import sqlite3

    from unibox_tui.core import demo_text as T

    build_demo(tmp_path / "t.db", conversations=300, seed=4, now=T0)
    wrap_ups = set(T.MORE_HELP.values())
    con = sqlite3.connect(tmp_path / "t.db")
    threads: dict[str, list[tuple[str, str | None, str]]] = {}
    for conv, kind, agent, body in con.execute(
        "SELECT conversation_id, kind, author_agent_id, body FROM message "
        "WHERE kind IN ('incoming', 'outgoing') ORDER BY conversation_id, created_at, rowid"
    ):
        text = body.split("\n\n> ")[0]  # without the quote
        threads.setdefault(conv, []).append((kind, agent, text))
    assert len(threads) == 300
    for conv, rows in threads.items():
        assert len({agent for kind, agent, _ in rows if kind == "outgoing"}) <= 1, conv
        for (a, _, _), (b, _, _) in itertools.pairwise(rows):
            assert not (a == b == "outgoing"), conv
        answers = [text for kind, _, text in rows if kind == "outgoing"]
        said = [a for a in answers if not any(w in a for w in wrap_ups)]
        assert len(said) == len(set(said)), conv


def test_demo_refuses_a_database_url_and_writes_no_file(tmp_path: Path) -> None:
    # The demo is built as a SQLite file: `--database-url` once built a file named after
    # the URL (`./postgresql+psycopg:/user@host:port/db`) and said it was built "at" it.
    import subprocess
    import sys

    url = "postgresql+psycopg://nobody@127.0.0.1:1/demo"
    done = subprocess.run(
        [sys.executable, "-m", "unibox_tui", "demo", "--generate-only", "--database-url", url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("unibox: error: ") and done.stderr.count("\n") == 1
    assert "--db FILE" in done.stderr
    assert list(tmp_path.iterdir()) == []
