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
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import clock, search_index
from .errors import NotFound, WorkspaceError

# SQLAlchemy and SQLModel (~250 ms to import) load with the first write, not at start-up:
# reads go straight through sqlite3 (ReadConnection), so the inbox paints before the ORM
# has even been imported.
if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection
    from sqlmodel import Session, SQLModel

# The newest migration this code knows. Opening a file at this revision needs no alembic
# import (keeps start-up fast); anything else goes through migrations.upgrade().
HEAD_REVISION = "0031"
KNOWN_REVISIONS = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012",
    "0013",
    "0014",
    "0015",
    "0016",
    "0017",
    "0018",
    "0019",
    "0020",
    "0021",
    "0022",
    "0023",
    "0024",
    "0025",
    "0026",
    "0027",
    "0028",
    "0029",
    "0030",
    "0031",
)

# A workspace that `unibox migrate` is still copying into (or was interrupted copying into)
# has `<revision>+unfinished` as its revision: every open refuses it (core/move.py).
UNFINISHED = "+unfinished"

SQLITE_HEADER = b"SQLite format 3\x00"
# --db / --database-url values that name a PostgreSQL server, not a file (core/postgres.py).
URL_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")
_MIGRATING = threading.Lock()  # one migration at a time in a process (see open_workspace)
READER_POOL = 4  # idle read connections kept (each may cache up to 8 MB of pages)
M = TypeVar("M", bound="SQLModel")


