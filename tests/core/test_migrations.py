"""Schema migrations, and opening files that are not (or not yet) ours."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import HEAD_REVISION, open_workspace
from unibox_tui.core.errors import WorkspaceError

DATA = Path(__file__).parent.parent / "data"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_workspace_from_the_first_schema_upgrades_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(DATA / "workspace_0001.db", path)
    with open_workspace(path) as ws:
        assert ws.revision() == HEAD_REVISION
        row = q.conversation(ws, "c1", access=EVERYTHING)
        assert (row.subject, row.contact_name, row.assignee, row.message_count) == (
            "Lost luggage voucher",
            "Gunnhild Ødegård",
            "ana",
            2,
        )
        assert [m.body for m in q.thread(ws, "c1", access=EVERYTHING)] == [
            "My suitcase never arrived in Tromsø",
            "Thanks, a voucher is on its way",
        ]
        # 0002 indexed what the old file held: bodies, subjects and contact names.
        assert [h.row.id for h in q.search(ws, "suitcase tromsø", access=EVERYTHING)] == ["c1"]
        assert [h.row.id for h in q.search(ws, "luggage", access=EVERYTHING)] == ["c1"]
        assert [h.row.id for h in q.search(ws, "gunnhild", access=EVERYTHING)] == ["c1"]
        # And the upgraded file takes new writes like a new one.
        cmd.comment(ws, "c1", "upgraded fine", actor="ana")
        assert ws.change_seq() == 3  # 1 in the file, 2 for 0007's default pipeline
        # 0007 gave the workspace the default pipeline, and its inbox that as its default.
        with ws.read() as conn:
            assert conn.exec_driver_sql(
                "SELECT p.name, s.name FROM inbox i JOIN pipeline p ON p.id = i.default_pipeline_id "
                "JOIN pipeline_stage s ON s.id = i.default_stage_id"
            ).all() == [("Support", "New")]
            stages = (
                conn.exec_driver_sql("SELECT name FROM pipeline_stage ORDER BY position")
                .scalars()
                .all()
            )
        assert stages == ["New", "Waiting on contact", "Waiting on us", "Closed"]
        # 0005 dropped the per-row insert triggers: new rows are indexed at commit instead.
        assert [h.row.id for h in q.search(ws, "upgraded", access=EVERYTHING)] == ["c1"]
    with open_workspace(path) as ws:  # the second open is the fast path
        assert ws.revision() == HEAD_REVISION


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    with open_workspace(tmp_path / "new.db") as ws, ws.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, SQLModel.metadata)
    # The FTS virtual tables (and their shadow tables) exist only in the migration.
    diff = [d for d in diff if not (d[0] == "remove_table" and "_fts" in d[1].name)]
    assert diff == []


def test_newer_workspace_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_workspace(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '9999'")
    con.commit()
    con.close()
    before = digest(path)
    with pytest.raises(WorkspaceError, match="newer Unibox"):
        open_workspace(path)
    assert digest(path) == before


def test_corrupt_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database at all\n" * 100)
    before = digest(path)
    with pytest.raises(WorkspaceError, match="not a Unibox workspace"):
        open_workspace(path)
    assert digest(path) == before and not Path(f"{path}-wal").exists()


def test_damaged_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    shutil.copy(DATA / "workspace_0001.db", path)
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # scribble over a page
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(WorkspaceError, match="corrupt"):
        open_workspace(path)
    assert digest(path) == before


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE recipes(name TEXT)")
    con.commit()
    con.close()
    before = digest(path)
    with pytest.raises(WorkspaceError, match="another program"):
        open_workspace(path)
    assert digest(path) == before


def test_locked_workspace_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with open_workspace(path) as ws:
        cmd.create_agent(ws, "Ana", "ana")
    # Another process holds an exclusive lock for longer than the busy timeout.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout and holder.stdout.readline().strip() == "locked"
        with open_workspace(path, busy_timeout=0.2) as ws:
            with pytest.raises(WorkspaceError, match="locked by another process"):
                cmd.create_agent(ws, "Bo", "bo")
    finally:
        holder.kill()
        holder.wait()
    with open_workspace(path) as ws:
        assert [a.handle for a in q.agents(ws)] == ["ana"]


def test_unwritable_folder_gives_one_line(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="is a directory"):
        open_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="no workspace at"):
        open_workspace(tmp_path / "missing.db", create=False)


def test_reads_from_many_threads_keep_a_bounded_pool_and_nested_reads_share_a_snapshot(
    tmp_path: Path,
) -> None:
    import threading

    from unibox_tui.core.db import READER_POOL

    with open_workspace(tmp_path / "t.db") as ws:
        threads = [threading.Thread(target=ws.change_seq) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ws._idle) <= READER_POOL  # threads come and go; connections do not pile up
        with ws.read() as outer:
            before = outer.exec_driver_sql("SELECT value FROM sequence WHERE name='seq'").scalar()
            writer = threading.Thread(target=lambda: cmd.create_agent(ws, "Ana", "ana"))
            writer.start()
            writer.join()
            with ws.read() as inner:  # the same snapshot: the new write is not seen yet
                assert (
                    inner.exec_driver_sql("SELECT value FROM sequence WHERE name='seq'").scalar()
                    == before
                )
        assert ws.change_seq() == before + 1


def test_new_workspaces_opened_by_several_threads_at_once_all_migrate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """alembic keeps its context in module state: unguarded, threads opening new files at
    once failed ("table agent already exists", KeyError 'config') or crashed the process.
    In a subprocess, so a crash is a failure here and not the end of the test run."""
    import subprocess
    import sys

    script = f"""
import threading
from unibox_tui.core.db import open_workspace
errors = []
def go(i):
    try:
        for j in range(3):
            open_workspace({str(tmp_path)!r} + f"/w{{i}}-{{j}}.db").close()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
