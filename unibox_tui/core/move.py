"""Moving a workspace to another database: `unibox migrate --from SRC --to DST`.

SQLite file -> PostgreSQL (the way a team moves its hub to a database server), PostgreSQL ->
PostgreSQL, and file -> file (`VACUUM INTO`: SQLite's own exact copy).

To PostgreSQL:
1. The source must be at this Unibox's schema revision (nothing is converted on the way; an
   older file is upgraded by opening it once with this Unibox, the source is never changed
   here). The target is an empty database (made a workspace at the head revision by the
   migrations, `postgres.open_postgres`) or, with `replace`, a Unibox workspace.
2. The target's revision is set to `<head>+unfinished` and committed: every open refuses a
   database so marked (`postgres.head`), so a hub never serves a half-moved workspace. An
   interrupted run leaves it so marked; running again with `replace` finishes the move.
3. ONE transaction then empties every table, copies each in foreign-key order (the
   parents first) with `COPY ... FROM STDIN` (psycopg 3's `cursor.copy()`, rows streamed
   from the source cursor: a single statement per table, so a table's rows pointing at each
   other, e.g. a merged contact, are checked at its end), rebuilds the search index the way
   writes fill it (`search_index.index_new`), moves every serial counter past its column's
   largest value, compares each table's row count with the source's, and only then puts the
   head revision back. A failure anywhere rolls all of it back. User triggers (the derived
   counts, the search index) are off while copying: the derived tables are copied as they
   are, not counted twice. Foreign keys stay checked.
   The indexes that back no constraint are dropped for the copy and built again after it
   (`_drop_indexes`), in the same transaction.
4. `VACUUM (ANALYZE)`: planner statistics and the visibility map of a freshly loaded database
   (without them the first list and count queries plan blind and cannot scan indexes only).

Ids, change numbers (the `seq` of every row and the `sequence` counter row), tombstones,
the hub's change log and mutations, attachments' bytes: copied as they are. SQLite's hidden
rowid of the tables read in insertion order (`ROWID_TABLES`) becomes their `rowid` column.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import InvalidRequest, WorkspaceError

Progress = Callable[[str], None]

# Built by the target itself (search_index), never copied: FTS5's tables are SQLite's own.
SKIP_PREFIXES = ("message_fts", "conversation_fts", "sqlite_")
BATCH = 5000  # rows fetched from the source at a time


def is_url(target: str) -> bool:
    return "://" in target


def _check_scheme(target: str, flag: str) -> None:
    from .db import URL_SCHEMES

    if is_url(target) and not target.startswith(URL_SCHEMES):
        scheme = target.split("://", 1)[0]
        raise InvalidRequest(
            f"{flag}: unknown URL scheme {scheme!r}; give a workspace file or "
            "postgresql+psycopg://USER@HOST[:PORT]/DATABASE"
        )


def shown(target: str) -> str:
    """A URL without its password, a path as given: what messages say."""
    if is_url(target):
        from .postgres import shown as shown_url

        try:
            return shown_url(target)
        except Exception:  # unparsable: say nothing that could hold a secret
            return target.split("://", 1)[0] + "://…"
    return target


def migrate(
    source: str, target: str, *, replace: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Copy the workspace at `source` into `target`; the summary (tables and their rows)."""
    say = progress or (lambda _line: None)
    _check_scheme(source, "--from")
    _check_scheme(target, "--to")
    if _same(source, target):
        raise InvalidRequest("--from and --to name the same workspace")
    started = time.perf_counter()
    _source_revision(source)
    if is_url(target):
        counts = _to_postgres(source, target, replace, say)
    elif is_url(source):
        raise InvalidRequest(
            "a workspace on PostgreSQL moves to another PostgreSQL database, not to a file"
        )
    else:
        counts = _file_to_file(Path(source).expanduser(), Path(target).expanduser(), replace)
    return {
        "from": shown(source),
        "to": shown(target),
        "tables": counts,
        "rows": sum(counts.values()),
        "seconds": round(time.perf_counter() - started, 2),
        "checked": True,
    }


def _same(a: str, b: str) -> bool:
    if is_url(a) and is_url(b):
        return _database(a) == _database(b)
    if is_url(a) or is_url(b):
        return False
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.samefile(pb)


_LOCAL = {None, "", "localhost", "127.0.0.1", "::1"}