def default_path() -> Path:
    import platformdirs

    return platformdirs.user_data_path("unibox") / "workspace.db"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """--db, else $UNIBOX_DB, else the platform data dir."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get("UNIBOX_DB")
    return Path(env).expanduser() if env else default_path()


def database_url(target: str | os.PathLike[str] | None) -> str | None:
    """The PostgreSQL URL that `target` (--db / --database-url) names, or that
    $UNIBOX_DATABASE_URL gives when nothing is named; None for a workspace file."""
    if target is None:
        return os.environ.get("UNIBOX_DATABASE_URL") or None
    text = str(target)
    return text if text.startswith(URL_SCHEMES) else None


def workspace_exists(target: str | os.PathLike[str] | None) -> bool:
    """Is there a workspace (any revision) at --db / --database-url yet?"""
    url = database_url(target)
    if url is None:
        return resolve_path(target).exists()
    from .postgres import check_server, head

    check_server(url)
    return head(url) is not None


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
    # Read-only: inspecting must never change the file, nor put anything beside it. A WAL
    # database opened with mode=ro still creates empty -wal/-shm files (and cannot remove
    # them again); with no -wal there is nothing to read from one and no writer at work, so
    # the file is opened immutable: SQLite then reads only the file itself.
    try:
        con = sqlite3.connect(
            _uri(path, read_only=True, immutable=not _wal(path).exists()), uri=True, timeout=5
        )
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


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _uri(path: Path, *, read_only: bool = False, immutable: bool = False) -> str:
    """An SQLite URI for `path`; quoted so `?` and `#` in a file name stay part of the name."""
    uri = f"file:{urllib.parse.quote(str(path))}"
    if immutable:
        return uri + "?mode=ro&immutable=1"
    return uri + "?mode=ro" if read_only else uri


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


def _stamp_pending(session: Session, _context: Any, _instances: Any) -> None:
    tx = session.info.get("unibox_tx")
    if tx is not None:
        tx.stamp_pending(session)


@dataclass
class _Batch:
    """The one transaction of `Workspace.batch()`: its session, the rows it keeps loaded,
    and the rowids before it began (its new rows are indexed once, at the end)."""

    session: Session
    since: tuple[int, int]
    keep: list[Any] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    # Change numbers: the counter row is taken (`NEXT_SEQ`) by the batch's first write that
    # needs a number, which locks it (the writer's lock on SQLite, the row's on PostgreSQL)
    # until the batch commits; the later writes count on from it here, and the row is set
    # to the last number once, at the end (`LAST_SEQ`). One statement per batch instead of
    # one per command: on PostgreSQL each was a round trip, a NOTIFY sent and a wake of
    # every listening node (benchmarks/hub_push.py --postgres).
    seq: int | None = None  # the last number a write of the batch took
    stored: int | None = None  # what the counter row holds in the transaction
    # PostgreSQL: the last command's savepoint is still open; the next command's start
    # releases it in the same round trip (`RELEASE ...; SAVEPOINT ...`), the commit ends it.
    # Only a command's own (outermost) write leaves it so: a write inside another is
    # released at once, or the outer one's rollback would stop at the inner's savepoint.
    release: bool = False
    depth: int = 0  # writes open now (a command's, and any write inside it)
    # PostgreSQL, `batch(later=True)`: the writes no command reads the result of, sent
    # without waiting for them; the next statement that needs an answer waits for them all
    # (core/postgres.Later).
    later: Any = None

    def undone(self, numbered: tuple[int | None, int | None]) -> None:
        """A command of the batch failed and is undone: its change numbers (`numbered`, as
        before it) are given again, and what the batch remembers forgets it: the memo may
        hold what it changed, the session rows in a state the database no longer has."""
        self.seq, self.stored = numbered
        self.memo.clear()
        self.keep.clear()
        self.session.expunge_all()


NEXT_SEQ = "UPDATE sequence SET value = value + 1 WHERE name = 'seq' RETURNING value"
# On PostgreSQL the same statement also notifies the hub nodes that listen (hub/node.py) of
# the change number: the server sends it when the write commits (never for one rolled back),
# whoever wrote, so no writer can forget; a listener knows the new head without a query.
NEXT_SEQ_POSTGRES = (
    f"WITH s AS ({NEXT_SEQ}) SELECT value, pg_notify('unibox_changes', value::text) FROM s"
)
# A batch's last number, written once at its end (and on PostgreSQL notified, once).
LAST_SEQ = "UPDATE sequence SET value = ? WHERE name = 'seq'"
LAST_SEQ_POSTGRES = (
    "WITH s AS (UPDATE sequence SET value = ? WHERE name = 'seq' RETURNING value) "
    "SELECT pg_notify('unibox_changes', value::text) FROM s"
)


class Tx:
    """One write transaction: an SQLModel session plus this write's change number."""

    # The hub's record of connected apps (core/presence.py), from the Workspace; None when
    # embedded. Routing asks it whether an agent counts as away.
    presence: Any = None
    # The hub's record of connected chat visitors (a Presence keyed by chat identity), from
    # the Workspace; None when embedded. A reply to a visitor who left goes by e-mail.
    visitors: Any = None

    def __init__(self, session: Session, now: datetime, batch: _Batch | None = None) -> None:
        self.session = session
        self.now = now
        self._seq: int | None = None
        self._batch = batch
        self._now_db: str | None = None  # `now` as stored (stamped)
        # In a batch, rows found by id stay referenced until it ends (the session's identity
        # map holds rows weakly: without this each command loads them again).
        self._keep = batch.keep if batch is not None else None
        # Lookups derived from rows (access rules), kept for the write or the whole batch;
        # emptied when a flush touches a table they come from (MEMO_TABLES).
        self.memo: dict[Any, Any] = batch.memo if batch is not None else {}
        connection = session.connection()
        self._run = connection.exec_driver_sql
        # The same connection's sqlite3 `execute`, past SQLAlchemy's statement machinery (a
        # third of a hub comment's CPU went there): the hot commands write through it, and
        # sqlite3 keeps their statements prepared (its per-connection statement cache).
        driver = connection.connection.driver_connection
        assert driver is not None  # a live connection (the session just opened it)
        self._driver = driver
        self.postgres = connection.dialect.name == "postgresql"
        self.sql: Callable[..., sqlite3.Cursor] = driver.execute
        # A write whose result the command does not read: as `sql` on SQLite (no round trip
        # to save); in a PostgreSQL batch with a Later, sent without waiting for its result
        # (core/postgres.Later).
        self.later: Callable[..., Any] = driver.execute
        self._later = batch.later if batch is not None else None
        if self.postgres:  # the same SQL, translated (core/postgres.py)
            from .postgres import executor

            self.sql = executor(driver, self._later)
            self.later = self.sql if self._later is None else self._later.add
        # New rows are indexed for search when the transaction ends: this write's, or the
        # batch's (once for all its commands).
        self._since = search_index.marks(self._run) if batch is None else None
        if "unibox_tx" not in session.info:
            from sqlalchemy import event

            event.listen(session, "before_flush", _stamp_pending)
        session.info["unibox_tx"] = self

    def stamp_pending(self, session: Session) -> None:
        """Every row this write changes takes its change number, even one a command changed
        without `stamp`: a row that missed it would never reach a replica (core/changes.py)."""
        if self.memo and any(
            getattr(row, "__tablename__", "") in MEMO_TABLES
            for row in (*session.new, *session.dirty, *session.deleted)
        ):
            self.memo.clear()
        for row in (*session.new, *session.dirty):
            if hasattr(row, "seq") and (row in session.new or session.is_modified(row)):
                if row.seq != self.seq:
                    row.seq = self.seq
                    row.updated_at = self.now

    @property
    def in_batch(self) -> bool:
        """Is this write one command of a batch (`Workspace.batch`)?"""
        return self._batch is not None

    def cursor(self) -> sqlite3.Cursor:
        """A DBAPI cursor of this transaction's connection, taking SQLite's SQL on either
        database (for a command that runs many statements past SQLAlchemy)."""
        if self.postgres:
            from .postgres import Cursor

            return Cursor(self._driver.cursor(), self._later)  # type: ignore[return-value]
        return self._driver.cursor()

    def later_many(self, sql: str, rows: Any) -> None:
        """`later` for each of `rows` (executemany, when sent at once)."""
        if self._later is not None:
            self._later.add_many(sql, rows)
        else:
            self.cursor().executemany(sql, rows)

    def finish(self) -> None:
        """Before the commit: write what is pending and index the rows this write inserted."""
        self.session.flush()
        if self._since is not None:
            search_index.index_new(self._run, self._since, postgres=self.postgres)

    @property
    def seq(self) -> int:
        """The workspace change sequence number of this write (taken on first use)."""
        if self._seq is None:
            batch = self._batch
            if batch is None:
                row = self.sql(NEXT_SEQ_POSTGRES if self.postgres else NEXT_SEQ).fetchone()
                self._seq = int(row[0])
            elif batch.seq is None:  # the batch's first: takes the counter row
                batch.seq = batch.stored = int(self.sql(NEXT_SEQ).fetchone()[0])
                self._seq = batch.seq
            else:  # the row is the batch's until it commits: count on
                batch.seq += 1
                self._seq = batch.seq
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

    def stamped(self) -> tuple[int, str]:
        """(change number, updated_at as stored) for a row a command writes in plain SQL
        (`Tx.sql`): what `stamp` sets on an ORM row."""
        if self._now_db is None:
            self._now_db = clock.to_db(self.now)
        return self.seq, self._now_db  # type: ignore[return-value]

    def forget(self, model: type[SQLModel], rid: int) -> None:
        """After a plain-SQL UPDATE of a row: a loaded copy of it in this session (a batch's
        earlier command may still hold one) is expired, so the ORM reads it again."""
        key = (model, (rid,), None)  # SQLAlchemy's identity key: (class, primary key, token)
        row = self.session.identity_map.get(key)
        if row is not None:
            self.session.expire(row)

    def delete(self, row: SQLModel) -> None:
        """Delete a row: the one way commands delete. A row of a table clients hold leaves a
        tombstone at this write's change number, so the delete reaches every replica."""
        from . import changes

        changes.write_tombstone(self, row)
        self.session.delete(row)
        self.session.flush()

    def get(self, model: type[M], id: str, what: str | None = None) -> M:
        row = self.find(model, id=id)
        if row is None:
            raise NotFound(f"no {what or model.__tablename__} with id {id}")
        return row

    def find(self, model: type[M], **where: Any) -> M | None:
        """The first row with these column values, or None. By id it is the session's
        identity map first (a batch of commands on one conversation loads it once); other
        lookups reuse one prepared statement per model and columns: building a select per
        call was most of a hub command's cost (benchmarks/hub_team.py, throughput)."""
        if len(where) == 1 and "id" in where and _keyed_by_id(model):
            row = self.session.get(model, where["id"]) if where["id"] is not None else None
            if row is not None and self._keep is not None and model.__tablename__ in KEPT:  # type: ignore[attr-defined]
                self._keep.append(row)
            return row
        stmt = _find_statement(model, tuple(where))
        return self.session.exec(stmt, params=where).scalars().first()  # type: ignore[call-overload]

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


