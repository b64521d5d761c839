"""A workspace on PostgreSQL (`--database-url postgresql+psycopg://...`): the engine, the read
connections, and how the SQL written for SQLite runs there.

The commands and queries are written once, in SQLite's SQL with `?` placeholders, and run
on both. On PostgreSQL every statement passed as text (not built by SQLAlchemy) is
translated on its way to psycopg (`migrations/postgres.translate`, cached per statement):
placeholders become `%s`, the few spellings SQLite has of its own are rewritten, and the
functions SQLite has built in (json_extract, unixepoch, scalar max, group_concat, the
`nocase` collation) exist in the database under the same names (created by migration 0001).
Three doors lead there, each translated here: SQLAlchemy's `exec_driver_sql` (an engine
event), the DBAPI connection the hot commands write through (`Tx.sql`, `Tx.cursor`), and
the read connections (`PgWorkspace.read`).

Why psycopg 3: it is the driver SQLAlchemy uses for `postgresql+psycopg://` (sync and
async, LISTEN/NOTIFY for later hub work), and its binary wheel brings libpq along.

Reads: a connection of a small pool per workspace, in a REPEATABLE READ READ ONLY
transaction for as long as `read()` is open (a consistent snapshot, as SQLite's read
transaction gives). Writes: SQLAlchemy sessions in READ COMMITTED; the change number row
(`UPDATE sequence ... RETURNING`) is the lock that puts concurrent writers in change-number
order (research/hub-and-channels.md §I.2: a bigserial would let a reader skip a number).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .db import KNOWN_REVISIONS, UNFINISHED, URL_SCHEMES, Rows, Workspace
from .errors import LaterFailed, WorkspaceError

if TYPE_CHECKING:
    from sqlalchemy import Engine

SCHEMES = URL_SCHEMES


def is_url(target: object) -> bool:
    """Does --db / --database-url name a database server rather than a file?"""
    return isinstance(target, str) and target.startswith(SCHEMES)


def sqlalchemy_url(url: str) -> str:
    """The URL with the driver SQLAlchemy must use (psycopg 3, not psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def shown(url: str) -> str:
    """The URL as messages show it: never the password."""
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)