def _database(url: str) -> tuple[str | None, int, str | None]:
    """Which database a URL names, however it is spelled (with --replace, copying a
    database onto itself would empty it before it is read)."""
    from sqlalchemy.engine import make_url

    from .postgres import sqlalchemy_url

    u = make_url(sqlalchemy_url(url))
    host = "localhost" if u.host in _LOCAL else u.host
    return host, u.port or 5432, u.database or u.username


# ------------------------------------------------------------------------------- source


def _source_revision(source: str) -> None:
    """Refuse a source that is not a workspace at this Unibox's revision."""
    from .db import HEAD_REVISION, _inspect

    if is_url(source):
        from .postgres import check_server, head

        check_server(source)
        revision = head(source)
        where = shown(source)
        upgrade = f"`unibox doctor --database-url {where}`"
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise WorkspaceError(f"no workspace at {path}; check --from")
        revision = _inspect(path)
        where = str(path)
        upgrade = f"`unibox doctor --db {path}`"
    if revision is None:
        raise WorkspaceError(f"{where} is empty, not a workspace; check --from")
    if revision != HEAD_REVISION:
        raise WorkspaceError(
            f"{where} is at schema {revision}, this Unibox writes {HEAD_REVISION}: open it once "
            f"with this Unibox to upgrade it (e.g. {upgrade}), then migrate"
        )


class _Source:
    """The source workspace in one read transaction (a consistent snapshot)."""

    def __init__(self, source: str) -> None:
        self.postgres = is_url(source)
        if self.postgres:
            import psycopg

            from .postgres import _conninfo

            self.con: Any = psycopg.connect(_conninfo(source))
            self.con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.con.read_only = True  # one snapshot for every table and count
        else:
            import sqlite3

            from .db import _uri

            self.con = sqlite3.connect(
                _uri(Path(source).expanduser(), read_only=True), uri=True, isolation_level=None
            )
            self.con.execute("PRAGMA busy_timeout=5000")
            self.con.execute("BEGIN")

    def tables(self) -> set[str]:
        if self.postgres:
            rows = self.con.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        else:
            rows = self.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows if not r[0].startswith(SKIP_PREFIXES)}

    def columns(self, table: str) -> list[str]:
        if self.postgres:
            return _pg_columns(self.con, table)
        names = [r[1] for r in self.con.execute(f'PRAGMA table_info("{table}")')]
        from .migrations.postgres import ROWID_TABLES

        if table in ROWID_TABLES and "rowid" not in names:
            names.append("rowid")  # SQLite's hidden row number, a column on PostgreSQL
        return names

    def count(self, table: str) -> int:
        return int(self.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple]:
        names = ", ".join(f'"{c}"' if c != "rowid" else "rowid" for c in columns)
        sql = f'SELECT {names} FROM "{table}"'
        if self.postgres:  # a server-side cursor: the table never sits in memory whole
            cursor = self.con.cursor(name=f"unibox_move_{table}")
            cursor.itersize = BATCH
            cursor.execute(sql)
        else:
            cursor = self.con.execute(sql)
        while batch := cursor.fetchmany(BATCH):
            yield from batch
        cursor.close()

    def close(self) -> None:
        try:
            self.con.rollback() if self.postgres else self.con.execute("ROLLBACK")
        finally:
            self.con.close()


# ------------------------------------------------------------------------------- target


def _pg_columns(con: Any, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position",
            (table,),
        )
    ]