# Tables whose rows a batch keeps loaded from one command to the next (Tx.find by id): the
# agent and the inbox every command looks up. Only tables that commands change through the
# ORM alone qualify: a raw-SQL UPDATE would leave the kept object stale for the rest of the
# batch (tests/core/test_batch.py checks that none of these is updated that way).
KEPT = frozenset({"agent", "inbox"})
# The tables an agent's access rule is read from (core/access.py): a write to any of them
# empties the access rules a write or batch remembered.
ACCESS_TABLES = frozenset({"agent", "inbox", "inbox_access", "team", "team_member"})
# ... and every table a write or batch remembers lookups of (`Tx.memo`): the access rules,
# and in a batch each agent's drafts (commands/drafts.drop_draft).
MEMO_TABLES = ACCESS_TABLES | {"draft"}
_FIND: dict[tuple[type, tuple[str, ...]], Any] = {}
_BY_ID: dict[type, bool] = {}


def _keyed_by_id(model: type) -> bool:
    """Is `id` the model's whole primary key? (Conversations and messages are keyed by a
    local rowid, `rid`, and carry `id` as a unique column: no identity-map lookup by id.)"""
    keyed = _BY_ID.get(model)
    if keyed is None:
        from sqlalchemy import inspect

        key: Any = inspect(model).primary_key
        names = [str(column.name) for column in key]
        keyed = _BY_ID[model] = names == ["id"]
    return keyed


