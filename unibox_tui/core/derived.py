"""A cache's derived data (view counters, report figures, search index) built once at the
end of a first fill instead of row by row.

The derived tables are kept by triggers (migrations 0013, 0018, 0021) and the search index
at each write's end (search_index.index_new), so every write path agrees. Row by row that is
what a first sync of a large workspace pays most for: at 100k conversations / 1.16M
messages the report triggers alone cost ~31 µs a message (~36 s of CPU), the same figures
computed over the whole tables at the end ~8 s (benchmarks/changes_bench.py).

So a fill (core/changes.apply_changes: the pages of a first pull from cursor 0) `suspend`s:
every trigger's SQL is kept in `replica_state` and the trigger dropped, and its pages skip
the search index. The secondary indexes in `FILL_INDEXES` go the same way: kept row by row,
each of ~1.2M inserts lands at a random place in each of them; built at the end, one sort
each. `resume` (once the fill's last page is committed, in a transaction of its own)
builds those indexes again, computes the derived tables from the rows as the migrations
computed them for rows stored before them (their BACKFILL statements: one definition of
each figure), puts the triggers back and indexes every row for search. The report figures,
most of that work, are computed meanwhile on other connections in threads (`rebuild`),
so the end of a first sync uses both cores. A fill cut short (the app quit or crashed,
between pages or in its end) is resumed when the cache is next opened
(changes.open_replica), so a cache never stays without its triggers.

A migration that adds a derived table or changes how one is computed adds its backfill to
`rebuild` (tests/core/test_changes.py compares a filled cache's every table with one the
triggers built, so a missing one fails there).
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import threading
from typing import Any

from . import search_index

FILL_KEY = "fill_triggers"  # replica_state: the triggers dropped while a fill runs
INDEXES_KEY = "fill_indexes"  # and the indexes
# Indexes the app does not read while a first sync runs, dropped for its length. The
# `seq` indexes stay (the live refresh reads them after each page), so do the unique ones
# (upserts need them), the thread's `ix_message_conv` (opening a conversation would read
# the whole message table) and the list's covering indexes (ix_conv_inbox, _time, _status,
# _assignee, _kind: the app reloads its list after each page; without them every reload
# would scan and sort the conversations). Measured at 100k conversations / 1.16M
# messages (a fill's apply CPU, pages from a file, a loaded machine): these and the list's
# indexes dropped, 32.2 -> 28.4 s; the list's kept, see the report of issue 9.
FILL_INDEXES = (
    "ix_message_external",
    "ix_message_failed",
    "ix_conv_contact",
    "ix_conv_snoozed",
    "ix_conversation_ticket_id",
)
DERIVED = (
    "conversation_count",
    "report_count",
    "report_conversation",
    "report_handled",
    "report_cycle",
)


def _migration(name: str) -> Any:
    return importlib.import_module(f"unibox_tui.core.migrations.versions.{name}")


def filling(con: sqlite3.Connection) -> bool:
    row = con.execute("SELECT 1 FROM replica_state WHERE key = ?", (FILL_KEY,)).fetchone()
    return row is not None


def suspend(con: sqlite3.Connection) -> None:
    """Drop every trigger and the `FILL_INDEXES`, keeping their SQL for `resume` (inside the
    caller's transaction)."""
    triggers = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY rowid"
    ).fetchall()
    marks = ",".join("?" * len(FILL_INDEXES))
    indexes = con.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks}) "
        "ORDER BY rowid",
        FILL_INDEXES,
    ).fetchall()
    for key, kept in ((INDEXES_KEY, indexes), (FILL_KEY, triggers)):
        con.execute(
            "INSERT INTO replica_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps([list(t) for t in kept])),
        )
    for name, _sql in triggers:
        con.execute(f'DROP TRIGGER "{name}"')
    for name, _sql in indexes:
        con.execute(f'DROP INDEX "{name}"')


def resume(con: sqlite3.Connection, committed: bool = False) -> None:
    """Compute the derived tables and the search index from the rows, and put the triggers
    back (inside the caller's transaction). `committed`: the caller's transaction has not
    written any row yet (see `rebuild`)."""
    row = con.execute("SELECT value FROM replica_state WHERE key = ?", (FILL_KEY,)).fetchone()
    if row is None:
        return
    # The indexes first: the derived tables' statements read along them. One a migration
    # made again since the fill was cut short stands.
    dropped = con.execute(
        "SELECT value FROM replica_state WHERE key = ?", (INDEXES_KEY,)
    ).fetchone()
    existing = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for name, sql in json.loads(dropped[0]) if dropped else ():
        if name not in existing:
            con.execute(sql)
    triggers = json.loads(row[0])
    # A migration run since the fill was cut short may have made some again: theirs stand.
    present = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    for name in present:
        con.execute(f'DROP TRIGGER "{name}"')
    kept = [sql for name, sql in triggers if name not in present]
    rebuild(con, kept + list(present.values()), committed)
    con.execute("DELETE FROM replica_state WHERE key IN (?, ?)", (FILL_KEY, INDEXES_KEY))


