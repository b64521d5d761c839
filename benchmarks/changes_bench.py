"""The change log at scale: a full replay from zero, and an incremental pull.

    .venv/bin/python benchmarks/changes_bench.py [--db /tmp/demo100k.db] [--agents ana,bo]
        [--limit 5000] [--runs 50] [--format columnar|dicts] [--parts replay,pipelined,...]

`--db` is a demo workspace to reuse (built there with `unibox demo --conversations 100000
--generate-only --db PATH` or by this script when missing; the build takes a while). It is
only read: the incremental part works on a copy.

Prints one JSON document:
- `replay[agent]`: every page from cursor 0 through `changes_since` into an empty replica
  (migrated schema) with `apply_changes`, as a client's first sync does; seconds in total
  and split into reading the log, encoding each page as JSON (what travels: the hub's codec,
  hub/protocol.dumps) and applying;
  `list_ready_s`: when every conversation was in (a complete list); `wire_mb`: the JSON.
  Pages in `--format` (columnar: changes.ColumnarChanges, the wire form; dicts: Changes).
  Target (issue 9): <= 30 s at 100k conversations / ~1M messages.
- `replay_pipelined[agent]`: the same replay with the hub and the client in two processes
  (pages as JSON bytes over a pipe; the client's `changes.pull` asks for the next page
  while it applies one), each process's CPU time and peak RSS: a new agent joining a hub.
- `snapshot[agent]`: `changes.snapshot`, the same first sync copied inside SQLite.
- `incremental[agent]`: 100 commands (reply, comment, assign, close, ...) on the copy, then
  `changes_since(head - 100)` as a client one hundred changes behind pulls it. Target: p95
  <= 5 ms. `incremental_apply` adds applying that page to a replica.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.changes import (
    TABLES,
    apply_changes,
    changes_since,
    open_replica,
    pull,
    snapshot,
)
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.hub import protocol

LATER_THAN_CONVERSATION = {
    t.name for t in TABLES[[t.name for t in TABLES].index("conversation") + 1 :]
}


def peak_rss_mb() -> float:
    """This process's peak RSS so far (it only grows: parts run in order). VmHWM where
    there is /proc: a spawned process's ru_maxrss starts at its parent's peak (the forked
    copy it replaced), VmHWM at its own."""
    try:
        status = Path("/proc/self/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return round(kb / 1024, 1)
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def replay(ws: Workspace, agent: str, folder: Path, limit: int, columnar: bool) -> dict:
    target = folder / f"replica-{agent}.db"
    replica = open_replica(target)
    read_s = encode_s = apply_s = 0.0
    cpu_parts = [0.0, 0.0, 0.0]  # read, JSON, apply: CPU seconds (the machine is shared)
    rows = tombstones = pages = wire_bytes = 0
    list_ready_s = None
    cursor: str = "0"
    started, cpu = time.perf_counter(), time.process_time()
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        page = changes_since(ws, cursor, agent, limit, columnar=columnar)
        t1, c1 = time.perf_counter(), time.process_time()
        wire = protocol.dumps(page.to_json())  # what travels: the hub's socket.io codec
        data = protocol.loads(wire)
        t2, c2 = time.perf_counter(), time.process_time()
        cursor = apply_changes(replica, data)
        t3, c3 = time.perf_counter(), time.process_time()
        for i, d in enumerate((c1 - c0, c2 - c1, c3 - c2)):
            cpu_parts[i] += d
        read_s, encode_s, apply_s = read_s + t1 - t0, encode_s + t2 - t1, apply_s + t3 - t2
        pages += 1
        wire_bytes += len(wire)
        if columnar:
            tables = [r["table"] for r in data["runs"]]
            rows += sum(len(r["rows"]) for r in data["runs"] if "rows" in r)
            tombstones += sum(len(r["deleted"]) for r in data["runs"] if "deleted" in r)
        else:
            tables = [c["table"] for c in data["changes"]]
            rows += sum(1 for c in data["changes"] if "row" in c)
            tombstones += sum(1 for c in data["changes"] if "deleted" in c)
        # Every conversation is in once the pages reach the tables after it (the demo is
        # one change, sent parents first): the list can be shown from then on.
        if list_ready_s is None and any(t in LATER_THAN_CONVERSATION for t in tables):
            list_ready_s = round(t3 - started, 2)
        if not data["more"]:
            break
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    counts = {
        t: replica.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("conversation", "message", "contact", "notification")
    }
    replica.close()
    size = target.stat().st_size
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return {
        "format": "columnar" if columnar else "dicts",
        "seconds": round(total, 2),
        "cpu_seconds": round(cpu, 2),  # this process; the rest of `seconds` is waiting
        "read_s": round(read_s, 2),
        "json_encode_decode_s": round(encode_s, 2),
        "apply_s": round(apply_s, 2),
        "read_cpu_s": round(cpu_parts[0], 2),
        "json_cpu_s": round(cpu_parts[1], 2),
        "apply_cpu_s": round(cpu_parts[2], 2),  # with the derived tables built at the end
        "load_average_after": os.getloadavg(),
        "list_ready_s": list_ready_s,
        "pages": pages,
        "wire_mb": round(wire_bytes / 2**20, 1),
        "rows": rows,
        "tombstones": tombstones,
        "rows_per_s": round(rows / total),
        "replica_rows": counts,
        "replica_bytes": size,
        "peak_rss_mb_so_far": peak_rss_mb(),
        "under_30s": total <= 30,
    }


def replay_pipelined(hub: Path, agent: str, folder: Path, limit: int, columnar: bool) -> dict:
    """The replay as a hub and a joining client run it: two processes. The hub process
    reads each page the client asks for and sends it as JSON bytes over a pipe; the client
    process pulls with `changes.pull(fetch=...)`, which asks for the next page while it
    applies the current one. Each process's CPU time and peak RSS are its own."""
    ctx = multiprocessing.get_context("spawn")
    hub_end, client_end = ctx.Pipe()
    results = ctx.Queue()
    target = folder / f"replica-p-{agent}.db"
    started = time.perf_counter()
    procs = [
        ctx.Process(target=serve_pages, args=(str(hub), agent, limit, columnar, hub_end, results)),
        ctx.Process(target=join_client, args=(str(target), client_end, results)),
    ]
    for proc in procs:
        proc.start()
    got = dict(results.get() for _ in procs)
    for proc in procs:
        proc.join()
    total = time.perf_counter() - started  # both processes, from spawn to exit
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return {
        "seconds": got["client"]["seconds"],  # the client's pull, first request to last apply
        "seconds_with_process_start": round(total, 2),
        "changes": got["client"]["changes"],
        "client_cpu_seconds": got["client"]["cpu_seconds"],
        "client_apply_thread_cpu_seconds": got["client"]["apply_thread_cpu_seconds"],
        "client_peak_rss_mb": got["client"]["peak_rss_mb"],
        "hub_cpu_seconds": got["hub"]["cpu_seconds"],
        "hub_peak_rss_mb": got["hub"]["peak_rss_mb"],
        "under_30s": got["client"]["seconds"] <= 30,
    }