def _find_statement(model: type, keys: tuple[str, ...]) -> Any:
    stmt = _FIND.get((model, keys))
    if stmt is None:
        from sqlalchemy import bindparam, select

        stmt = select(model)
        for key in keys:
            stmt = stmt.where(getattr(model, key) == bindparam(key))
        _FIND[(model, keys)] = stmt
    return stmt


class Rows:
    """The part of SQLAlchemy's Result that reads use, over a plain sqlite3 cursor."""

    def __init__(self, cursor: Any) -> None:  # sqlite3's, or psycopg's (core/postgres.py)
        self.cursor = cursor

    def __iter__(self) -> Iterator[Any]:
        return iter(self.cursor)

    def all(self) -> list[Any]:
        return self.cursor.fetchall()

    def first(self) -> Any:
        return self.cursor.fetchone()

    def one(self) -> Any:
        row = self.cursor.fetchone()
        if row is None:
            raise LookupError("the query returned no row")
        return row

    def scalar(self) -> Any:
        row = self.cursor.fetchone()
        return row[0] if row else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> _Scalars:
        return _Scalars(self.cursor)


class _Scalars:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor

    def __iter__(self) -> Iterator[Any]:
        return (row[0] for row in self.cursor)

    def all(self) -> list[Any]:
        return [row[0] for row in self.cursor]


class ReadConnection:
    """A read connection: `exec_driver_sql(sql, params)` like SQLAlchemy's, on sqlite3."""

    dialect = "sqlite"

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def exec_driver_sql(self, sql: str, params: tuple | list = ()) -> Rows:
        return Rows(self.con.execute(sql, tuple(params)))


