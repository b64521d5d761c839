"""The hub's command capacity: N agents push comments at once, each on its own socket.io
connection in pushing processes apart from the hub, and the hub applies them.

    .venv/bin/python benchmarks/hub_push.py [--agents 50] [--per-process 10]
        [--conversations 2000] [--seconds 10] [--batch 20]
        [--postgres | --database-url URL] [--pg-statements FILE] [--profile-hub FILE]

The pushers speak the real protocol (token, hello, push with mutation numbers) but keep no
cache and pull nothing (benchmarks/_hub_pusher.py): what is measured is the hub, not how
fast a client replays what the others did (hub_team.py's throughput part has full clients).
Each agent pushes `--batch` comments per call, as a client's queue does after a burst of
work or a reconnect, and waits for the answers before the next call.

Prints JSON: `applied_per_s` (the comments stored in the hub's file over the run: answers
are pruned as clients move on, so hub_mutation rows undercount; target >= 1,000/s; `acked`
is what the pushers were answered ok), `hub_cpu_ms_per_command`, push round-trip percentiles, the machine.

On PostgreSQL (issue 11: target >= 1,000/s there too): `--postgres` starts a private server
(tests/servers/postgres.py: a temp cluster, fsync and synchronous_commit off, as the tests'),
`--database-url URL` names an EMPTY database of yours; either way the same team workspace is
moved there with `unibox migrate`'s code (core/move.py) and the hub runs with
`--database-url`. Then `postgres_cpu_ms_per_command` is the CPU of the private server's
processes (its backends are the postmaster's children), and `--pg-statements FILE` loads
pg_stat_statements in it and writes the statements by total time to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import (
    PYTHON,
    Hub,
    demo_template,
    machine,
    on_postgres,
    percentiles,
    team_workspace,
)
from hub_team import cpu_s

COMMENTS = "SELECT count(*) FROM message WHERE kind = 'comment'"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--per-process", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--profile-hub", type=Path, help="yappi profile of the hub to FILE.txt")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--postgres", action="store_true", help="on a private PostgreSQL")
    where.add_argument("--database-url", help="on this EMPTY PostgreSQL database")
    parser.add_argument(
        "--pg-statements", type=Path, help="with --postgres: pg_stat_statements to FILE"
    )
    opts = parser.parse_args()

    at_start = machine()
    scratch = Path(tempfile.mkdtemp(prefix="hubpush-"))
    template = demo_template(opts.conversations, Path(f"/tmp/hubbench-demo{opts.conversations}.db"))
    team = team_workspace(template, scratch / "hub.db", opts.agents)
    pg = None
    target: Path | str = scratch / "hub.db"
    if opts.postgres or opts.database_url:
        settings = ("shared_preload_libraries=pg_stat_statements",) if opts.pg_statements else ()
        target, pg = on_postgres(scratch / "hub.db", opts.database_url, settings)
        if opts.pg_statements:
            statements(target, reset=True)
    os.environ["XDG_DATA_HOME"] = str(scratch / "data")  # nothing in your own data dir
    hub = Hub(target, scratch / "hub.log", profile=opts.profile_hub)
    hub.start()
    procs = []
    try:
        handles = sorted(team["tokens"])
        for i in range(0, len(handles), opts.per_process):
            specs = [
                {
                    "token": team["tokens"][h],
                    "client_id": f"push-{h}",
                    "conversations": team["conversations"][:200],
                }
                for h in handles[i : i + opts.per_process]
            ]
            procs.append(
                subprocess.Popen(
                    [
                        PYTHON,
                        str(Path(__file__).with_name("_hub_pusher.py")),
                        hub.url,
                        str(opts.seconds),
                        str(opts.batch),
                        json.dumps(specs),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            assert json.loads(p.stdout.readline())["ready"]
        applied0 = hub.count(COMMENTS)
        pushers0 = sum(cpu_s(p.pid) for p in procs)
        if opts.pg_statements:
            statements(target, reset=True)
        server0 = server_cpu_by_process(pg)
        cpu0, t0 = cpu_s(hub.pid), time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs]
        elapsed = time.perf_counter() - t0
        cpu = cpu_s(hub.pid) - cpu0
        server1 = server_cpu_by_process(pg)
        server = sum(server1.values()) - sum(server0.values())
        pushers = sum(cpu_s(p.pid) for p in procs) - pushers0
        applied = hub.count(COMMENTS) - applied0
        if opts.pg_statements:
            by = sorted(((v - server0.get(k, 0.0), k) for k, v in server1.items()), reverse=True)
            busiest = "".join(f"{cpu:8.2f} s  {pid} {what}\n" for cpu, (pid, what) in by[:12])
            opts.pg_statements.write_text(
                f"server processes by CPU over the run:\n{busiest}\n"
                + statements(target, applied=applied)
            )
        database = {"database": "sqlite"}
        if pg is not None or opts.database_url:
            database = {"database": "postgresql" + (" (private)" if pg else "")}
        if pg is not None:
            database["postgres_cpu_ms_per_command"] = round(server * 1000 / max(applied, 1), 3)
            database["postgres_cpu_share"] = round(server / elapsed, 2)
        calls = [c for r in results for c in r["calls"]]
        print(
            json.dumps(
                {
                    **database,
                    "agents": opts.agents,
                    "batch": opts.batch,
                    "seconds": round(elapsed, 2),
                    "applied": applied,
                    "applied_per_s": round(applied / elapsed, 1),
                    "acked": sum(r["ok"] for r in results),
                    "rejected": sum(r["rejected"] for r in results),
                    "hub_cpu_ms_per_command": round(cpu * 1000 / max(applied, 1), 3),
                    "hub_cpu_share": round(cpu / elapsed, 2),
                    "pushers_cpu_ms_per_command": round(pushers * 1000 / max(applied, 1), 3),
                    "pushers_cpu_share": round(pushers / elapsed, 2),
                    "push_round_trip": percentiles(calls),
                    "machine": {
                        **at_start,
                        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
                    },
                },
                indent=2,
            )
        )
    finally:
        for p in procs:
            p.kill()
        if opts.profile_hub:
            hub.stop()  # SIGTERM: the profiler writes its report
        hub.close()
        if pg is not None:
            pg.stop()
        if not opts.profile_hub:  # ~100 MB a run (the workspace and its WAL)
            shutil.rmtree(scratch, ignore_errors=True)


def server_cpu_s(pg: object) -> float:
    """CPU seconds of a private PostgreSQL's processes now (the postmaster and its children:
    a backend per connection, the WAL writer...); 0 without one."""
    return sum(server_cpu_by_process(pg).values())


def server_cpu_by_process(pg: object) -> dict[tuple[int, str], float]:
    """CPU seconds of each of a private PostgreSQL's processes, by (pid, what it does)."""
    if pg is None:
        return {}
    root = pg.pid()  # type: ignore[attr-defined]
    out = {(root, "postmaster"): cpu_s(root)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                # "postgres: postgres bench 127.0.0.1(port) idle": the port names the client
                what = title.split("(")[0].replace("postgres: ", "").strip()
                out[(int(entry.name), what)] = cpu_s(int(entry.name))
        except (OSError, ValueError):
            continue  # ended meanwhile
    return out


def statements(url: str, *, reset: bool = False, applied: int = 0) -> str:
    """pg_stat_statements: reset it, or the statements by total time (per applied command)."""
    import psycopg

    from unibox_tui.core.postgres import conninfo

    with psycopg.connect(conninfo(url), autocommit=True) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if reset:
            con.execute("SELECT pg_stat_statements_reset()")
            return ""
        rows = con.execute(
            "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
            "ORDER BY total_exec_time DESC LIMIT 40"
        ).fetchall()
    lines = [f"applied {applied}; calls, ms total, ms per applied command, rows, statement"]
    for calls, total, nrows, query in rows:
        per = total / max(applied, 1)
        text = " ".join(query.split())[:300]
        lines.append(f"{calls:8d} {total:10.1f} {per:8.4f} {nrows:8d}  {text}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
