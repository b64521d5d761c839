"""The hub's command capacity: N agents push comments at once, each on its own socket.io
connection in pushing processes apart from the hub, and the hub applies them.

    .venv/bin/python benchmarks/hub_push.py [--agents 50] [--per-process 10]
        [--conversations 2000] [--seconds 10] [--batch 20]

The pushers speak the real protocol (token, hello, push with mutation numbers) but keep no
cache and pull nothing (benchmarks/_hub_pusher.py): what is measured is the hub, not how
fast a client replays what the others did (hub_team.py's throughput part has full clients).
Each agent pushes `--batch` comments per call, as a client's queue does after a burst of
work or a reconnect, and waits for the answers before the next call.

Prints JSON: `applied_per_s` (the comments stored in the hub's file over the run: answers
are pruned as clients move on, so hub_mutation rows undercount; target >= 1,000/s; `acked`
is what the pushers were answered ok), `hub_cpu_ms_per_command`, push round-trip percentiles, the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import PYTHON, Hub, demo_template, machine, percentiles, team_workspace
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
    opts = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="hubpush-"))
    template = demo_template(opts.conversations, Path(f"/tmp/hubbench-demo{opts.conversations}.db"))
    team = team_workspace(template, scratch / "hub.db", opts.agents)
    hub = Hub(scratch / "hub.db", scratch / "hub.log", profile=opts.profile_hub)
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
        cpu0, t0 = cpu_s(hub.pid), time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs]
        elapsed = time.perf_counter() - t0
        cpu = cpu_s(hub.pid) - cpu0
        pushers = sum(cpu_s(p.pid) for p in procs) - pushers0
        applied = hub.count(COMMENTS) - applied0
        calls = [c for r in results for c in r["calls"]]
        print(
            json.dumps(
                {
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
                    "machine": machine(),
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
        if not opts.profile_hub:  # ~100 MB a run (the workspace and its WAL)
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