def rebuild(con: sqlite3.Connection, triggers: list[str], committed: bool = False) -> None:
    """The derived tables and the search index from the rows alone, then `triggers`
    created (none may exist yet): in the order the migrations computed them.

    The report figures (0018's backfill, ~2/3 of this at 100k conversations) are computed
    on other connections in threads (`_ReportsApart`) while this one builds the search
    index and the view counters: SQLite lets go of the GIL while it steps, so they use
    both cores (the hub, which sent the pages, is idle by now). Only when the caller says
    the rows are `committed`: the other connections see no uncommitted write of `con`."""
    for table in DERIVED:
        con.execute(f"DELETE FROM {table}")
    apart = _ReportsApart.start(con) if committed else None
    try:
        con.execute(_migration("0013_view_counts").BACKFILL)
        con.execute("INSERT INTO message_fts(message_fts) VALUES ('delete-all')")
        con.execute("DELETE FROM conversation_fts")
        search_index.index_new(lambda sql, params: con.execute(sql, params), (0, 0))
    except BaseException:
        if apart is not None:
            apart.close()
        raise
    # 0018 computes every figure, the day roll-ups too, before its triggers exist.
    if apart is None:
        for statement in _migration("0018_reports").BACKFILL:
            con.execute(statement)
    else:
        apart.copy_into(con)
    for sql in triggers:
        con.execute(sql)
    # 0021 counts bot events after 0018's triggers exist (report_count's day roll-up).
    con.execute(_migration("0021_bot_reports").BACKFILL)


# What 0018's backfill writes: computed apart, then copied in. Its statements in groups by
# the table they write; no statement reads a table of another group, so each group has a
# connection and thread of its own (on two cores: the writer's search index, the counts,
# and the conversations' figures and cycles: ~6, 5 and 3 s of CPU at 100k conversations).
REPORT_GROUPS = (("report_count", "report_handled"), ("report_conversation", "report_cycle"))


def _report_groups() -> list[list[str]]:
    """0018's backfill statements in `REPORT_GROUPS`, each group in the backfill's order;
    all in one group if a statement would cross groups (a later edit of the backfill)."""
    statements = list(_migration("0018_reports").BACKFILL)
    groups: list[list[str]] = [[] for _ in REPORT_GROUPS]
    for statement in statements:
        words = statement.split(None, 3)
        target = words[2] if words[0] == "INSERT" else words[1]
        at = [i for i, group in enumerate(REPORT_GROUPS) if target in group]
        others = [t for i, g in enumerate(REPORT_GROUPS) if i not in at for t in g]
        if len(at) != 1 or any(t in statement for t in others):
            return [statements]
        groups[at[0]].append(statement)
    return groups


class _ReportsApart:
    """0018's backfill statements, unchanged, run on other connections to the same file in
    threads (one per group of `_report_groups`): each connection's TEMP tables of the report
    tables' names take the writes (SQLite looks a name up in temp before main), its reads of
    messages and conversations see the rows committed (a fill commits its last page before
    `resume`: changes.apply_chain). `copy_into` waits and inserts the rows into the
    writer's (empty) tables."""

    def __init__(self, path: str, tables: dict[str, str]) -> None:
        self.path, self.tables = path, tables
        self.done: list[tuple[sqlite3.Connection, list[str]]] = []  # (connection, tables)
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(group,), name="unibox-reports", daemon=True)
            for group in _report_groups()
        ]

    @classmethod
    def start(cls, con: sqlite3.Connection) -> _ReportsApart | None:
        """None when there is no second connection to be had (an in-memory database, a
        journal other than WAL, where a reader would wait for the writer)."""
        path = next((r[2] for r in con.execute("PRAGMA database_list") if r[1] == "main"), "")
        if not path or con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return None
        names = [t for group in REPORT_GROUPS for t in group]
        tables = con.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            f"AND name IN ({','.join('?' * len(names))})",
            names,
        ).fetchall()
        apart = cls(path, dict(tables))
        for thread in apart.threads:
            thread.start()
        return apart

    def _run(self, statements: list[str]) -> None:
        # Temp tables and sorts in temp files (SQLite's default), not memory: grouping a
        # million messages in memory, in two connections at once, took ~400 MB of RSS.
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA busy_timeout=5000")  # as every connection of ours waits
            con.execute("PRAGMA cache_size=-16384")
            written = [n for n in self.tables if any(n in s for s in statements)]
            for name in written:
                sql = self.tables[name]
                con.execute(sql.replace(f"CREATE TABLE {name}", f"CREATE TEMP TABLE {name}", 1))
            con.execute("BEGIN")  # one snapshot for every statement
            for statement in statements:
                con.execute(statement)
            self.done.append((con, written))
        except BaseException as e:  # handed to the writer's thread by copy_into
            con.close()
            self.errors.append(e)

    def copy_into(self, con: sqlite3.Connection) -> None:
        """Wait for the threads, then insert their rows (streamed from their connections)."""
        for thread in self.threads:
            thread.join()
        try:
            if self.errors:
                raise self.errors[0]
            for apart, written in self.done:
                for name in written:
                    rows = apart.execute(f"SELECT * FROM temp.{name}")
                    marks = ",".join("?" * len(rows.description))
                    con.executemany(f"INSERT INTO main.{name} VALUES ({marks})", rows)
        finally:
            self.close()

    def close(self) -> None:
        """Wait for the threads and close their connections (their rows go with them)."""
        for thread in self.threads:
            thread.join()
        for apart, _written in self.done:
            apart.close()
        self.done.clear()
