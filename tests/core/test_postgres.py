"""A workspace on a real PostgreSQL: the migrations, the translation of SQLite's SQL, and
the CLI's --database-url / UNIBOX_DATABASE_URL (the commands and queries themselves run on
both databases in the modules marked `both_databases`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from tests.conftest import T0
from unibox_tui.core import commands as cmd
from unibox_tui.core import models  # noqa: F401  (the tables SQLModel.metadata compares)
from unibox_tui.core.db import HEAD_REVISION, open_workspace
from unibox_tui.core.errors import WorkspaceError
from unibox_tui.core.migrations.postgres import translate, trigger
from unibox_tui.core.postgres import PgWorkspace

UNIBOX = [sys.executable, "-m", "unibox_tui"]


@pytest.fixture(scope="module")
def pg_url(postgres_server) -> str:  # type: ignore[no-untyped-def]
    """One migrated workspace for the read-only checks of this module."""
    url = postgres_server.workspace()
    yield url
    postgres_server.drop(url)


def test_the_migrations_make_the_models_schema(pg_url: str) -> None:
    with open_workspace(pg_url) as ws:
        assert isinstance(ws, PgWorkspace)
        assert ws.revision() == HEAD_REVISION
        with ws.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, SQLModel.metadata)
    # The search tables exist only in the migrations (FTS5 on SQLite, tsvector here).
    diff = [d for d in diff if not (d[0] == "remove_table" and "_fts" in d[1].name)]
    diff = [d for d in diff if not (d[0] == "remove_index" and "_fts" in d[1].table.name)]
    # SQLite's hidden row number, a real column on PostgreSQL (migrations/postgres.py).
    diff = [d for d in diff if not (d[0] == "remove_column" and d[3].name == "rowid")]
    assert diff == []


def test_every_sqlite_trigger_has_a_postgresql_twin(pg_url: str, tmp_path: Path) -> None:
    with open_workspace(tmp_path / "ws.db") as lite, lite.read() as conn:
        sqlite_triggers = set(
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            .scalars()
            .all()
        )
    with open_workspace(pg_url) as ws, ws.read() as conn:
        pg_triggers = set(
            conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").scalars()
        )
    assert pg_triggers == sqlite_triggers


def test_translation_of_sqlite_sql() -> None:
    assert translate("SELECT a FROM t WHERE x = ? AND y LIKE '%?%'", True) == (
        "SELECT a FROM t WHERE x = %s AND y LIKE '%%?%%'"
    )
    assert translate("SELECT 1 FROM t WHERE a IS NOT ? AND b IS NOT NULL AND c IS ?") == (
        "SELECT 1 FROM t WHERE a IS DISTINCT FROM ? AND b IS NOT NULL AND c IS NOT DISTINCT FROM ?"
    )
    assert translate("INSERT OR IGNORE INTO r (a) VALUES (1)") == (
        "INSERT INTO r (a) VALUES (1) ON CONFLICT DO NOTHING"
    )
    assert translate(
        "INSERT INTO k (a, n) VALUES (1, 1) ON CONFLICT (a) DO UPDATE SET n = n + 1"
    ) == ("INSERT INTO k (a, n) VALUES (1, 1) ON CONFLICT (a) DO UPDATE SET n = k.n + 1")
    assert translate("SELECT x FROM t WHERE 1 AND (0 OR y) LIMIT 1") == (
        "SELECT x FROM t WHERE TRUE AND (FALSE OR y) LIMIT 1"
    )
    made = trigger(
        "CREATE TRIGGER t_ins AFTER INSERT ON m WHEN new.kind != 'x' BEGIN "
        "UPDATE c SET n = n + 1 WHERE id = new.c_id; INSERT OR IGNORE INTO h (a) VALUES (new.a); END"
    )
    assert made == [
        "CREATE OR REPLACE FUNCTION trg_t_ins() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN "
        "UPDATE c SET n = n + 1 WHERE id = new.c_id; INSERT INTO h (a) VALUES (new.a) "
        "ON CONFLICT DO NOTHING; RETURN NULL; END $fn$",
        "CREATE TRIGGER t_ins AFTER INSERT ON m FOR EACH ROW WHEN (new.kind != 'x') "
        "EXECUTE FUNCTION trg_t_ins()",
    ]


def test_a_foreign_database_is_refused_untouched(postgres_server) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    url = postgres_server.database()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(WorkspaceError, match="another program"):
        open_workspace(url)
    with psycopg.connect(plain, autocommit=True) as con:
        tables = con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    assert tables == [("invoices",)]
    postgres_server.drop(url)


def test_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(WorkspaceError, match="cannot connect to postgresql"):
        open_workspace("postgresql+psycopg://postgres@127.0.0.1:1/nothing")


def test_change_numbers_are_taken_in_commit_order_by_concurrent_writers(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    """Two writers at once: the second waits on the change-number row, so numbers become
    visible in number order (a reader never sees N+1 before N)."""
    import threading

    url = postgres_server.workspace()
    with open_workspace(url) as ws:
        cmd.create_agent(ws, "Ana Lima", "ana")
        start = ws.change_seq()
        inside = threading.Event()
        release = threading.Event()
        seen: list[int] = []

        def first() -> None:
            with ws.write() as tx:
                seen.append(tx.seq)
                inside.set()
                release.wait(20)

        t = threading.Thread(target=first)
        t.start()
        assert inside.wait(20)
        second_done = threading.Event()

        def second() -> None:
            with ws.write() as tx:
                seen.append(tx.seq)
            second_done.set()

        t2 = threading.Thread(target=second)
        t2.start()
        # The second writer cannot take a number while the first holds the row.
        assert not second_done.wait(0.3)
        assert ws.change_seq() == start
        release.set()
        t.join(20)
        t2.join(20)
        assert seen == [start + 1, start + 2]
        assert ws.change_seq() == start + 2
    postgres_server.drop(url)


def test_a_batch_holds_the_counter_to_its_commit_and_notifies_its_last_number_once(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    """A batch (the hub's group commit) takes the change-number row with its first write
    and counts on in memory: a writer outside waits for its commit and takes the number
    after the batch's last; the listening hub nodes get ONE notification, the batch's last
    number (one per write was a round trip, a NOTIFY and a wake of every node each)."""
    import threading

    import psycopg

    from unibox_tui.core.postgres import conninfo

    url = postgres_server.workspace()
    with open_workspace(url) as ws, psycopg.connect(conninfo(url), autocommit=True) as listen:
        listen.execute("LISTEN unibox_changes")
        start = ws.change_seq()
        inside, outside_done = threading.Event(), threading.Event()
        outside: list[int | None] = []

        def writer_outside() -> None:
            inside.wait(20)
            ws.set_setting("outside", 1)
            outside.append(ws.last_write_seq())
            outside_done.set()

        t = threading.Thread(target=writer_outside)
        t.start()
        with ws.batch():
            for i in range(3):
                ws.set_setting(f"in_batch_{i}", i)
                if i == 0:
                    inside.set()
                    # The outside writer cannot take a number while the batch holds the row.
                    assert not outside_done.wait(0.3)
        t.join(20)
        assert outside == [start + 4]
        got: list[int] = []
        for note in listen.notifies(timeout=20):
            got.append(int(note.payload))
            if got[-1] == start + 4:
                break
        assert got == [start + 3, start + 4]
    postgres_server.drop(url)


def test_view_counts_and_reports_are_kept_by_the_translated_triggers(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    url = postgres_server.workspace()
    with open_workspace(url) as ws:
        ana = cmd.create_agent(ws, "Ana Lima", "ana")
        cmd.create_inbox(ws, "Support")
        email = cmd.add_channel(ws, "Support", "email", "Support mail")
        conv = cmd.ingest(
            ws,
            cmd.Incoming(
                channel_id=email,
                identity_kind="email",
                identity_value="carla@example.com",
                contact_name="Carla Souza",
                body="Where is my order?",
                created_at=T0,
                subject="Order late",
            ),
        ).conversation_id
        cmd.reply(ws, conv, "It ships today.", actor="ana")
        cmd.close(ws, conv, actor="ana")
        with ws.read() as conn:
            counts = conn.exec_driver_sql(
                "SELECT status, unread, sum(n) FROM conversation_count WHERE n > 0 "
                "GROUP BY status, unread"
            ).all()
            report = conn.exec_driver_sql(
                "SELECT metric, sum(n) FROM report_count WHERE metric IN "
                "('opened', 'in', 'reply', 'handled', 'closed') GROUP BY metric ORDER BY metric"
            ).all()
            first = conn.exec_driver_sql(
                "SELECT first_reply_agent_id FROM report_conversation"
            ).scalar()
        assert counts == [("closed", 0, 1)]
        assert report == [("closed", 1), ("handled", 1), ("in", 1), ("opened", 1), ("reply", 1)]
        assert first == ana
    postgres_server.drop(url)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UNIBOX, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_cli_runs_against_postgresql_with_database_url_or_env(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    url = postgres_server.database()  # empty: `unibox init` makes the workspace
    made = _cli(
        "init", "--database-url", url, "--name", "Ana Lima", "--handle", "ana",
        "--email", "ana@acme.example", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    added = _cli("--database-url", url, "agent", "add", "Bo Chen", "--handle", "bo", "--as", "ana")
    assert added.returncode == 0, added.stderr
    listed = _cli("agent", "list", "--json", env={"UNIBOX_DATABASE_URL": url})
    assert listed.returncode == 0, listed.stderr
    assert sorted(a["handle"] for a in json.loads(listed.stdout)["agents"]) == ["ana", "bo"]
    doctor = _cli("doctor", "--database-url", url, "--json")
    report = json.loads(doctor.stdout)
    assert report["db"]["revision"] == HEAD_REVISION
    assert report["db"]["agent"] == 2
    assert "postgres@127.0.0.1" in report["db"]["path"]
    postgres_server.drop(url)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--database-url", "mysql://x/y"),
            "unibox: error: --database-url 'mysql://x/y' is not a PostgreSQL URL",
        ),
        (
            ("--database-url", "postgresql+psycopg://u@h/d", "--db", "x.db"),
            "unibox: error: give --db FILE or --database-url URL, not both",
        ),
        (
            ("--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/none"),
            "unibox: error: cannot connect to postgresql+psycopg://postgres@127.0.0.1:1/none",
        ),
    ],
)
def test_cli_bad_database_url_is_one_line(args: tuple[str, ...], message: str) -> None:
    done = _cli("inbox", "list", *args)
    assert done.returncode == 1
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("redis", "message"),
    [
        ("http://127.0.0.1:1", "unibox: error: --redis takes a URL like redis://"),
        ("redis://127.0.0.1:1/0", "unibox: error: cannot reach Redis at redis://127.0.0.1:1/0"),
    ],
)
def test_the_hub_on_postgresql_refuses_a_bad_redis_in_one_line(
    pg_url: str, redis: str, message: str
) -> None:
    """(`unibox hub --database-url` itself runs in tests/hub/test_hub_nodes.py.)"""
    done = _cli("hub", "--database-url", pg_url, "--listen", "127.0.0.1:1", "--redis", redis)
    assert done.returncode == 1
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list(Path.cwd().glob("postgresql*"))  # no file made beside a "path"
