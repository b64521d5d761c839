"""Two hub nodes on one PostgreSQL and one Redis (issue 11 §2): fan-out across the nodes and
the channels' failover time.

    .venv/bin/python benchmarks/hub_nodes.py [--agents 50] [--per-process 10]
        [--commands 100] [--failovers 3] [--parts fanout,failover]

Builds everything it needs: a private PostgreSQL and redis-server in temp dirs
(tests/servers/postgres.py, tests/servers/redis.py; installed with apt-get when missing), a
workspace there with `--agents` agents (all see one inbox) and 20 conversations, and two
`unibox hub --database-url URL --redis URL` processes. Half the agents' apps connect to node
A, half to node B, in client processes apart from the hubs (benchmarks/_hub_worker.py, as
hub_team.py).

Prints one JSON document:
- `fanout`: an agent on node B comments (`--commands` times, one at a time); latency from
  the sender's `run` call to the moment the comment is committed in each other agent's
  cache. `to_all` per command, until the last agent on either node has it (target p99
  <= 100 ms); `per_receiver_node_a` / `_node_b`: every arrival, by the receiver's node
  (node A learns of the write through PostgreSQL's NOTIFY). CPU of each hub per command.
- `failover`: two nodes with channels on; `kill -9` of the one holding the channels' lease,
  then the time until the other's /healthz says it runs the channels (retried every
  hub/node.LEASE_RETRY seconds: the figure is at most that plus the engine's start).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _hubbench import Worker, all_call, machine, percentiles  # noqa: E402
from hub_team import chunks, cpu_s  # noqa: E402
from servers.hub import HubProcess  # noqa: E402
from servers.postgres import PostgresServer  # noqa: E402
from servers.redis import RedisServer  # noqa: E402


def workspace(pg: PostgresServer, agents: int) -> tuple[str, dict[str, str], list[str]]:
    from unibox_tui.core import clock
    from unibox_tui.core import commands as cmd
    from unibox_tui.core.commands.tokens import issue_token
    from unibox_tui.core.db import open_workspace

    url = pg.workspace()
    ws = open_workspace(url)
    try:
        cmd.create_agent(ws, "Ana Lima", "ana", "ana@acme.example", role="admin")
        cmd.create_inbox(ws, "Support")
        email = cmd.add_channel(ws, "Support", "email", "Support mail")
        convs = [
            cmd.ingest(
                ws,
                cmd.Incoming(
                    channel_id=email,
                    identity_kind="email",
                    identity_value=f"c{i}@customer.example",
                    contact_name=f"Customer {i}",
                    body="Hello",
                    subject=f"Order {i}",
                    created_at=clock.utcnow(),
                ),
            ).conversation_id
            for i in range(20)
        ]
        tokens = {}
        for i in range(agents):
            handle = f"bench{i:03d}"
            cmd.create_agent(ws, f"Bench Agent {i}", handle, actor=None)
            tokens[handle] = issue_token(ws, handle)
    finally:
        ws.close()
    return url, tokens, [str(c) for c in convs]


def fanout(args: argparse.Namespace, pg: PostgresServer, redis: RedisServer, tmp: Path) -> dict:
    from unibox_tui.core.ids import new_id

    url, tokens, convs = workspace(pg, args.agents)
    a = HubProcess(url, tmp / "a.log", redis=redis.url, state_dir=tmp / "a").start()
    b = HubProcess(url, tmp / "b.log", redis=redis.url, state_dir=tmp / "b").start()
    workers: list[Worker] = []
    try:
        handles = sorted(tokens)
        node_of = {h: (a if i % 2 == 0 else b) for i, h in enumerate(handles)}
        on_a = [h for h in handles if node_of[h] is a]
        on_b = [h for h in handles if node_of[h] is b]
        specs = []
        for node, group in ((a, on_a), (b, on_b)):
            for part in chunks(group, args.per_process):
                specs.append((node, part))
        workers = [Worker(i, tmp / f"worker-{i}.log") for i in range(len(specs))]
        started = time.perf_counter()
        all_call(
            workers,
            "open",
            per=[
                {
                    "url": node.url,
                    "clients": [
                        {"handle": h, "token": tokens[h], "dir": str(tmp / f"cache-{h}")}
                        for h in part
                    ],
                }
                for node, part in specs
            ],
        )
        open_s = time.perf_counter() - started
        owner = {h: workers[i] for i, (_n, part) in enumerate(specs) for h in part}
        sender = on_b[0]
        time.sleep(2.0)  # let the first pokes settle
        assert a.proc is not None and b.proc is not None
        cpu_a, cpu_b = cpu_s(a.proc.pid), cpu_s(b.proc.pid)
        print(
            f"fan-out: commands start (hubs {a.proc.pid} {b.proc.pid})", file=sys.stderr, flush=True
        )
        to_all: list[float] = []
        by_node: dict[str, list[float]] = {"a": [], "b": []}
        missing = 0
        warmup = 5
        for i in range(-warmup, args.commands):
            mid = new_id()
            all_call(workers, "watch", id=mid)
            sent = owner[sender].call(
                "send", handle=sender, conversation_id=convs[0], id=mid, text=f"fan-out {i}"
            )
            replies = all_call(workers, "wait", id=mid, timeout=10, exclude=sender)
            missing += sum(len(r["missing"]) for r in replies)
            if i < 0:
                continue
            lat = []
            for r in replies:
                for handle, t in r["arrivals"].items():
                    by_node["a" if node_of[handle] is a else "b"].append(t - sent["t0"])
                    lat.append(t - sent["t0"])
            if lat:
                to_all.append(max(lat))
        n = args.commands + warmup
        return {
            "agents": args.agents,
            "agents_per_node": {"a": len(on_a), "b": len(on_b)},
            "sender_node": "b",
            "open_and_first_sync_s": round(open_s, 2),
            "commands": args.commands,
            "to_all": percentiles(to_all),
            "per_receiver_node_a": percentiles(by_node["a"]),
            "per_receiver_node_b": percentiles(by_node["b"]),
            "missing_arrivals": missing,
            "hub_a_cpu_ms_per_command": round((cpu_s(a.proc.pid) - cpu_a) * 1000 / n, 2),
            "hub_b_cpu_ms_per_command": round((cpu_s(b.proc.pid) - cpu_b) * 1000 / n, 2),
        }
    finally:
        for w in workers:
            w.close()
        a.close()
        b.close()
        pg.drop(url)


def failover(args: argparse.Namespace, pg: PostgresServer, redis: RedisServer, tmp: Path) -> dict:
    from unibox_tui.hub.node import LEASE_RETRY

    url, _tokens, _convs = workspace(pg, 1)
    nodes = {
        n: HubProcess(
            url, tmp / f"f{n}.log", channels=True, redis=redis.url, state_dir=tmp / f"f{n}"
        )
        for n in ("a", "b")
    }
    times: list[float] = []

    def runs(node: HubProcess) -> bool:
        try:
            return bool(node.health()["channels"])
        except OSError:
            return False

    try:
        nodes["a"].start()
        deadline = time.monotonic() + 60
        while not runs(nodes["a"]):
            if time.monotonic() > deadline:
                raise RuntimeError("node A never took the channels")
            time.sleep(0.05)
        nodes["b"].start()
        holder, spare = "a", "b"
        for _ in range(args.failovers):
            time.sleep(1.0)  # the spare is waiting (it tries every LEASE_RETRY s)
            killed = time.monotonic()
            nodes[holder].kill()
            while not runs(nodes[spare]):
                if time.monotonic() - killed > 120:
                    raise RuntimeError("no node took the channels over in 120 s")
                time.sleep(0.02)
            times.append(time.monotonic() - killed)
            nodes[holder].start()  # back as the spare
            holder, spare = spare, holder
        return {
            "failovers": len(times),
            "lease_retry_s": LEASE_RETRY,
            "seconds": [round(t, 2) for t in times],
            "max_s": round(max(times), 2),
            "target_s": 30,
        }
    finally:
        for node in nodes.values():
            node.close()
        pg.drop(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--per-process", type=int, default=10)
    ap.add_argument("--commands", type=int, default=100)
    ap.add_argument("--failovers", type=int, default=3)
    ap.add_argument("--parts", default="fanout,failover")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="hub-nodes-bench-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")  # nothing in your own data dir
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    out: dict = {
        "machine": machine(),
        "setup": "two `unibox hub --database-url --redis` nodes, a private PostgreSQL and Redis",
    }
    pg = PostgresServer()
    redis = RedisServer()
    try:
        if "fanout" in parts:
            out["fanout"] = fanout(args, pg, redis, tmp)
        if "failover" in parts:
            out["failover"] = failover(args, pg, redis, tmp)
    finally:
        redis.stop()
        pg.stop()
        out["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