class Workspace:
    """An open workspace database. Thread-safe: reads use one sqlite3 connection per thread,
    writes a pooled SQLAlchemy connection (created with the first write)."""

    dialect = "sqlite"  # or "postgresql" (core/postgres.PgWorkspace)

    def __init__(self, path: Path, busy_timeout: float = 5.0, *, read_only: bool = False) -> None:
        self._setup(path, busy_timeout, read_only)
        if read_only and not os.access(path, os.W_OK):
            stuck = not os.access(path.parent, os.W_OK) and not _wal(path).exists()
            self._reader_uri = _uri(path, read_only=True, immutable=stuck)

    def _setup(self, path: Path, busy_timeout: float, read_only: bool) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        # Opened by a read command: writes are refused, and a file this process may not
        # write is read through read-only connections (immutable when SQLite could not even
        # create the -shm it needs beside it, and no -wal shows a writer at work).
        self.read_only = read_only
        self._reader_uri = _uri(path)
        self._engine: Engine | None = None
        self._writer: Engine | None = None
        self._checkpointer: Any = None  # checkpoint_apart()
        self._local = threading.local()  # the connection a thread's open read() uses
        self._idle: list[sqlite3.Connection] = []  # reader pool, shared by all threads
        self._lock = threading.Lock()
        # Called before every write; raises to refuse it (a hub client's cache is written
        # only by pulls and by commands on their way to the hub: sync/).
        self.guard: Callable[[], None] | None = None
        # A hub client's cache: the client that sends commands to the hub (sync/client.py).
        self.remote: Any = None
        # Held around every write transaction when set: a hub client's cache, whose sync
        # thread writes the same file on a connection of its own (sync/client.py), shares
        # it, so one writer waits for the other's commit and goes on at once; SQLite's own
        # wait for a locked file polls, in sleeps of 1 to 100 ms.
        self.write_lock: threading.RLock | None = None
        # On the hub: who has an app connected (core/presence.py), for routing.
        self.presence: Any = None
        # On the hub: which chat visitors have the widget open (hub/chat_http.py).
        self.visitors: Any = None

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.path, self.busy_timeout)
                if self._checkpointer is not None:
                    from sqlalchemy import event

                    from .checkpoint import apart

                    event.listen(self._engine, "connect", lambda con, _record: apart(con))
                self._writer = self._engine.execution_options(sqlite_begin="IMMEDIATE")
            return self._engine

    @contextmanager
    def write(self, now: datetime | None = None) -> Iterator[Tx]:
        """A write transaction; commits on success, rolls back on any error."""
        from sqlalchemy.exc import OperationalError
        from sqlmodel import Session

        if self.read_only:
            raise WorkspaceError(f"{self.path} was opened for reading only")
        if self.guard is not None:
            self.guard()
        self.engine  # noqa: B018  (creates the writer on first use)
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:  # inside `batch()`: a savepoint of the batch's transaction
            # Taken on the sqlite3 connection itself: SQLAlchemy's begin_nested and its
            # commit cost more than the hub's hot commands themselves (~30% of a comment in
            # a push; benchmarks/hub_writes.py). What SQLAlchemy would do on a rollback is
            # done here: the session forgets every row it holds (the failed command's may
            # be among them, in a state the database no longer has); the next command loads
            # what it needs again.
            if batch.later is not None:  # no savepoint (core/postgres.Later)
                with self._unguarded_write(batch, now) as tx:
                    yield tx
                return
            run = batch.session.connection().connection.driver_connection.execute  # type: ignore[union-attr]
            postgres = self.dialect == "postgresql"
            if batch.release:  # (PostgreSQL takes several statements in one round trip)
                run("RELEASE unibox_command; SAVEPOINT unibox_command")
                batch.release = False
            else:
                run("SAVEPOINT unibox_command")
            numbered = (batch.seq, batch.stored)
            batch.depth += 1
            try:
                tx = self._tx(batch.session, now, batch)
                yield tx
                self._finish(tx)
            except BaseException:
                batch.depth -= 1
                if postgres:
                    run("ROLLBACK TO unibox_command; RELEASE unibox_command")
                else:
                    run("ROLLBACK TO unibox_command")
                    run("RELEASE unibox_command")
                batch.undone(numbered)
                raise
            batch.depth -= 1
            if postgres and batch.depth == 0:
                batch.release = True  # with the next command's savepoint, or the commit
            else:
                run("RELEASE unibox_command")
            if tx._seq is not None:
                self._local.last_seq = tx._seq  # committed with the batch
            return
        try:
            with (
                self.write_lock or nullcontext(),
                Session(self._writer, expire_on_commit=False) as session,
                session.begin(),
            ):
                tx = self._tx(session, now)
                yield tx
                self._finish(tx)
        except OperationalError as e:
            raise _db_error(self.path, e) from e
        if tx._seq is not None:
            self._local.last_seq = tx._seq  # committed: what `last_write_seq` reports

    def _tx(self, session: Session, now: datetime | None, batch: _Batch | None = None) -> Tx:
        """A command's transaction, with what commands may ask of the hub's memory."""
        tx = Tx(session, now or clock.utcnow(), batch)
        tx.presence = self.presence
        tx.visitors = self.visitors
        return tx

    @contextmanager
    def _unguarded_write(self, batch: _Batch, now: datetime | None) -> Iterator[Tx]:
        """A command of a batch with a Later: no savepoint around it (two statements, and a
        subtransaction on the server, per command). A command that fails before it wrote
        anything needs none; one that fails after it wrote, or on an error of the database
        (which aborts the transaction), fails the batch whole (errors.LaterFailed): it is
        applied again with a savepoint per command (hub/mutations.apply_pushes)."""
        later = batch.later
        if later.failed is not None:  # the batch is lost: it will be applied again
            raise later.failed
        numbered = (batch.seq, batch.stored)
        writes = later.writes
        batch.depth += 1
        try:
            tx = self._tx(batch.session, now, batch)
            yield tx
            self._finish(tx)
        except BaseException as e:
            batch.depth -= 1
            if later.failed is None and (later.writes != writes or later.database_error(e)):
                # (Its type only: the message of a command's error can quote customer text.)
                later.fail(f"a command failed after it wrote ({type(e).__name__})")
            if later.failed is not None:
                raise later.failed from e
            batch.undone(numbered)  # (nothing was written: to be sure)
            raise
        batch.depth -= 1
        if tx._seq is not None:
            self._local.last_seq = tx._seq  # committed with the batch

    def _finish(self, tx: Tx) -> None:
        tx.finish()
        hook = getattr(self._local, "hook", None)
        if hook is not None:
            self._local.hook = None
            hook(tx)

    def batch_memo(self) -> dict[Any, Any] | None:
        """What this thread's open batch remembers across its commands (None: no batch)."""
        batch: _Batch | None = getattr(self._local, "batch", None)
        return batch.memo if batch is not None else None

    @contextmanager
    def batch(self, *, later: bool = False) -> Iterator[None]:
        """Run this thread's writes in ONE transaction, each in a savepoint of it: a write
        that fails rolls back alone and the others commit together at the end. How the hub
        applies a client's push of many commands (one commit, one session whose identity map
        the commands share). Nothing is visible to readers until the batch commits.

        `later` (PostgreSQL; nothing changes on SQLite), how the hub applies its groups: the
        writes whose result no command reads are sent without waiting for them, and the next
        statement that needs an answer waits for them all (core/postgres.Later); and no
        savepoint is taken per command (`_unguarded_write`). A write that fails, or a command
        that fails after it wrote, fails the batch whole (errors.LaterFailed, nothing stored):
        apply it again without `later`, where each command's error is its own."""
        from sqlalchemy.exc import OperationalError
        from sqlmodel import Session

        if self.read_only:
            raise WorkspaceError(f"{self.path} was opened for reading only")
        self.engine  # noqa: B018
        try:
            with (
                self.write_lock or nullcontext(),
                Session(self._writer, expire_on_commit=False) as session,
                session.begin(),
            ):
                connection = session.connection()
                run = connection.exec_driver_sql
                batch = _Batch(session, search_index.marks(run))
                postgres = self.dialect == "postgresql"
                if later and postgres:
                    from .postgres import LATER, Later

                    batch.later = connection.info[LATER] = Later(
                        connection.connection.driver_connection
                    )
                self._local.batch = batch
                try:
                    yield
                    if batch.later is not None and batch.later.failed is not None:
                        raise batch.later.failed  # a command's error hid it: roll back
                    search_index.index_new(run, batch.since, postgres=postgres)
                    if batch.seq is not None and (postgres or batch.seq != batch.stored):
                        run(LAST_SEQ_POSTGRES if postgres else LAST_SEQ, (batch.seq,))
                    if batch.later is not None:
                        batch.later.close()  # before the commit
                finally:
                    self._local.batch = None
                    if batch.later is not None:
                        connection.info.pop(LATER, None)
                        batch.later.abandon()  # (failing: before the rollback)
        except OperationalError as e:
            raise _db_error(self.path, e) from e

    @contextmanager
    def on_next_write(self, hook: Callable[[Tx], None]) -> Iterator[None]:
        """Run `hook(tx)` inside this thread's next write transaction, before it commits: how
        the hub records a mutation's number in the command's own transaction, and a hub
        client queues the command whose optimistic write this is (sync/)."""
        self._local.hook = hook
        try:
            yield
        finally:
            self._local.hook = None

    def last_write_seq(self) -> int | None:
        """The change number of this thread's latest committed write that changed anything
        (None before any): how a command runner learns the number its command took."""
        return getattr(self._local, "last_seq", None)

    def _take_reader(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        con = sqlite3.connect(
            self._reader_uri, uri=True, check_same_thread=False, isolation_level=None
        )
        _on_connect(con, int(self.busy_timeout * 1000))
        return con

    def _give_back(self, con: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._idle) < READER_POOL:
                self._idle.append(con)
                return
        con.close()  # the pool is full: many threads read at once only in bursts

    @contextmanager
    def read(self) -> Iterator[ReadConnection]:
        """A read connection for queries: a consistent snapshot while it is open. A read
        opened inside another on the same thread shares the outer one's snapshot."""
        current = getattr(self._local, "con", None)
        if current is not None:
            yield self._read_connection(current)
            return
        begin_errors, use_errors, end_errors = self._read_errors()
        try:
            con = self._take_reader()
            con.execute(self._READ_BEGIN)
        except begin_errors as e:
            raise self._read_failed(e) from e
        self._local.con = con
        try:
            yield self._read_connection(con)
        except use_errors as e:
            raise self._read_failed(e) from e
        finally:
            self._local.con = None
            try:
                con.execute("ROLLBACK")
                self._give_back(con)
            except end_errors:
                con.close()

    # What `read` says differently per database (core/postgres.py has PostgreSQL's).
    _READ_BEGIN = "BEGIN"

    def _read_connection(self, con: Any) -> Any:
        return ReadConnection(con)

    def _read_errors(self) -> tuple[type[Exception], type[Exception], type[Exception]]:
        """The driver's errors when a read begins, while it runs, and when it ends."""
        return sqlite3.OperationalError, sqlite3.OperationalError, sqlite3.Error

    def _read_failed(self, e: BaseException) -> WorkspaceError:
        return _db_error(self.path, e)

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
                "INSERT INTO setting(key, value, updated_at, seq) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at, seq = excluded.seq",
                (key, json.dumps(value), clock.to_db(tx.now), tx.seq),
            )

    def integrity(self) -> str:
        """SQLite's quick_check: "ok" or the first problem. Reads the whole file (doctor)."""
        with self.read() as conn:
            return str(conn.exec_driver_sql("PRAGMA quick_check(1)").scalar())

    def size(self) -> int:
        """Bytes the workspace takes (its file; PostgreSQL's says what the server holds)."""
        return Path(self.path).stat().st_size

    def revision(self) -> str | None:
        with self.read() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def checkpoint_apart(self, interval: float | None = None) -> None:
        """Checkpoint this file on a thread of its own, never inside a write's commit
        (core/checkpoint.py): for the hub and a hub client's cache, where a commit is what
        a teammate waits for. Called right after opening, before any write. `interval`:
        seconds between checkpoints (checkpoint.INTERVAL when None)."""
        from .checkpoint import INTERVAL, Checkpointer

        with self._lock:
            if self._checkpointer is not None:
                return
            self._checkpointer = Checkpointer(self.path, INTERVAL if interval is None else interval)
            engine, self._engine = self._engine, None  # made again, with the setting
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        with self._lock:
            readers, self._idle = self._idle, []
            engine, self._engine = self._engine, None
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        for con in readers:
            con.close()
        self._local = threading.local()
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_engine(path: Path, busy_timeout: float = 5.0) -> Engine:
    from sqlalchemy import URL, create_engine, event

    url = URL.create("sqlite", database=str(path))  # no string pasting: `?`/`#` stay literal
    engine = create_engine(url, pool_size=8, max_overflow=8)
    event.listen(engine, "connect", _pragmas(int(busy_timeout * 1000)))
    event.listen(engine, "begin", _on_begin)
    return engine


