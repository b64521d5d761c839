"""search_bench.py's queries on PostgreSQL (issue 11: search <= 50 ms p95 at 100k there too).

    .venv/bin/python benchmarks/search_bench_postgres.py [--db /tmp/search100k.db] [--runs 30]

Builds the 100k demo file at --db when it is missing (a few minutes, once), starts a private
PostgreSQL (tests/servers/postgres.py), copies every table of the file into a new workspace
there (COPY, triggers off; the search index filled in bulk as search_index does, then
VACUUM ANALYZE), and times the same searches as search_bench.py. Prints one JSON document
with the load average before and after; the server is stopped at the end. CPU figures are
the client thread's only: the server's work is in the wall figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from search_bench import measure
from servers.postgres import PostgresServer

from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.core.search_index import CONTACT_TEXT, POSTGRES_MESSAGES


def copy(path: Path, url: str) -> float:
    """Every table of the SQLite workspace at `path` into the new workspace at `url`."""
    import psycopg

    started = time.perf_counter()
    open_workspace(url).close()  # the schema, through the migrations
    lite = sqlite3.connect(path)
    with psycopg.connect(url.replace("+psycopg", "")) as pg:
        pg.execute("SET session_replication_role = replica")  # no triggers, no FK checks
        tables = [
            r[0] for r in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        for table in tables:
            if table in ("alembic_version", "message_fts", "conversation_fts"):
                continue
            ours = [
                r[0]
                for r in pg.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND is_generated = 'NEVER' ORDER BY ordinal_position",
                    (table,),
                )
            ]
            theirs = {r[1] for r in lite.execute(f'PRAGMA table_info("{table}")')}
            columns = [c for c in ours if c in theirs or c == "rowid"]
            pg.execute(f'DELETE FROM "{table}"')  # what a new workspace holds (the counter)
            names = ", ".join(f'"{c}"' for c in columns)
            picked = ", ".join("rowid" if c not in theirs else f'"{c}"' for c in columns)
            with pg.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as out:
                for row in lite.execute(f'SELECT {picked} FROM "{table}"'):
                    out.write_row(row)
        pg.execute(POSTGRES_MESSAGES.replace("?", "0"))
        pg.execute(
            "INSERT INTO conversation_fts(rowid, subject, contact) SELECT c.rid, c.subject, "
            f"{CONTACT_TEXT} FROM conversation c"
        )
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--db", default="/tmp/search100k.db", help="the demo file (built if missing)"
    )
    parser.add_argument("--conversations", type=int, default=100_000, help="when building it")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    path = Path(args.db)
    if not path.exists():
        build_demo(path, conversations=args.conversations)
    server = PostgresServer()
    try:
        url = server.database()
        copied = copy(path, url)
        load_before = os.getloadavg()
        with open_workspace(url, create=False) as ws:
            sales = next(i.id for i in q.inboxes(ws) if i.detail == "listed")
            restricted = next(
                a for a in q.agents(ws) if not q.reader(ws, a.id).can_see(sales) and a.active
            )
            everything = next(a for a in q.agents(ws) if q.reader(ws, a.id).sees_all)
            stats = q.stats(ws)
            out = {
                "database": "postgresql",
                "copy_seconds": round(copied, 1),
                "conversations": stats["conversation"],
                "messages": stats["message"],
                "restricted_agent": restricted.handle,
                "restricted": measure(ws, restricted.id, restricted.handle, args.runs),
                "unrestricted_agent": everything.handle,
                "unrestricted": measure(ws, everything.id, everything.handle, args.runs),
            }
    finally:
        server.stop()
    out["load_average_before"] = load_before
    out["load_average_after"] = os.getloadavg()
    out["summary"] = {
        "restricted_worst_p95_ms": out["restricted"]["worst_p95_ms"],
        "unrestricted_worst_p95_ms": out["unrestricted"]["worst_p95_ms"],
        "target_met": out["restricted"]["worst_p95_ms"] <= 50,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
