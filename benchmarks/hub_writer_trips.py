"""The hub's writer on PostgreSQL, in process: round trips, statements and CPU per comment.

    .venv/bin/python benchmarks/hub_writer_trips.py [--groups 10] [--agents 10] [--batch 20]
        [--database-url URL]

What benchmarks/hub_push.py --postgres measures end to end (commands/s with 50 agents in
their own processes), taken apart: the hub's group commit (hub/mutations.apply_pushes) runs
here on a team workspace copied into a private PostgreSQL (tests/servers/postgres.py; or
`--database-url`, an EMPTY database of yours), each group `--agents` pushes of `--batch`
comments, one agent each, as the hub's writer gets them. Counted on the driver (psycopg):

- `round_trips_per_comment`: each wait for the server (a statement outside a pipeline, a
  pipeline's sync, a pipeline left; psycopg's executemany is one pipeline);
- `statements_per_comment`;
- `writer_cpu_ms_per_comment`: this process's CPU (the writer's Python and the driver's);
- `postgres_cpu_ms_per_comment`: the private server's processes (with --postgres only).

Prints JSON, with the load average (the machine is shared: compare CPU, not wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import demo_template, machine, on_postgres, team_workspace
from hub_push import server_cpu_s


class Counter:
    """Waits for the server and statements sent, counted on psycopg's cursor and pipeline."""

    def __init__(self) -> None:
        import psycopg
        from psycopg import _pipeline

        self.trips = self.statements = 0
        execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
        sync, leave = _pipeline.Pipeline.sync, _pipeline.Pipeline.__exit__
        counter = self

        def counted_execute(cursor, *args, **kwargs):  # type: ignore[no-untyped-def]
            counter.statements += 1
            counter.trips += cursor._conn._pipeline is None
            return execute(cursor, *args, **kwargs)

        def counted_executemany(cursor, query, rows, **kwargs):  # type: ignore[no-untyped-def]
            rows = list(rows)
            counter.statements += len(rows)
            counter.trips += cursor._conn._pipeline is None  # one pipeline, one sync
            psycopg.Cursor.execute = execute  # (it does not call execute; to be sure)
            try:
                return executemany(cursor, query, rows, **kwargs)
            finally:
                psycopg.Cursor.execute = counted_execute

        def counted_sync(pipeline):  # type: ignore[no-untyped-def]
            counter.trips += 1
            return sync(pipeline)

        def counted_leave(pipeline, *exc):  # type: ignore[no-untyped-def]
            counter.trips += pipeline.level == 1  # the outermost: a sync and the results
            return leave(pipeline, *exc)

        psycopg.Cursor.execute = counted_execute
        psycopg.Cursor.executemany = counted_executemany
        _pipeline.Pipeline.sync = counted_sync
        _pipeline.Pipeline.__exit__ = counted_leave


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--database-url", help="an EMPTY PostgreSQL database of yours")
    opts = parser.parse_args()

    at_start = machine()
    scratch = Path(tempfile.mkdtemp(prefix="hubtrips-"))
    template = demo_template(opts.conversations, Path(f"/tmp/hubbench-demo{opts.conversations}.db"))
    team = team_workspace(template, scratch / "hub.db", opts.agents)
    pg = None
    try:
        from unibox_tui.core.db import open_workspace
        from unibox_tui.hub import mutations

        url, pg = on_postgres(scratch / "hub.db", opts.database_url)
        ws = open_workspace(url)
        convs = team["conversations"][:200]
        agents = sorted(team["agents"].items())
        numbers = {handle: 0 for handle, _ in agents}
        made = 0

        def group() -> None:
            nonlocal made
            pushes = []
            for handle, agent_id in agents:
                mutations_ = []
                for _ in range(opts.batch):
                    numbers[handle] += 1
                    made += 1
                    args = {"conversation_id": convs[made % len(convs)], "text": f"p{made}"}
                    mutations_.append(
                        {"mutation_id": numbers[handle], "name": "comment", "args": args}
                    )
                pushes.append(mutations.Push(f"trips-{handle}", agent_id, mutations_))
            for answers in mutations.apply_pushes(ws, pushes):
                assert isinstance(answers, list) and all(a["status"] == "ok" for a in answers)

        group()  # the first prepares what a comment needs (imports, statements)
        counter = Counter()
        first = made
        server0, cpu0, t0 = server_cpu_s(pg), time.process_time(), time.perf_counter()
        for _ in range(opts.groups):
            group()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        server = server_cpu_s(pg) - server0
        comments = made - first
        ws.close()
        out = {
            "comments": comments,
            "group": f"{opts.agents} pushes of {opts.batch}",
            "round_trips_per_comment": round(counter.trips / comments, 2),
            "statements_per_comment": round(counter.statements / comments, 2),
            "writer_cpu_ms_per_comment": round(cpu * 1000 / comments, 3),
            "wall_ms_per_comment": round(elapsed * 1000 / comments, 3),
            "machine": {**at_start, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
        }
        if pg is not None:
            out["postgres_cpu_ms_per_comment"] = round(server * 1000 / comments, 3)
        print(json.dumps(out, indent=2))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
