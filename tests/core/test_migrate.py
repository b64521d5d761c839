"""`unibox migrate --from FILE --to postgresql+psycopg://...` (core/move.py): a workspace file
moved into a real PostgreSQL, compared row by row, then used through the CLI there."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import T0, later
from unibox_tui.core import changes
from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace
from unibox_tui.core.migrations.postgres import ROWID_TABLES

UNIBOX = [sys.executable, "-m", "unibox_tui"]
BLOB = bytes(range(256)) * 3  # every byte value, NUL and invalid UTF-8 included


def unibox(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run([*UNIBOX, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace plus what the demo does not make: an attachment's bytes, a merge
    (its redirect), a comment with a mention (a notification), tags and a tombstone."""
    path = tmp_path_factory.mktemp("src") / "workspace.db"
    done = unibox("demo", "--conversations", "120", "--generate-only", "--db", str(path))
    assert done.returncode == 0, done.stderr
    with open_workspace(path) as ws, ws.read() as conn:
        email = conn.exec_driver_sql("SELECT id FROM channel WHERE kind = 'email'").scalar()
        ana = conn.exec_driver_sql("SELECT id FROM agent ORDER BY handle").scalar()
        handles = conn.exec_driver_sql("SELECT handle FROM agent ORDER BY handle").scalars().all()
    with open_workspace(path) as ws:
        files = (cmd.IncomingAttachment("scan.bin", "application/octet-stream", len(BLOB), BLOB),)
        first = cmd.ingest(
            ws,
            cmd.Incoming(
                email, "email", "zed@example.com", "Zed", "See file", T0, "Scan", attachments=files
            ),
        ).conversation_id
        second = cmd.ingest(
            ws, cmd.Incoming(email, "email", "zed@example.com", "Zed", "Again", later(1), "Re")
        ).conversation_id
        cmd.merge_conversations(ws, first, second, actor=ana)
        cmd.comment(ws, first, f"@{handles[1]} look at the scan", actor=ana)
        cmd.tag(ws, first, "vip", actor=ana)
        cmd.tag(ws, first, "later", actor=ana)
        cmd.untag(ws, first, "later", actor=ana)  # a tombstone
    return path


def table_rows(con, table: str, columns: list[str]) -> list[tuple]:  # type: ignore[no-untyped-def]
    names = ", ".join(f'"{c}"' if c != "rowid" else "rowid" for c in columns)
    rows = con.execute(f'SELECT {names} FROM "{table}"').fetchall()
    return sorted((tuple(r) for r in rows), key=repr)


