"""List, count and search on PostgreSQL at 100k conversations (issue 11 §1's measure), and
the time `unibox migrate` takes to move the workspace there.

    .venv/bin/python benchmarks/pg_reads.py [--sqlite /tmp/pg_reads100k.db] [--runs 50]
        [--database-url URL]   # measure a workspace already there (no server, no migrate)

Builds the 100k demo on SQLite when the file is missing (`unibox demo --conversations 100000
--generate-only`, ~2 min), starts a private PostgreSQL in a temp dir (tests/servers/
postgres.py, the FACTS.md recipe), moves the workspace there with core/move.migrate, then
measures what benchmarks/access_reads.py measures on SQLite (its functions): the first page,
the next page and the count of every view, and searches, for a demo agent who may see one
of the two inboxes and for one who sees everything. Targets: list and count <= 10 ms p95,
search <= 50 ms p95. Search is reported "not available" when it raises (no PostgreSQL twin
of queries.search_on yet). Prints one JSON document.

CPU: `cpu_*` is this process's (the client's) time only; the work of a query is mostly the
server's, so each figure also has `server_cpu_ms_per_call`: the CPU the cluster's processes
used during that figure's calls (from /proc), divided by the calls. With the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from _stats import timings  # noqa: E402
from access_reads import measure_lists, measure_search, pick_agents  # noqa: E402

from unibox_tui.core import queries as q  # noqa: E402
from unibox_tui.core.db import open_workspace  # noqa: E402
from unibox_tui.core.move import migrate  # noqa: E402


def _cluster_cpu_ms(postmaster: int | None) -> float:
    """CPU (user + system) used so far by the server's processes: the postmaster's children
    that are running now (the backends serving our connections are among them)."""
    if postmaster is None:
        return 0.0
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != postmaster and int(entry.name) != postmaster:
                continue
            # schedstat: nanoseconds on a CPU (stat's utime/stime tick in 10 ms steps)
            total += int(Path(entry.path, "schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e6


def _cluster_cpu_total_s(postmaster: int) -> float:
    """CPU seconds of the whole server so far, backends that have exited included (the
    postmaster's reaped children: cutime/cstime), in 10 ms ticks: for the migrate figure,
    whose connections come and go."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def server_timer(postmaster: int | None) -> Callable[..., dict]:
    def timer(fn: Callable[[], object], runs: int = 50, warmup: int = 3) -> dict:
        before = _cluster_cpu_ms(postmaster)
        out = timings(fn, runs, warmup)
        out["server_cpu_ms_per_call"] = round(
            (_cluster_cpu_ms(postmaster) - before) / (runs + warmup), 3
        )
        return out

    return timer


def _postmaster(url: str) -> int | None:
    import psycopg

    from unibox_tui.core.postgres import _conninfo

    with psycopg.connect(_conninfo(url)) as con:
        data = con.execute("SHOW data_directory").fetchone()[0]
    pid_file = Path(data) / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except OSError:
        return None  # a server on another machine: no server CPU figures


def build_sqlite(path: Path, conversations: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv/bin/unibox"), "demo", "--conversations", str(conversations),
         "--generate-only", "--db", str(path)],
        check=True,
    )  # fmt: skip
    return round(time.perf_counter() - started, 1)


def measure(url: str, runs: int) -> dict:
    timer = server_timer(_postmaster(url))
    with open_workspace(url, create=False) as ws:
        stats = q.stats(ws)
        restricted, everything = pick_agents(ws)
        out: dict = {
            "conversations": stats["conversation"],
            "messages": stats["message"],
            "restricted_agent": restricted.handle,
            "unrestricted_agent": everything.handle,
        }
        for name, agent in (("restricted", restricted), ("unrestricted", everything)):
            part = measure_lists(ws, agent.id, runs, timer)
            try:
                part["search"] = measure_search(ws, q.reader(ws, agent.id), runs, timer)
                part["worst_search_p95_ms"] = max(s["p95_ms"] for s in part["search"].values())
            except Exception as e:  # no PostgreSQL search yet: measure the rest
                first = (str(e).strip().splitlines() or [""])[0]
                part["search"] = f"not available: {type(e).__name__}: {first[:200]}"
                part["worst_search_p95_ms"] = None
            out[name] = part
    r = out["restricted"]
    out["summary"] = {
        "restricted_worst_list_or_count_p95_ms": r["worst_list_or_count_p95_ms"],
        "restricted_worst_list_or_count_cpu_p95_ms": r["worst_list_or_count_cpu_p95_ms"],
        "restricted_worst_filtered_count_p95_ms": r["worst_filtered_count_p95_ms"],
        "restricted_worst_search_p95_ms": r["worst_search_p95_ms"],
        "unrestricted_worst_list_or_count_p95_ms": out["unrestricted"][
            "worst_list_or_count_p95_ms"
        ],
        "list_and_count_target_met": r["worst_list_or_count_p95_ms"] <= 10,
        "search_target_met": None
        if r["worst_search_p95_ms"] is None
        else r["worst_search_p95_ms"] <= 50,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite", default="/tmp/pg_reads100k.db", type=Path)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database-url", help="measure this workspace as it is")
    args = parser.parse_args()
    result: dict = {}
    server = None
    try:
        url = args.database_url
        if url is None:
            if not args.sqlite.exists():
                result["demo_build_s"] = build_sqlite(args.sqlite, args.conversations)
            from servers.postgres import PostgresServer

            server = PostgresServer()
            url = server.database("pg_reads")
            postmaster = _postmaster(url)
            assert postmaster is not None
            server_cpu = _cluster_cpu_total_s(postmaster)
            started, cpu = time.perf_counter(), time.process_time()
            moved = migrate(str(args.sqlite), url)
            result["migrate"] = {
                "rows": moved["rows"],
                "wall_s": round(time.perf_counter() - started, 1),
                "client_cpu_s": round(time.process_time() - cpu, 1),
                "server_cpu_s": round(_cluster_cpu_total_s(postmaster) - server_cpu, 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        result.update(measure(url, args.runs))
    finally:
        if server is not None:
            server.stop()
    result["summary"]["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