def open_workspace(
    path: str | os.PathLike[str] | None = None,
    *,
    create: bool = True,
    read_only: bool = False,
    busy_timeout: float = 5.0,
) -> Workspace:
    """Open (creating and migrating as needed) the workspace at `path` (see resolve_path).

    `create=False`: a missing or empty file is an error, left as it is. `read_only` (read
    commands; implies create=False): nothing is written, so a file this process may only read
    opens too; only a file from an older Unibox is migrated first, which needs write access.
    `busy_timeout`: seconds a write waits for another process's lock before giving up.

    A PostgreSQL URL (`postgresql+psycopg://...`, given as `path` or, with no path, in
    $UNIBOX_DATABASE_URL) opens a workspace on that server instead (core/postgres.py)."""
    url = database_url(path)
    if url is not None:
        from .postgres import open_postgres

        return open_postgres(url, create=create, read_only=read_only)
    target = resolve_path(path)
    revision = _inspect(target)
    if revision is None and (read_only or not create):
        if target.exists():
            raise WorkspaceError(
                f"{target} is an empty file, not a workspace; run `unibox` to make it one "
                "or pass another --db"
            )
        raise WorkspaceError(f"no workspace at {target}; run `unibox demo` or pass --db")
    if read_only and revision == HEAD_REVISION:
        return Workspace(target, busy_timeout, read_only=True)
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
    try:
        con = sqlite3.connect(target, isolation_level=None)
        try:
            # journal_mode is persistent in the file; it cannot change inside a transaction.
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        finally:
            con.close()
        if str(mode).lower() != "wal":
            raise WorkspaceError(f"{target}: cannot switch to WAL mode (got {mode})")
        if revision != HEAD_REVISION:
            from .migrations import upgrade

            # alembic keeps its migration context in module state: two threads migrating
            # at once (a hub client's cache beside another) crash the process.
            with _MIGRATING:
                engine = make_engine(target, busy_timeout)
                try:
                    upgrade(engine)
                finally:
                    engine.dispose()
    except sqlite3.Error as e:
        raise _db_error(target, e) from e
    except Exception as e:
        if isinstance(getattr(e, "orig", None), sqlite3.Error):  # SQLAlchemy's wrapper
            raise _db_error(target, e) from e
        raise
    return Workspace(target, busy_timeout)
