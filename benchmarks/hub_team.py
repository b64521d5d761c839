"""A team on one hub: fan-out latency, command throughput, a reconnect storm and the hub's
memory, with every agent's app in a process apart from the hub.

    .venv/bin/python benchmarks/hub_team.py [--agents 50] [--per-process 10]
        [--conversations 2000] [--commands 200] [--flood-seconds 10] [--storm-queued 5]
        [--parts rss,fanout,storm,throughput] [--profile-hub FILE]

Setup: a demo workspace (`unibox demo --conversations N --generate-only`, built once as
/tmp/hubbench-demoN.db) copied to a scratch folder, `--agents` agents added with hub tokens
(all see the `everyone` inbox), a `unibox hub --no-channels` subprocess on it, and
agents/per-process client processes (benchmarks/_hub_worker.py) each hosting that many
HubClients on threads (each with its own cache file, sync thread and socket.io connection).

Prints one JSON document:
- `rss`: the hub's resident memory idle, with all agents connected and synced, and with
  as many extra connections again (second clients of the same agents, in more processes):
  `per_extra_connection_kb`.
- `fanout`: one agent comments (`--commands` times, one at a time on one conversation);
  latency from the sender's `run` call to the moment the comment is committed in each
  other agent's cache (after the pull that brought it). `to_all` is per command, until the
  last of the other agents has it (target p99 <= 100 ms); `per_receiver` every arrival.
  CPU of the hub and of all client processes per command, and the same less what an idle
  second costs them (`idle_*_cpu_ms_per_s`, measured for `--idle-seconds` before).
- `storm`: each client queues `--storm-queued` comments while the hub is down (SIGTERM);
  the hub starts again; time until every client is connected, has pushed its queue and
  holds everything up to the hub's head (per client, from the hub answering /healthz);
  `first_round_after_ready`: when each had reconnected and finished a first round (the
  socket.io client's reconnect back-off, 0.5 s doubling to 5 s, randomised, sets most of it).
- `drain`: the same with `--drain-queued` comments per client: `apply_per_s` is the hub's
  rate from the first queued mutation applied to the last (its capacity with every client
  pushing at once and the commands already made), `hub_cpu_ms_per_mutation` its CPU cost.
- `throughput`: every agent runs comments as fast as it can for `--flood-seconds`; the
  hub's applied mutations (hub_mutation rows with status ok) sampled every 0.5 s. `applied_per_s`
  over the flood (target >= 1,000/s), `drain_s` until the hub has applied every command the
  clients ran. `offered_per_s` is what the clients managed to run locally.
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

from _hubbench import (
    Hub,
    Worker,
    all_call,
    demo_template,
    machine,
    percentiles,
    rss_kb,
    seed_caches,
    team_workspace,
)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used: system time is mostly the kernel's
    loopback TCP, one send per socket a message goes to."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def open_clients(
    hub: Hub, handles: list[str], tokens: dict, folder: Path, per: int, tag: str, logs: Path
) -> tuple[list[Worker], dict[str, str], float]:
    groups = chunks(handles, per)
    workers = [Worker(i, logs / f"worker-{tag}-{i}.log") for i in range(len(groups))]
    started = time.perf_counter()
    replies = all_call(
        workers,
        "open",
        per=[
            {
                "url": hub.url,
                "clients": [
                    {"handle": h, "token": tokens[h], "dir": str(folder / f"cache-{tag}-{h}")}
                    for h in group
                ],
            }
            for group in groups
        ],
    )
    seconds = time.perf_counter() - started
    agents: dict[str, str] = {}
    for r in replies:
        agents.update(r["agents"])
    return workers, agents, seconds


def settle_rss(pid: int, seconds: float = 2.0) -> dict[str, int]:
    time.sleep(seconds)  # let the last replies and pokes go out before reading memory
    return rss_kb(pid)


def fanout(
    workers: list[Worker], owner: dict[str, Worker], sender: str, conv: str, n: int, warmup: int = 5
) -> dict:
    from unibox_tui.core.ids import new_id

    to_all: list[float] = []
    per_receiver: list[float] = []
    send_call: list[float] = []
    missing = 0
    for i in range(-warmup, n):
        mid = new_id()
        all_call(workers, "watch", id=mid)
        sent = owner[sender].call(
            "send", handle=sender, conversation_id=conv, id=mid, text=f"fan-out {i}"
        )
        replies = all_call(workers, "wait", id=mid, timeout=10, exclude=sender)
        times = [t for r in replies for t in r["arrivals"].values()]
        missing += sum(len(r["missing"]) for r in replies)
        lat = [t - sent["t0"] for t in times]
        if i < 0:  # warm-up: first calls import and compile what later ones reuse
            continue
        per_receiver += lat
        send_call.append(sent["t1"] - sent["t0"])
        if lat:
            to_all.append(max(lat))
    return {
        "commands": n,
        "warmup_commands_not_counted": warmup,
        "receivers": len(per_receiver) // max(1, n),
        "to_all": percentiles(to_all),
        "per_receiver": percentiles(per_receiver),
        "sender_run_call": percentiles(send_call),
        "missing_arrivals": missing,
    }


def storm(
    hub: Hub, workers: list[Worker], conversations: dict[str, str], queued: int, total: int
) -> dict:
    """SIGTERM the hub; each client queues `queued` comments meanwhile; start it again."""
    ok_sql = "SELECT count(*) FROM hub_mutation WHERE status = 'ok'"
    stop_started = time.perf_counter()
    code = hub.stop()
    stop_s = time.perf_counter() - stop_started
    queue_s = 0.0
    if queued:
        t = time.perf_counter()
        all_call(workers, "queue", n=queued, conversations=conversations)
        queue_s = time.perf_counter() - t
    before = hub.count(ok_sql)
    since = time.time()
    ready_s = hub.start()
    ready_at = since + ready_s
    cpu0 = cpu_s(hub.pid)
    expected = before + queued * total
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        n = hub.count(ok_sql) - before
        samples.append((time.time(), n))
        if n >= queued * total:
            break
        time.sleep(0.05)
    applied_at = samples[-1][0]
    cpu_apply = cpu_s(hub.pid) - cpu0
    head = hub.head()
    replies = all_call(workers, "caught_up", head=head, since=since, timeout=300)
    done = [t for r in replies for t in r["done"].values()]
    back = [t for r in replies for t in r["back"].values() if t]
    not_done = [h for r in replies for h in r["states"] if h not in r["done"]]
    out = {
        "clients": total,
        "queued_per_client": queued,
        "queue_offline_s": round(queue_s, 2),
        "hub_sigterm_exit": code,
        "hub_stop_s": round(stop_s, 2),
        "hub_ready_s": round(ready_s, 2),
        "all_queued_applied_after_ready_s": round(applied_at - ready_at, 2),
        "first_round_after_ready": percentiles([t - ready_at for t in back], 1.0, "s"),
        "caught_up_after_ready": percentiles([t - ready_at for t in done], 1.0, "s"),
        "all_caught_up_after_ready_s": round(max(done) - ready_at, 2) if done else None,
        "not_caught_up": not_done,
    }
    if queued and expected > before:
        # The hub's apply rate once pushes arrive: from the first applied mutation to the last
        # (reconnect back-off before the first push is not the hub's time).
        first = next((t for t, n in samples if n > 0), applied_at)
        out["first_push_applied_after_ready_s"] = round(first - ready_at, 2)
        out["apply_per_s"] = round(queued * total / max(1e-6, applied_at - first), 1)
        out["hub_cpu_s_until_applied"] = round(cpu_apply, 2)
        out["hub_cpu_ms_per_mutation"] = round(cpu_apply * 1000 / (queued * total), 2)
    return out


def throughput(
    hub: Hub, workers: list[Worker], conversations: dict[str, str], seconds: float
) -> dict:
    ok_sql = "SELECT count(*) FROM hub_mutation WHERE status = 'ok'"
    all_sql = "SELECT count(*) FROM hub_mutation"
    base = hub.count(ok_sql)
    base_all = hub.count(all_sql)
    cpu0 = cpu_s(hub.pid)
    start_at = time.time() + 1.0
    for w in workers:
        w.send("flood", seconds=seconds, conversations=conversations, start_at=start_at)
    samples: list[tuple[float, int]] = []
    while time.time() < start_at + seconds:
        samples.append((time.time(), hub.count(ok_sql) - base))
        time.sleep(0.5)
    samples.append((time.time(), hub.count(ok_sql) - base))
    replies = [w.reply() for w in workers]
    ran = sum(sum(r["ran"].values()) for r in replies)
    errors = sum(r["error_count"] for r in replies)
    flood_end = start_at + seconds
    in_window = [n for t, n in samples if t <= flood_end]
    applied_in_flood = in_window[-1] if in_window else 0
    cpu_flood = cpu_s(hub.pid) - cpu0
    deadline = time.monotonic() + 600
    while hub.count(all_sql) - base_all < ran and time.monotonic() < deadline:
        time.sleep(0.1)
    drained_at = time.time()
    applied = hub.count(ok_sql) - base
    # Steady state: the best rate over any 2 s of the flood (samples every 0.5 s).
    rates = [
        (b[1] - a[1]) / (b[0] - a[0])
        for a, b in zip(samples, samples[4:], strict=False)
        if b[0] <= flood_end + 0.5
    ]
    return {
        "agents": len(conversations),
        "flood_seconds": seconds,
        "offered": ran,
        "offered_per_s": round(ran / seconds, 1),
        "client_errors": errors,
        "applied_during_flood": applied_in_flood,
        "applied_per_s": round(applied_in_flood / seconds, 1),
        "best_2s_rate_per_s": round(max(rates), 1) if rates else None,
        "applied_total": applied,
        "rejected": hub.count(all_sql) - base_all - applied,
        "drain_s_after_flood": round(drained_at - flood_end, 2),
        "overall_per_s": round(applied / (drained_at - start_at), 1),
        "hub_cpu_s_during_flood": round(cpu_flood, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--per-process", type=int, default=10, help="HubClients per client process")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--commands", type=int, default=200, help="fan-out commands")
    ap.add_argument("--flood-seconds", type=float, default=10.0)
    ap.add_argument(
        "--idle-seconds", type=float, default=5.0, help="idle CPU measured before fan-out"
    )
    ap.add_argument("--storm-queued", type=int, default=5, help="comments queued per client")
    ap.add_argument(
        "--drain-queued", type=int, default=40, help="comments queued per client for `drain`"
    )
    ap.add_argument("--parts", default="rss,fanout,storm,drain,throughput")
    ap.add_argument("--profile-hub", type=Path, help="run the hub under cProfile, write here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument(
        "--full-first-sync",
        action="store_true",
        help="every client replays the log from zero (default: caches start from a snapshot)",
    )
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    template = demo_template(args.conversations, Path(f"/tmp/hubbench-demo{args.conversations}.db"))
    folder = Path(tempfile.mkdtemp(prefix="hubbench-team-"))
    logs = folder
    team = team_workspace(template, folder / "hub.db", args.agents * (2 if "rss" in parts else 1))
    handles = sorted(team["tokens"])[: args.agents]
    extra = sorted(team["tokens"])[args.agents :]
    convs = team["conversations"]
    seeded_s = None
    if not args.full_first_sync:
        seeded_s = seed_caches(
            folder / "hub.db",
            team["agents"],
            lambda h: folder / f"cache-{'a' if h in handles else 'b'}-{h}",
        )
    out: dict = {
        "machine": machine(),
        "setup": {
            "agents": args.agents,
            "client_processes": -(-args.agents // args.per_process),
            "clients_per_process": args.per_process,
            "demo_conversations": args.conversations,
            "hub": "unibox hub --no-channels (SQLite, one subprocess)",
            "caches": "full replay" if seeded_s is None else "seeded from changes.snapshot",
            "seed_caches_s": seeded_s and round(seeded_s, 2),
        },
    }
    hub = Hub(folder / "hub.db", folder / "hub.log", profile=args.profile_hub)
    workers: list[Worker] = []
    try:
        out["setup"]["hub_start_s"] = round(hub.start(), 2)
        idle = settle_rss(hub.pid, 1.0)
        workers, _agents, open_s = open_clients(
            hub, handles, team["tokens"], folder, args.per_process, "a", logs
        )
        out["setup"]["open_and_first_sync_s"] = round(open_s, 2)
        owner = {h: workers[i // args.per_process] for i, h in enumerate(handles)}
        own_conv = {h: convs[i % len(convs)] for i, h in enumerate(handles)}
        if "rss" in parts:
            full = settle_rss(hub.pid)
            more, _, _ = open_clients(
                hub, extra, team["tokens"], folder, args.per_process, "b", logs
            )
            doubled = settle_rss(hub.pid)
            for w in more:
                w.close()
            client = [w.call("rss")["rss_kb"] for w in workers]
            out["rss"] = {
                "hub_idle_kb": idle["VmRSS"],
                f"hub_{len(handles)}_connected_kb": full["VmRSS"],
                f"hub_{len(handles) + len(extra)}_connected_kb": doubled["VmRSS"],
                "per_extra_connection_kb": round(
                    (doubled["VmRSS"] - full["VmRSS"]) / max(1, len(extra)), 1
                ),
                "hub_peak_kb": doubled["VmHWM"],
                "client_process_kb": [c["VmRSS"] for c in client],
                "clients_per_process": args.per_process,
            }
        if "fanout" in parts:
            # Idle first: what the hub and the clients spend per second with nothing to do
            # (pings, the hub's watcher, clients' safety rounds), so that the per-command
            # figures below can be told apart from it.
            time.sleep(2.0)
            cpu0, clients0 = cpu_s(hub.pid), sum(r["cpu_s"] for r in all_call(workers, "cpu"))
            t0 = time.perf_counter()
            time.sleep(args.idle_seconds)
            idle_s = time.perf_counter() - t0
            idle_hub = (cpu_s(hub.pid) - cpu0) / idle_s
            idle_clients = (sum(r["cpu_s"] for r in all_call(workers, "cpu")) - clients0) / idle_s
            cpu0, (user0, sys0) = cpu_s(hub.pid), cpu_split(hub.pid)
            c0 = all_call(workers, "cpu")
            clients0 = sum(r["cpu_s"] for r in c0)
            t0 = time.perf_counter()
            out["fanout"] = fanout(workers, owner, handles[0], convs[0], args.commands)
            wall = time.perf_counter() - t0
            n = args.commands + 5
            hub_cpu = cpu_s(hub.pid) - cpu0
            c1 = all_call(workers, "cpu")
            clients_cpu = sum(r["cpu_s"] for r in c1) - clients0
            out["fanout"]["hub_cpu_ms_per_command"] = round(hub_cpu * 1000 / n, 1)
            user1, sys1 = cpu_split(hub.pid)
            out["fanout"]["hub_user_sys_ms_per_command"] = [
                round((user1 - user0) * 1000 / n, 1),
                round((sys1 - sys0) * 1000 / n, 1),
            ]
            out["fanout"]["clients_cpu_ms_per_command"] = round(clients_cpu * 1000 / n, 1)
            out["fanout"]["clients_user_sys_ms_per_command"] = [
                round(sum(b[k] - a[k] for a, b in zip(c0, c1, strict=True)) * 1000 / n, 1)
                for k in ("user_s", "sys_s")
            ]
            out["fanout"]["seconds"] = round(wall, 1)
            out["fanout"]["idle_hub_cpu_ms_per_s"] = round(idle_hub * 1000, 1)
            out["fanout"]["idle_clients_cpu_ms_per_s"] = round(idle_clients * 1000, 1)
            # The same per command without what the idle second costs (the run's wall time
            # grows with the machine's load; this part does not).
            out["fanout"]["hub_cpu_ms_per_command_less_idle"] = round(
                (hub_cpu - idle_hub * wall) * 1000 / n, 1
            )
            out["fanout"]["clients_cpu_ms_per_command_less_idle"] = round(
                (clients_cpu - idle_clients * wall) * 1000 / n, 1
            )
            out["fanout"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        if "storm" in parts:
            out["storm"] = storm(hub, workers, own_conv, args.storm_queued, len(handles))
        if "drain" in parts:
            out["drain"] = storm(hub, workers, own_conv, args.drain_queued, len(handles))
        if "throughput" in parts:
            out["throughput"] = throughput(hub, workers, own_conv, args.flood_seconds)
            out["throughput"]["hub_rss_after_kb"] = rss_kb(hub.pid)["VmRSS"]
    finally:
        for w in workers:
            w.close()
        if hub.proc is not None:
            out.setdefault("setup", {})["hub_exit"] = hub.stop()
        out["scratch"] = str(folder)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