def test_migrate_copies_every_row_and_the_workspace_works_there(
    source: Path, postgres_server
) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.database()
    done = unibox("migrate", "--from", str(source), "--to", url, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["checked"] is True and summary["tables"]["attachment"] == 1

    lite = sqlite3.connect(source)
    pg = psycopg.connect(url.replace("+psycopg", ""))
    tables = [
        r[0]
        for r in pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
        if not r[0].endswith("_fts")
    ]
    assert set(summary["tables"]) == set(tables) - {"alembic_version"}
    for table in tables:
        columns = [
            r[0]
            for r in pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "ORDER BY ordinal_position",
                (table,),
            )
        ]
        assert table_rows(pg, table, columns) == table_rows(lite, table, columns), table
    blob = pg.execute("SELECT data FROM attachment").fetchone()[0]
    assert bytes(blob) == BLOB
    # The search index was rebuilt: one entry per searchable message and per conversation.
    for table, expected in (
        ("message_fts", "SELECT count(*) FROM message WHERE kind != 'activity'"),
        ("conversation_fts", "SELECT count(*) FROM conversation"),
    ):
        got = pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert got == lite.execute(expected).fetchone()[0]
    seq = lite.execute("SELECT value FROM sequence WHERE name = 'seq'").fetchone()[0]
    lite.close()
    pg.close()
    # The change log reads the same: what a hub sends a new client, tombstones included.
    with open_workspace(source, read_only=True) as a, open_workspace(url) as b:
        pages = [changes.changes_since(w, 0, None, 10_000) for w in (a, b)]
    assert pages[0] == pages[1]
    assert any("deleted" in c for c in pages[0].changes)  # the untag's tombstone

    # The same list through the CLI on both, then a write on PostgreSQL takes the next
    # change number and new serial values (no clash with a copied rowid).
    listed = [
        json.loads(unibox("conversations", "list", *where, "--json", "--limit", "30").stdout)
        for where in (("--db", str(source)), ("--database-url", url))
    ]
    assert listed[0] == listed[1]
    first = listed[1]["conversations"][0]["id"]
    done = unibox(
        "conversations", "comment", first, "--text", "moved fine", "--database-url", url,
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open_workspace(url) as ws:
        assert ws.change_seq() == seq + 1
        with ws.read() as conn:
            rowids = conn.exec_driver_sql(
                "SELECT count(DISTINCT rowid), count(*) FROM notification"
            ).one()
    assert rowids[0] == rowids[1]
    shown = unibox("conversations", "show", first, "--database-url", url, "--json")
    assert "moved fine" in shown.stdout

    # PostgreSQL to PostgreSQL: the same path, read through a server-side cursor.
    again = postgres_server.database()
    done = unibox("migrate", "--from", url, "--to", again, "--json")
    assert done.returncode == 0, done.stderr
    moved = json.loads(done.stdout)["tables"]
    assert moved["message"] == summary["tables"]["message"] + 1  # with the new comment
    assert moved["attachment"] == 1
    postgres_server.drop(again)
    postgres_server.drop(url)


def test_a_target_holding_a_workspace_or_an_interrupted_move_needs_replace(
    source: Path, postgres_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.workspace()  # an (empty) workspace already
    done = unibox("migrate", "--from", str(source), "--to", url)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "already holds a workspace; pass --replace" in done.stderr

    # A source PostgreSQL cannot take (a NUL character in a text column) stops the copy
    # half-way, as an interruption would: nothing of it is kept, the target stays marked.
    broken = tmp_path / "broken.db"
    broken.write_bytes(source.read_bytes())
    with sqlite3.connect(broken) as con:
        con.execute(
            "UPDATE message SET body = 'a' || char(0) || 'b' WHERE rid = (SELECT max(rid) FROM message)"
        )
    done = unibox("migrate", "--from", str(broken), "--to", url, "--replace")
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]  # after a progress line per table copied
    assert last.startswith("unibox: error: copying table message into") and "NUL" in last
    assert "nothing was kept" in last
    refused = unibox("conversations", "list", "--database-url", url)
    assert refused.returncode == 1 and "unfinished `unibox migrate`" in refused.stderr
    done = unibox("migrate", "--from", str(source), "--to", url)
    assert done.returncode == 1 and "already holds an unfinished" in done.stderr
    done = unibox("migrate", "--from", str(source), "--to", url, "--replace")
    assert done.returncode == 0, done.stderr
    assert "every table's count checked" in done.stdout
    assert unibox("conversations", "list", "--database-url", url).returncode == 0
    postgres_server.drop(url)


def test_bad_input_is_one_line_and_never_shows_the_password(
    source: Path, postgres_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from servers.dovecot import free_port

    nobody = f"postgresql+psycopg://ana:s3cr3t@127.0.0.1:{free_port()}/unibox"
    old = tmp_path / "old.db"
    old.write_bytes(source.read_bytes())
    with sqlite3.connect(old) as con:
        con.execute("UPDATE alembic_version SET version_num = '0024'")
    cases = {
        (str(source), nobody): "cannot connect to postgresql+psycopg://ana:***@",
        (str(source), "mysql://ana:s3cr3t@db/unibox"): "unknown URL scheme 'mysql'",
        (str(tmp_path / "missing.db"), postgres_server.url()): "no workspace at",
        (str(old), postgres_server.url()): "unibox doctor --db",
        (str(source), str(source)): "the same workspace",
        (
            postgres_server.url(),
            postgres_server.url().replace("+psycopg://postgres@127.0.0.1", "://postgres@localhost"),
        ): "the same workspace",
    }
    for (src, dst), expected in cases.items():
        done = unibox("migrate", "--from", src, "--to", dst)
        assert done.returncode == 1, (src, dst)
        assert done.stderr.startswith("unibox: error: ") and expected in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "s3cr3t" not in done.stderr + done.stdout
    done = unibox("conversations", "list", "--database-url", "mysql://ana:s3cr3t@db/unibox")
    assert done.returncode == 1 and "mysql://ana:***@db/unibox" in done.stderr
    assert "s3cr3t" not in done.stderr
    with sqlite3.connect(old) as con:  # refused, not upgraded: the source is never changed
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0024"


def test_file_to_file_is_an_exact_copy(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    done = unibox("migrate", "--from", str(source), "--to", str(target), "--json")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        for (table,) in a.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            if table.startswith(("sqlite_", "message_fts", "conversation_fts")):
                continue
            rowid = ["rowid"] if table in ROWID_TABLES else []
            columns = [r[1] for r in a.execute(f'PRAGMA table_info("{table}")')] + rowid
            assert table_rows(a, table, columns) == table_rows(b, table, columns), table
    again = unibox("migrate", "--from", str(source), "--to", str(target))
    assert again.returncode == 1 and "--replace" in again.stderr
    search = unibox("search", "scan", "--db", str(target), "--json")
    assert search.returncode == 0 and json.loads(search.stdout)["results"]