def _conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(sqlalchemy_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def conninfo(url: str) -> str:
    """libpq's connection string for `url`: for the connections the hub keeps of its own
    (the engine lock, LISTEN for changes)."""
    return _conninfo(url)


def _translate(sql: str, params: Any) -> tuple[str, Any]:
    from .migrations.postgres import translate

    if params:
        return translate(sql, True), _flags(params)
    return translate(sql), None  # no parameters: psycopg reads `%` as itself


def _before_cursor_execute(
    conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    later = conn.info.get(LATER)
    if later is not None:
        later.count(statement)
        if later.pending:
            later.close()  # the writes sent before it first (and out of pipeline mode)
    if context is not None and context.compiled is not None:
        return statement, parameters  # built by SQLAlchemy for psycopg already
    return _translate(statement, parameters)


# The key of a connection's `info` (SQLAlchemy's per-connection dict) that holds the Later of
# the batch writing on it: SQLAlchemy's own statements wait for its writes first.
LATER = "unibox_later"


class Later:
    """The writes of a batch whose result no command reads (`Tx.later`: a message's INSERT,
    a conversation's UPDATE, the hub's answers), sent at once in psycopg's pipeline mode
    without waiting for their results: the server runs them while the writer goes on with
    its Python, and the next statement that needs an answer (a read, `read`) waits for
    them all and for itself, in ONE round trip. On the hub's writer a comment took ~4.4
    round trips (each a wake of the server and of the writer thread), now ~1.1
    (benchmarks/hub_push.py --postgres). Sending each write at once rather than queueing
    them until the read measured ~10% less CPU per command on the writer.

    SQLAlchemy cannot run in pipeline mode (a cursor's description is unknown until its
    result is fetched): before a statement of its own (the engine event above), and before
    the commit, the pipeline is left (`close`), which also waits for every write sent.

    What changes is WHEN a write's error is seen: at a later read, maybe in a later command,
    after the commands between have run on a transaction PostgreSQL had aborted. So a write
    that fails fails the whole batch (`failed`, raised by every statement and write after
    it and by the batch's end): nothing of it is committed, and the caller applies it again
    without a Later (hub/mutations.apply_pushes), where each command's error is its own."""

    __slots__ = ("_context", "_cursor", "_sync", "driver", "failed", "writes")

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.failed: LaterFailed | None = None
        # Statements sent that may have written (anything but a SELECT): a command without
        # a savepoint that fails after one fails the batch (db.Workspace._unguarded_write).
        self.writes = 0
        self._context: Any = None  # psycopg's pipeline() while the connection is in it
        self._cursor: Any = None
        self._sync: Any = None

    def count(self, sql: str) -> None:
        """Note a statement run outside `add`: anything but a SELECT may have written."""
        if sql.lstrip()[:6].upper() != "SELECT":
            self.writes += 1

    @property
    def pending(self) -> bool:
        """Must the next statement go through `read` or `close` (writes without their
        results yet, or a failed batch)?"""
        return self._context is not None or self.failed is not None

    def add(self, sql: str, params: Any = ()) -> None:
        """Send one write; its result is read with the next statement that needs one."""
        if self.failed is not None:
            raise self.failed
        self.writes += 1
        import psycopg

        if self._context is None:
            self._context = self.driver.pipeline()
            self._sync = self._context.__enter__().sync
            self._cursor = self.driver.cursor()
        try:
            self._cursor.execute(*_translate(sql, params))
        except psycopg.Error as e:
            raise self._failed(e) from e

    def add_many(self, sql: str, rows: Any) -> None:
        for row in rows:
            self.add(sql, row)

    def read(self, cursor: Any, sql: str, params: Any) -> None:
        """Run `sql` (translated) on `cursor` after the writes sent: one round trip for all;
        its result is then on `cursor`, as after `cursor.execute`."""
        if self.failed is not None:
            raise self.failed
        import psycopg

        try:
            cursor.execute(sql, params)
            self._sync()
        except psycopg.Error as e:
            raise self._failed(e) from e

    def close(self) -> None:
        """Wait for the writes sent and leave pipeline mode (before a statement of
        SQLAlchemy's, and before the commit)."""
        if self.failed is not None:
            raise self.failed
        context, self._context = self._context, None
        if context is None:
            return
        import psycopg

        try:
            context.__exit__(None, None, None)
        except psycopg.Error as e:
            raise self._failed(e) from e

    def abandon(self) -> None:
        """Leave pipeline mode whatever happened (the batch is failing: before its rollback)."""
        context, self._context = self._context, None
        if context is not None:
            with suppress(Exception):
                context.__exit__(None, None, None)

    def fail(self, why: str) -> LaterFailed:
        self.failed = LaterFailed(why)
        return self.failed

    def _failed(self, e: BaseException) -> LaterFailed:
        # The error's class and SQLSTATE, not its message (it can quote the values).
        code = getattr(e, "sqlstate", None) or "?"
        return self.fail(f"a write sent ahead failed ({type(e).__name__}, SQLSTATE {code})")

    @staticmethod
    def database_error(e: BaseException) -> bool:
        """Did the database refuse a statement (which aborts the transaction)?"""
        import psycopg
        from sqlalchemy.exc import DBAPIError

        return isinstance(e, (psycopg.Error, DBAPIError))


def _configure(dbapi_con: Any) -> None:
    """Numeric results as float on every connection (SQLite's avg() gives a float; psycopg
    would give Decimal)."""
    from psycopg.types.numeric import FloatLoader

    dbapi_con.adapters.register_loader("numeric", FloatLoader)


def _flags(params: Any) -> Any:
    """A Python bool bound in SQLite's SQL is 0/1: flags are smallint columns here
    (migrations/postgres.BOOL). Only the translated statements: SQLAlchemy's own bind
    real booleans (its catalogue queries) and the models' flags convert themselves."""
    if isinstance(params, dict):
        return {k: int(v) if v.__class__ is bool else v for k, v in params.items()}
    if params and isinstance(params[0], (tuple, list, dict)):  # executemany
        return [_flags(row) for row in params]
    return tuple(int(v) if v.__class__ is bool else v for v in params)


def make_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event

    engine = create_engine(sqlalchemy_url(url), pool_size=8, max_overflow=8, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _before_cursor_execute, retval=True)
    event.listen(engine, "connect", lambda con, _record: _configure(con))
    return engine


class Cursor:
    """A psycopg cursor that takes SQLite's SQL (what `Tx.sql` and `Tx.cursor` hand out); in a
    batch with a Later, a statement waits for the writes sent before it (one round trip)."""

    __slots__ = ("_cursor", "_later")

    def __init__(self, cursor: Any, later: Later | None = None) -> None:
        self._cursor = cursor
        self._later = later

    def execute(self, sql: str, params: Any = ()) -> Cursor:
        later = self._later
        if later is None:
            self._cursor.execute(*_translate(sql, params))
            return self
        later.count(sql)
        if later.pending:
            later.read(self._cursor, *_translate(sql, params))
        else:
            self._cursor.execute(*_translate(sql, params))
        return self

    def executemany(self, sql: str, rows: Any) -> Cursor:
        rows = list(rows)
        later = self._later
        if later is not None:
            later.writes += 1
            if later.pending:
                later.close()
        if rows:
            self._cursor.executemany(*_translate(sql, rows))
        return self

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> Any:
        raise NotImplementedError("PostgreSQL has no lastrowid: use RETURNING")


def executor(driver: Any, later: Later | None = None) -> Any:
    """`Tx.sql` on PostgreSQL: run one statement on the transaction's connection."""

    def run(sql: str, params: Any = ()) -> Cursor:
        return Cursor(driver.cursor(), later).execute(sql, params)

    return run


def _read_error(url: str, e: BaseException) -> WorkspaceError:
    first = (str(e).strip().splitlines() or [""])[0]
    return WorkspaceError(f"{shown(url)}: database error: {first}")


def check_server(url: str, *, timeout: float = 10) -> None:
    """Connect once: a clear one-line error for a wrong URL, a server that is down, a
    database that does not exist, a refused login."""
    import psycopg

    try:
        with psycopg.connect(_conninfo(url), connect_timeout=max(1, int(timeout))):
            pass
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [""])[-1]
        raise WorkspaceError(f"cannot connect to {shown(url)}: {first}") from e


def head(url: str) -> str | None:
    """The workspace's migration revision; None for an empty database; raise if not ours."""
    import psycopg

    with psycopg.connect(_conninfo(url), autocommit=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        if not tables:
            return None
        if "alembic_version" not in tables:
            raise WorkspaceError(
                f"{shown(url)} holds tables of another program, not a Unibox workspace; "
                "give --database-url an empty database"
            )
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    revision = row[0] if row else None
    if revision is not None and revision.endswith(UNFINISHED):
        raise WorkspaceError(
            f"{shown(url)} holds an unfinished `unibox migrate` (interrupted or still running); "
            "run it again with --replace to finish the move"
        )
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise WorkspaceError(
            f"{shown(url)} was written by a newer Unibox (schema {revision}); upgrade unibox"
        )
    return revision


def open_postgres(url: str, *, create: bool = True, read_only: bool = False) -> PgWorkspace:
    """Open (migrating as needed) the workspace in the PostgreSQL database at `url`."""
    from .db import _MIGRATING, HEAD_REVISION

    check_server(url)
    revision = head(url)
    if revision is None and (read_only or not create):
        raise WorkspaceError(
            f"no workspace in {shown(url)} yet; make one with `unibox init --database-url URL`"
        )
    if revision != HEAD_REVISION:
        from .migrations import upgrade

        with _MIGRATING:
            engine = make_engine(url)
            try:
                # One migration at a time per database, whichever node starts first.
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT pg_advisory_lock(7261)")
                    try:
                        upgrade(engine)
                    finally:
                        conn.exec_driver_sql("SELECT pg_advisory_unlock(7261)")
                        conn.commit()
            finally:
                engine.dispose()
    return PgWorkspace(url, read_only=read_only)


class _Connection:
    """`execute(sql, params)` of a psycopg connection, taking SQLite's SQL: what a query
    that reads through `conn.con.execute` (a sqlite3 connection's) gets here."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, params: Any = ()) -> Cursor:
        return Cursor(self._con.cursor()).execute(sql, params)


class PgReadConnection:
    """`exec_driver_sql(sql, params)` over a psycopg connection, taking SQLite's SQL."""

    dialect = "postgresql"

    def __init__(self, con: Any) -> None:
        self.con = _Connection(con)

    def exec_driver_sql(self, sql: str, params: tuple | list = ()) -> Any:
        return Rows(self.con.execute(sql, tuple(params)))


class PgWorkspace(Workspace):
    """A workspace in a PostgreSQL database: the same interface as db.Workspace."""

    dialect = "postgresql"

    def __init__(self, url: str, busy_timeout: float = 5.0, *, read_only: bool = False) -> None:
        self._setup(shown(url), busy_timeout, read_only)  # type: ignore[arg-type]
        self.url = url

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.url)
                self._writer = self._engine
            return self._engine

    def _take_reader(self) -> Any:
        import psycopg

        with self._lock:
            if self._idle:
                return self._idle.pop()
        con = psycopg.connect(_conninfo(self.url), autocommit=True)
        _configure(con)
        return con

    # `read` is db.Workspace's; what PostgreSQL says differently:
    _READ_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def _read_connection(self, con: Any) -> Any:
        return PgReadConnection(con)  # read as db.ReadConnection is (the same calls)

    def _read_errors(self) -> tuple[type[Exception], type[Exception], type[Exception]]:
        import psycopg

        return psycopg.Error, psycopg.OperationalError, psycopg.Error

    def _read_failed(self, e: BaseException) -> WorkspaceError:
        return _read_error(self.url, e)

    def size(self) -> int:
        """Bytes the database takes on the server (what a file's size says for SQLite)."""
        with self.read() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())

    def integrity(self) -> str:
        """PostgreSQL checks its own pages; that the server answers is the check here."""
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        return "ok"