def _pg_state(url: str) -> tuple[set[str], str | None]:
    """The target's tables and its raw revision (the unfinished mark included)."""
    import psycopg

    from .postgres import _conninfo

    with psycopg.connect(_conninfo(url), autocommit=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        revision = None
        if "alembic_version" in tables:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
    return tables, revision


def _prepare_target(url: str, replace: bool) -> None:
    """An empty database becomes a workspace at the head revision; a workspace is kept for
    `replace` (brought to the head revision); anything else is refused untouched."""
    from .db import HEAD_REVISION, UNFINISHED
    from .postgres import check_server, open_postgres

    check_server(url)
    tables, revision = _pg_state(url)
    if tables and "alembic_version" not in tables:
        raise WorkspaceError(
            f"{shown(url)} holds tables of another program, not a Unibox workspace; "
            "give --to an empty database"
        )
    if tables and not replace:
        what = "an unfinished `unibox migrate`" if _unfinished(revision) else "a workspace"
        raise WorkspaceError(
            f"{shown(url)} already holds {what}; pass --replace to overwrite it "
            "(everything in it is lost) or give --to an empty database"
        )
    if _unfinished(revision):
        base = str(revision)[: -len(UNFINISHED)]
        if base != HEAD_REVISION:
            raise WorkspaceError(
                f"{shown(url)} holds an unfinished move by another Unibox version "
                f"(schema {base}); give --to an empty database"
            )
        _set_revision(url, HEAD_REVISION)
    open_postgres(url, create=True).close()  # the migrations, as far as needed


def _unfinished(revision: str | None) -> bool:
    from .db import UNFINISHED

    return revision is not None and revision.endswith(UNFINISHED)


def _set_revision(url: str, revision: str) -> None:
    import psycopg

    from .postgres import _conninfo

    with psycopg.connect(_conninfo(url)) as con:
        con.execute("UPDATE alembic_version SET version_num = %s", (revision,))


def _order(con: Any, tables: set[str]) -> list[str]:
    """Parents before children (the foreign keys of the target), else by name."""
    edges: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in con.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f'"
    ):
        child, parent = child.strip('"'), parent.strip('"')
        if child in edges and parent in edges and child != parent:
            edges[child].add(parent)
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(edges):
        ready = sorted(t for t, parents in edges.items() if t not in done and parents <= done)
        if not ready:
            raise WorkspaceError(f"foreign keys form a cycle among {sorted(set(edges) - done)}")
        ordered.extend(ready)
        done.update(ready)
    return ordered


def _to_postgres(source: str, url: str, replace: bool, say: Progress) -> dict[str, int]:
    import psycopg

    from .db import HEAD_REVISION, UNFINISHED
    from .postgres import Cursor, _configure, _conninfo

    _prepare_target(url, replace)
    _set_revision(url, HEAD_REVISION + UNFINISHED)  # refused by every open until the end
    src = _Source(source)
    step = "preparing"
    try:
        with psycopg.connect(_conninfo(url)) as con:
            _configure(con)
            target_tables = {
                r[0]
                for r in con.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
                if not r[0].startswith(SKIP_PREFIXES) and r[0] != "alembic_version"
            }
            source_tables = src.tables() - {"alembic_version"}
            if source_tables != target_tables:
                raise WorkspaceError(
                    "the source and target schemas differ (tables "
                    f"{sorted(source_tables ^ target_tables)}); nothing was copied"
                )
            order = _order(con, target_tables)
            con.execute(
                "TRUNCATE "
                + ", ".join(f'"{t}"' for t in [*order, "message_fts", "conversation_fts"])
            )
            for table in order:
                con.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
            indexes = _drop_indexes(con, [*order, "message_fts", "conversation_fts"])
            counts: dict[str, int] = {}
            for table in order:
                step = f"copying table {table}"
                counts[table] = _copy_table(src, con, table, say)
            step = "rebuilding the search index"
            started = time.perf_counter()
            from . import search_index

            search_index.index_new(
                lambda sql, params: Cursor(con.cursor()).execute(sql, params),
                (0, 0),
                postgres=True,
            )
            say(f"search index rebuilt in {time.perf_counter() - started:.1f} s")
            step = "rebuilding the indexes"
            started = time.perf_counter()
            con.execute("SET LOCAL maintenance_work_mem = '256MB'")  # sorts in memory
            for ddl in indexes:
                con.execute(ddl)
            say(f"{len(indexes)} indexes rebuilt in {time.perf_counter() - started:.1f} s")
            step = "finishing"
            _advance_serials(con, order)
            for table in order:
                con.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
            _check_counts(src, con, order, counts)
            con.execute("UPDATE alembic_version SET version_num = %s", (HEAD_REVISION,))
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise WorkspaceError(
            f"{step} into {shown(url)} failed, nothing was kept: {first}; it stays marked "
            "unfinished (run again with --replace)"
        ) from e
    finally:
        src.close()
    started = time.perf_counter()
    with psycopg.connect(_conninfo(url), autocommit=True) as con:
        con.execute("VACUUM (ANALYZE)")
    say(f"vacuumed and analyzed in {time.perf_counter() - started:.1f} s")
    return counts