def serve_pages(db: str, agent: str, limit: int, columnar: bool, conn: Any, results: Any) -> None:
    """The hub's side of replay_pipelined (a process of its own)."""
    cpu = time.process_time()
    with open_workspace(db) as ws:
        while (cursor := conn.recv()) is not None:
            page = changes_since(ws, cursor, agent, limit, columnar=columnar)
            conn.send_bytes(protocol.dumps(page.to_json()).encode())
    cpu = time.process_time() - cpu
    results.put(("hub", {"cpu_seconds": round(cpu, 2), "peak_rss_mb": peak_rss_mb()}))


def join_client(target: str, conn: Any, results: Any) -> None:
    """The client's side of replay_pipelined (a process of its own)."""
    replica = open_replica(target)

    def fetch(cursor: str) -> dict:
        conn.send(cursor)
        return protocol.loads(conn.recv_bytes())

    started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    applied = pull(None, replica, None, fetch=fetch)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    own = time.thread_time() - own
    conn.send(None)
    replica.close()
    results.put(
        (
            "client",
            {
                "seconds": round(total, 2),
                "cpu_seconds": round(cpu, 2),  # every thread: decoding, applying, reports
                # The applying thread alone (pages, then the fill's end but for the report
                # figures, which other threads compute meanwhile: core/derived.py): on a
                # quiet machine the pull takes about this long.
                "apply_thread_cpu_seconds": round(own, 2),
                "changes": applied,
                "peak_rss_mb": peak_rss_mb(),
            },
        )
    )


def first_sync_snapshot(hub: Path, agent: str, folder: Path) -> dict:
    """changes.snapshot: the same rows as a replay, copied inside SQLite."""
    target = folder / f"snapshot-{agent}.db"
    started, cpu = time.perf_counter(), time.process_time()
    snapshot(hub, target, agent)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    con = sqlite3.connect(target)
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("conversation", "message", "contact", "notification")
    }
    con.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return {
        "seconds": round(total, 2),
        "cpu_seconds": round(cpu, 2),
        "replica_rows": counts,
        "under_30s": total <= 30,
    }


