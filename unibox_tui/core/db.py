"""Opening a workspace: one SQLite file in WAL mode, migrated to the current schema.

Opening is careful about files that are not ours: before anything is written, the file is
checked (SQLite header, our migration table, a known revision). A corrupt file, another
program's database, a file from a newer Unibox, a locked or unwritable path: each raises a
`WorkspaceError` with one line naming the problem, and the file is left byte-for-byte as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, SQLModel

from . import clock
from .errors import NotFound, WorkspaceError

# The newest migration this code knows. Opening a file at this revision needs no alembic
# import (keeps start-up fast); anything else goes through migrations.upgrade().
HEAD_REVISION = "0004"
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004")

SQLITE_HEADER = b"SQLite format 3\x00"
M = TypeVar("M", bound=SQLModel)


def default_path() -> Path:
    import platformdirs

    return platformdirs.user_data_path("unibox") / "workspace.db"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """--db, else $UNIBOX_DB, else the platform data dir."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get("UNIBOX_DB")
    return Path(env).expanduser() if env else default_path()


def _inspect(path: Path) -> str | None:
    """The file's migration revision, None for a new/empty file; raise if not ours."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    if path.is_dir():
        raise WorkspaceError(f"{path} is a directory; give --db a file path")
    try:
        with path.open("rb") as f:
            header = f.read(16)
    except PermissionError as e:
        raise WorkspaceError(f"cannot read {path}: permission denied") from e
    if header != SQLITE_HEADER:
        raise WorkspaceError(
            f"{path} is not a Unibox workspace (not an SQLite database); "
            "check --db / UNIBOX_DB or move the file away"
        )
    # Read-only: inspecting must never change the file. The path is quoted so `?` and `#`
    # in a file name stay part of the name.
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables:
                return None
            if "alembic_version" not in tables:
                raise WorkspaceError(
                    f"{path} is an SQLite database of another program, not a Unibox workspace; "
                    "choose another --db path"
                )
            # No integrity scan here: it reads the whole file on every open (seconds for a
            # large workspace). Damage shows up as an error when touched; `doctor` checks.
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise _db_error(path, e) from e
    revision = row[0] if row else None
    if revision not in KNOWN_REVISIONS and revision is not None:
        raise WorkspaceError(
            f"{path} was written by a newer Unibox (schema {revision}); upgrade unibox to open it"
        )
    return revision


def _db_error(path: Path, e: BaseException) -> WorkspaceError:
    text = str(getattr(e, "orig", e)).lower()
    if "locked" in text or "busy" in text:
        return WorkspaceError(
            f"{path} is locked by another process; close the other unibox or try again"
        )
    if "readonly" in text or "read-only" in text or "permission" in text:
        return WorkspaceError(f"{path} is not writable; check its permissions or choose --db")
    if "unable to open" in text:
        return WorkspaceError(f"cannot open {path}; check the folder exists and is writable")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return WorkspaceError(
            f"{path} is corrupt or not a Unibox workspace; restore a backup or choose --db"
        )
    return WorkspaceError(f"{path}: database error: {text}")


def _pragmas(busy_ms: int) -> Any:
    def on_connect(dbapi_con: sqlite3.Connection, _record: Any) -> None:
        _on_connect(dbapi_con, busy_ms)

    return on_connect


def _on_connect(dbapi_con: sqlite3.Connection, busy_ms: int) -> None:
    # SQLAlchemy's documented recipe: let us issue BEGIN ourselves (see _on_begin), so that
    # write transactions take the lock up front (BEGIN IMMEDIATE) instead of failing with
    # SQLITE_BUSY when a read transaction tries to upgrade.
    dbapi_con.isolation_level = None
    for pragma in (
        f"PRAGMA busy_timeout={busy_ms}",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        # Small per-connection page cache and no mmap: every pooled connection would
        # otherwise hold its own 64 MB and map the file, and the TUI's RSS target is 150 MB.
        # The OS page cache still keeps hot pages; measured query times did not change.
        "PRAGMA cache_size=-8000",
        "PRAGMA temp_store=MEMORY",
        "PRAGMA mmap_size=0",
    ):
        dbapi_con.execute(pragma)


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Tx:
    """One write transaction: an SQLModel session plus this write's change number."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self._seq: int | None = None

    @property
    def seq(self) -> int:
        """The workspace change sequence number of this write (taken on first use)."""
        if self._seq is None:
            row = self.session.connection().exec_driver_sql(
                "UPDATE sequence SET value = value + 1 WHERE name = 'seq' RETURNING value"
            )
            self._seq = int(row.scalar_one())
        return self._seq

    def stamp(self, row: SQLModel) -> SQLModel:
        """Mark a row as changed by this write and write it now.

        Flushing at once keeps statements in the order the command wrote them: the models
        declare foreign keys but no ORM relationships, so the unit of work cannot order them.
        """
        row.seq = self.seq  # type: ignore[attr-defined]
        row.updated_at = self.now  # type: ignore[attr-defined]
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, model: type[M], id: str, what: str | None = None) -> M:
        row = self.session.exec(select(model).where(model.id == id)).scalar_one_or_none()  # type: ignore[attr-defined,call-overload]
        if row is None:
            raise NotFound(f"no {what or model.__tablename__} with id {id}")
        return row

    def find(self, model: type[M], **where: Any) -> M | None:
        stmt = select(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return self.session.exec(stmt).scalars().first()  # type: ignore[call-overload]

    def next_number(self, name: str) -> int:
        conn = self.session.connection()
        conn.exec_driver_sql(
            "INSERT INTO sequence(name, value) VALUES (?, 0) ON CONFLICT(name) DO NOTHING",
            (name,),
        )
        row = conn.exec_driver_sql(
            "UPDATE sequence SET value = value + 1 WHERE name = ? RETURNING value", (name,)
        )
        return int(row.scalar_one())


class Workspace:
    """An open workspace database. Thread-safe: each read/write takes a pooled connection."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")

    @contextmanager
    def write(self, now: datetime | None = None) -> Iterator[Tx]:
        """A write transaction; commits on success, rolls back on any error."""
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield Tx(session, now or clock.utcnow())
        except OperationalError as e:
            raise _db_error(self.path, e) from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection for queries (a consistent snapshot while it is open)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as e:
            raise _db_error(self.path, e) from e

    def change_seq(self) -> int:
        """The latest change number: poll this to learn that anything changed."""
        with self.read() as conn:
            row = conn.exec_driver_sql("SELECT value FROM sequence WHERE name = 'seq'")
            return int(row.scalar_one())

    def setting(self, key: str, default: Any = None) -> Any:
        with self.read() as conn:
            row = conn.exec_driver_sql("SELECT value FROM setting WHERE key = ?", (key,)).first()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as tx:
            tx.session.connection().exec_driver_sql(
                "INSERT INTO setting(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def integrity(self) -> str:
        """SQLite's quick_check: "ok" or the first problem. Reads the whole file (doctor)."""
        with self.read() as conn:
            return str(conn.exec_driver_sql("PRAGMA quick_check(1)").scalar())

    def revision(self) -> str | None:
        with self.read() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(path: Path, busy_timeout: float = 5.0) -> Engine:
    url = URL.create("sqlite", database=str(path))  # no string pasting: `?`/`#` stay literal
    engine = create_engine(url, pool_size=8, max_overflow=8)
    event.listen(engine, "connect", _pragmas(int(busy_timeout * 1000)))
    event.listen(engine, "begin", _on_begin)
    return engine


def open_workspace(
    path: str | os.PathLike[str] | None = None, *, create: bool = True, busy_timeout: float = 5.0
) -> Workspace:
    """Open (creating and migrating as needed) the workspace at `path` (see resolve_path).

    `busy_timeout`: seconds a write waits for another process's lock before giving up."""
    target = resolve_path(path)
    revision = _inspect(target)
    if revision is None and not target.exists() and not create:
        raise WorkspaceError(f"no workspace at {target}; run `unibox demo` or pass --db")
    if not target.parent.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkspaceError(f"cannot create folder {target.parent}: {e.strerror}") from e
    if target.exists() and not os.access(target, os.W_OK):
        raise WorkspaceError(f"{target} is not writable; check its permissions or choose --db")
    if not os.access(target.parent, os.W_OK):
        raise WorkspaceError(
            f"folder {target.parent} is not writable (SQLite needs it for its WAL); choose --db"
        )
    engine = make_engine(target, busy_timeout)
    try:
        with engine.connect() as conn:
            # journal_mode is persistent in the file; it cannot change inside a transaction.
            raw = conn.connection.driver_connection
            mode = raw.execute("PRAGMA journal_mode=WAL").fetchone()[0]  # type: ignore[union-attr]
            if str(mode).lower() != "wal":
                raise WorkspaceError(f"{target}: cannot switch to WAL mode (got {mode})")
            conn.rollback()
        if revision != HEAD_REVISION:
            from .migrations import upgrade

            upgrade(engine)
    except (DBAPIError, sqlite3.Error) as e:
        engine.dispose()
        raise _db_error(target, e) from e
    except BaseException:
        engine.dispose()
        raise
    return Workspace(target, engine)