def _drop_indexes(con: Any, tables: list[str]) -> list[str]:
    """Drop the tables' indexes that back no constraint (primary keys and unique constraints
    stay: ON CONFLICT and the foreign keys need them); their definitions, to build them
    again once the rows are in (one sorted build per index, far cheaper than keeping each
    up to date row by row). In the copy's transaction: an interruption keeps them all."""
    rows = con.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = current_schema() AND t.relname = ANY(%s) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (tables,),
    ).fetchall()
    for name, _ddl in rows:
        con.execute(f"DROP INDEX {name}")
    return [ddl for _name, ddl in rows]


def _copy_table(src: _Source, con: Any, table: str, say: Progress) -> int:
    columns = _pg_columns(con, table)
    have = set(src.columns(table))
    missing = [c for c in columns if c not in have]
    if missing:
        raise WorkspaceError(f"the source's table {table} has no column {missing[0]}")
    started = time.perf_counter()
    names = ", ".join(f'"{c}"' for c in columns)
    n = 0
    with con.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in src.rows(table, columns):
            copy.write_row(row)
            n += 1
    if n:
        say(f"{table}: {n:,} rows in {time.perf_counter() - started:.1f} s")
    return n


def _advance_serials(con: Any, tables: list[str]) -> None:
    """Each serial column's counter past the largest copied value (the next insert must not
    reuse a copied number)."""
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND column_default LIKE 'nextval(%%'"
    ).fetchall():
        if table not in tables:
            continue
        con.execute(
            f'SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max("{column}"), 1), '
            f'max("{column}") IS NOT NULL) FROM "{table}"',
            (f'"{table}"', column),
        )


def _check_counts(src: _Source, con: Any, tables: list[str], copied: dict[str, int]) -> None:
    """Every table holds as many rows as the source's snapshot, and the search index one
    row per searchable message and per conversation."""
    expected = {t: src.count(t) for t in tables}
    expected["message_fts"] = int(
        src.con.execute("SELECT count(*) FROM message WHERE kind != 'activity'").fetchone()[0]
    )
    expected["conversation_fts"] = expected["conversation"]
    for table, want in expected.items():
        got = int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        if got != want or copied.get(table, got) != want:
            raise WorkspaceError(
                f"{table}: {got:,} rows in the target, {want:,} in the source; nothing was kept"
            )


# ---------------------------------------------------------------------------- file to file


def _file_to_file(source: Path, target: Path, replace: bool) -> dict[str, int]:
    """SQLite's own copy (`VACUUM INTO`) into a file beside the target, checked, then renamed
    over it: an interrupted run leaves no target (only the `.unfinished` file)."""
    import sqlite3

    from .db import _inspect, _uri, _wal

    if target.exists():
        if not replace:
            raise WorkspaceError(
                f"{target} already exists; pass --replace to overwrite it or choose another --to"
            )
        if _inspect(target) is None and target.stat().st_size:
            raise WorkspaceError(f"{target} is not a workspace; --replace overwrites only one")
    if not target.parent.is_dir():
        raise WorkspaceError(f"folder {target.parent} does not exist; check --to")
    partial = target.with_name(target.name + ".unfinished")
    partial.unlink(missing_ok=True)
    con = sqlite3.connect(_uri(source, read_only=True), uri=True, isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout=5000")
        counts = _file_counts(con)
        con.execute("VACUUM INTO ?", (str(partial),))  # one consistent snapshot of its own
    except sqlite3.Error as e:
        partial.unlink(missing_ok=True)
        raise WorkspaceError(f"copying {source} failed: {e}") from e
    finally:
        con.close()
    copy = sqlite3.connect(partial)
    try:
        for table, want in counts.items():
            got = int(copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            if got != want:
                partial.unlink(missing_ok=True)
                raise WorkspaceError(
                    f"{table}: {got:,} rows in the copy, {want:,} in the source (did something "
                    "write to it meanwhile? stop it and run again)"
                )
        copy.execute("PRAGMA journal_mode=WAL")
    finally:
        copy.close()
    for leftover in (_wal(target), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)  # a replaced file's log would be applied to the copy
    os.replace(partial, target)
    counts.pop("alembic_version", None)
    return counts


def _file_counts(con: Any) -> dict[str, int]:
    con.execute("BEGIN")
    try:
        tables = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
            if not r[0].startswith(SKIP_PREFIXES)
        ]
        return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    finally:
        con.execute("ROLLBACK")