def make_changes(ws: Workspace, n: int = 100) -> None:
    """Exactly n change numbers: replies, comments, assignments, closes and reopens on open
    conversations (a command that changes nothing takes no number, so count them)."""
    support = next(i.id for i in q.inboxes(ws) if i.name == "Support")  # everyone may act
    rows = [
        r
        for r in q.list_conversations(ws, q.view("open", access=EVERYTHING)).rows
        if r.inbox_id == support
    ]
    start, i = ws.change_seq(), 0
    while ws.change_seq() - start < n:
        conv = rows[i % len(rows)]
        step = i % 5
        if step == 0:
            cmd.reply(ws, conv.id, f"Update {i}: the parcel left the depot", actor="ana")
        elif step == 1:
            cmd.comment(ws, conv.id, f"@bo note {i}: check the address", actor="ana")
        elif step == 2:
            cmd.assign(ws, conv.id, "chiara" if i % 2 else "ana", actor="ana")
        elif step == 3:
            cmd.close(ws, conv.id, actor="ana")
        else:
            cmd.reopen(ws, conv.id, actor="ana")
        i += 1


def incremental(hub: Path, agents: dict[str, str], folder: Path, runs: int, columnar: bool) -> dict:
    """On a copy of the hub: 100 commands, then a pull of those 100 changes, per agent."""
    copy = folder / "hub.db"
    shutil.copy(hub, copy)
    out = {}
    with open_workspace(copy) as ws:
        make_changes(ws, 100)
        since = ws.change_seq() - 100
        for h, a in agents.items():
            replica = open_replica(folder / f"inc-{h}.db")

            def read(agent: str = a) -> Any:
                return changes_since(ws, since, agent, 1000, columnar=columnar)

            def read_and_apply(agent: str = a, to: sqlite3.Connection = replica) -> str:
                return apply_changes(to, read(agent))

            out[h] = {
                "changes": 100,
                "rows": len(changes_since(ws, since, a, 1000).changes),
                "pull": timings(read, runs),
                "pull_and_apply": timings(read_and_apply, runs),
            }
            replica.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/demo100k.db")
    parser.add_argument("--conversations", type=int, default=100_000, help="when building")
    parser.add_argument("--agents", default="ana,bo", help="handles to replay for")
    parser.add_argument("--limit", type=int, default=5000, help="rows per page in the replay")
    parser.add_argument(
        "--format",
        choices=("columnar", "dicts"),
        default="columnar",
        help="page form on the wire (changes.ColumnarChanges or changes.Changes)",
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--parts",
        default="replay,pipelined,snapshot,incremental",
        help="which parts to run (comma-separated)",
    )
    args = parser.parse_args()

    hub = Path(args.db)
    built = None
    if not hub.exists():
        built = build_demo(hub, conversations=args.conversations)
    folder = Path(tempfile.mkdtemp(prefix="unibox-changes-"))
    out: dict = {
        "db": str(hub),
        "db_bytes": hub.stat().st_size,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),  # other processes share the CPUs
    }
    if built:
        out["build_seconds"] = built["seconds"]
    try:
        with open_workspace(hub) as ws:
            out["conversations"] = q.stats(ws)["conversation"]
            out["messages"] = q.stats(ws)["message"]
            handles = {a.handle: a.id for a in q.agents(ws)}
            handles_wanted = args.agents.split(",")
            agents = [handles[h] for h in handles_wanted]
            out["page_limit"] = args.limit
            out["format"] = args.format
            columnar = args.format == "columnar"
            out["replay"], out["replay_pipelined"] = {}, {}
            replaying = "replay" in args.parts
            for h, a in zip(handles_wanted, agents, strict=True) if replaying else ():
                out["replay"][h] = replay(ws, a, folder, args.limit, columnar)
                print(h, "replay", out["replay"][h], file=sys.stderr, flush=True)
            for h, a in zip(handles_wanted, agents, strict=True):
                if "pipelined" in args.parts:
                    out["replay_pipelined"][h] = replay_pipelined(
                        hub, a, folder, args.limit, columnar
                    )
                    print(h, "pipelined", out["replay_pipelined"][h], file=sys.stderr, flush=True)
                if "snapshot" in args.parts:
                    out.setdefault("snapshot", {})[h] = first_sync_snapshot(hub, a, folder)
                    print(h, "snapshot", out["snapshot"][h], file=sys.stderr, flush=True)
        out["incremental"] = {}
        if "incremental" in args.parts:
            out["incremental"] = incremental(
                hub, dict(zip(handles_wanted, agents, strict=True)), folder, args.runs, columnar
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out["peak_rss_mb"] = peak_rss_mb()
    out["summary"] = {
        "worst_snapshot_s": max(
            (r["seconds"] for r in out.get("snapshot", {}).values()), default=None
        ),
        "worst_replay_s": max((r["seconds"] for r in out["replay"].values()), default=None),
        "worst_replay_pipelined_s": max(
            (r["seconds"] for r in out["replay_pipelined"].values()), default=None
        ),
        "worst_incremental_pull_p95_ms": max(
            (r["pull"]["p95_ms"] for r in out["incremental"].values()), default=None
        ),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
