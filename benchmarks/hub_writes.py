"""The hub writer's CPU per command, without sockets: what `mutations.apply_batch` (one
push: one transaction, a savepoint per command) costs for each hot command, in process.

    .venv/bin/python benchmarks/hub_writes.py [--commands comment,reply,mark_read,assign,close]
        [--agents 50] [--batch 20] [--rounds 3] [--profile FILE] [--postgres]

Builds what it needs (the 2,000-conversation demo template shared with hub_push.py, copied
to a scratch file with `--agents` agents). Each round, every agent pushes `--batch`
mutations of the command on the open conversations of the everyone inbox; the first round
is a warm-up. `close` alternates close and reopen on each conversation, and `mark_read`
read and unread, so that every command changes something. CPU is this thread's (time.thread_time): the figure to decide
on on a loaded machine; wall time and the load average are printed beside it.
benchmarks/hub_push.py measures the whole hub (socket.io included) with pushing processes.
`--postgres`: the same workspace moved (core/move.py) into a private PostgreSQL
(tests/servers/postgres.py); `server_cpu_ms_per_command` is then its processes' CPU.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import demo_template, machine, team_workspace

from unibox_tui.core.db import open_workspace
from unibox_tui.hub import mutations


def args_for(name: str, number: int, conv: str, handles: list[str]) -> tuple[str, dict]:
    if name == "comment":
        return "comment", {"conversation_id": conv, "text": f"note {number}"}
    if name == "reply":
        return "reply", {"conversation_id": conv, "text": f"reply {number}"}
    if name == "mark_read":  # read, then unread: both change the conversation
        return "mark_read", {"conversation_id": conv, "read": number % 2 == 0}
    if name == "assign":
        return "assign", {"conversation_id": conv, "agent": handles[number % len(handles)]}
    if name == "close":  # close, then reopen: both change the conversation
        return ("close" if number % 2 == 0 else "reopen"), {"conversation_id": conv}
    raise SystemExit(f"unknown command {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", default="comment,reply,mark_read,assign,close")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (+1 warm-up)")
    parser.add_argument("--profile", type=Path, help="cProfile of the measured rounds to FILE")
    parser.add_argument("--postgres", action="store_true", help="on a private PostgreSQL")
    opts = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="hubwrites-"))
    template = demo_template(2000, Path("/tmp/hubbench-demo2000.db"))
    team = team_workspace(template, scratch / "hub.db", opts.agents)
    handles = sorted(team["tokens"])
    convs = team["conversations"]
    pg = None
    target: Path | str = scratch / "hub.db"
    if opts.postgres:
        from hub_push import server_cpu_s

        from unibox_tui.core.move import migrate

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from servers.postgres import PostgresServer

        pg = PostgresServer()
        target = pg.database()
        migrate(str(scratch / "hub.db"), target)
    ws = open_workspace(target)
    numbers = dict.fromkeys(handles, 0)
    started_on = machine()
    results: dict[str, Any] = {}
    profiler = cProfile.Profile() if opts.profile else None
    try:
        for name in opts.commands.split(","):

            def one_round(name: str = name) -> int:
                done = 0
                for i, handle in enumerate(handles):
                    batch = []
                    for j in range(opts.batch):
                        numbers[handle] += 1
                        # Pairs (close/reopen, read/unread): one conversation twice in a row.
                        paired = name in ("close", "mark_read")
                        k = i * opts.batch + j // 2 * 2 if paired else numbers[handle]
                        command, args = args_for(name, j, convs[k % len(convs)], handles)
                        batch.append(
                            {"mutation_id": numbers[handle], "name": command, "args": args}
                        )
                    answers = mutations.apply_batch(
                        ws, f"bench-{handle}", team["agents"][handle], batch
                    )
                    bad = [a for a in answers if a["status"] != "ok"]
                    if bad:
                        raise SystemExit(f"{name}: {bad[0]}")
                    done += len(answers)
                return done

            one_round()  # warm-up: statements prepared, rows cached
            if profiler:
                profiler.enable()
            server0 = server_cpu_s(pg) if pg else 0.0
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            applied = sum(one_round() for _ in range(opts.rounds))
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            server = server_cpu_s(pg) - server0 if pg else 0.0
            if profiler:
                profiler.disable()
            results[name] = {
                "applied": applied,
                "cpu_ms_per_command": round(cpu * 1000 / applied, 3),
                "wall_ms_per_command": round(wall * 1000 / applied, 3),
                "commands_per_cpu_s": round(applied / cpu, 1),
                **({"server_cpu_ms_per_command": round(server * 1000 / applied, 3)} if pg else {}),
            }
    finally:
        ws.close()
        if pg is not None:
            pg.stop()
    if profiler and opts.profile:
        with opts.profile.open("w") as f:
            stats = pstats.Stats(profiler, stream=f)
            stats.sort_stats("cumulative").print_stats(80)
            stats.sort_stats("tottime").print_stats(40)
    print(
        json.dumps(
            {
                "database": "postgresql (private)" if pg else "sqlite",
                "agents": opts.agents,
                "batch": opts.batch,
                "commands": results,
                "machine": started_on,
                "code": str(Path(mutations.__file__).resolve().parents[2]),
                "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
