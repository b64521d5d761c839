"""Form submissions into a real hub: submissions stored per second, the time to the answer,
and duplicate submissions (the same submission id posted again) stored 0 times.

    .venv/bin/python benchmarks/forms_bench.py [--clients 4] [--per-client 500]
        [--duplicates 100] [--json]

A scratch workspace with one form (rate limit raised: every client posts from 127.0.0.1) is
served by a `unibox hub --no-channels` subprocess. Each client is its own process with one
keep-alive HTTP connection; it posts its submissions as the page does (urlencoded, with the
page's submission id) or as JSON (`--json`), one after another, then posts `--duplicates` of
them again. All clients start together (a barrier). Prints one JSON document:
- `submissions_per_s`: new submissions (201/200 answers) over the wall time of that phase;
- `answer_ms`: p50/p90/p99/max from request to answer (the contact, conversation and ticket
  are committed before the answer);
- `duplicates_posted`, `duplicates_stored`: the second posts, and how many conversations,
  messages, tickets or contacts they added (counted before and after them; target 0);
- `stored`: conversations, messages and tickets in the hub's file at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import Hub, machine, percentiles


def client(
    port: int,
    path: str,
    index: int,
    count: int,
    duplicates: int,
    as_json: bool,
    barrier: Any,
    counted: Any,
    out: Any,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(n: int) -> tuple[int, float]:
        sid = f"bench-{index}-{n}"
        fields = {
            "name": f"Customer {index}-{n}",
            "email": f"c{index}x{n}@customer.example",
            "message": f"Submission {n} from client {index}.\nMy order has not arrived.",
        }
        if as_json:
            body = json.dumps({"fields": fields, "submission_id": sid}).encode()
            ctype = "application/json"
        else:
            body = urllib.parse.urlencode({**fields, "_submission": sid, "_homepage": ""})
            body = body.encode()
            ctype = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        conn.request("POST", path, body, {"Content-Type": ctype})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start

    barrier.wait()
    started = time.perf_counter()
    latencies, bad = [], 0
    for n in range(count):
        status, took = post(n)
        latencies.append(took)
        bad += status not in (200, 201)
    new_done = time.perf_counter()
    counted.wait()  # every client is done and the parent has counted what is stored
    counted.wait()
    dup_bad = 0
    for n in range(duplicates):
        status, _took = post(n % count)
        dup_bad += status not in (200, 201)
    out.put(
        {
            "started": started,
            "new_done": new_done,
            "latencies": latencies,
            "bad": bad,
            "dup_bad": dup_bad,
        }
    )


def counts(hub: Hub) -> dict[str, int]:
    return {
        t: hub.count(f"SELECT count(*) FROM {t}")
        for t in ("conversation", "message", "ticket", "contact")
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--per-client", type=int, default=500)
    ap.add_argument("--duplicates", type=int, default=100, help="re-posts per client")
    ap.add_argument("--json", action="store_true", help="post JSON instead of the page's form")
    args = ap.parse_args()

    from unibox_tui.core import commands as cmd
    from unibox_tui.core.db import open_workspace

    scratch = Path(tempfile.mkdtemp(prefix="forms-bench-"))
    db = scratch / "ws.db"
    ws = open_workspace(db)
    cmd.create_inbox(ws, "Support")
    form = cmd.add_channel(ws, "Support", "form", "Contact us", settings={"rate_limit": 100_000})
    ws.close()
    hub = Hub(db, scratch / "hub.log")
    hub.start()
    try:
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(args.clients)
        counted = ctx.Barrier(args.clients + 1)
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=client,
                args=(
                    hub.port,
                    f"/forms/{form}",
                    i,
                    args.per_client,
                    args.duplicates,
                    args.json,
                    barrier,
                    counted,
                    out,
                ),
            )
            for i in range(args.clients)
        ]
        for p in procs:
            p.start()
        counted.wait()  # the new submissions are all answered
        before = counts(hub)
        counted.wait()  # now the duplicates
        results = [out.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join(60)
        stored = counts(hub)
    finally:
        hub.stop()
    new = args.clients * args.per_client
    wall = max(r["new_done"] for r in results) - min(r["started"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    print(
        json.dumps(
            {
                "benchmark": "forms_bench",
                "format": "json" if args.json else "urlencoded",
                "clients": args.clients,
                "submissions": new,
                "refused": sum(r["bad"] for r in results),
                "wall_s": round(wall, 3),
                "submissions_per_s": round(new / wall, 1),
                "answer_ms": percentiles(latencies),
                "duplicates_posted": args.clients * args.duplicates,
                "duplicates_refused": sum(r["dup_bad"] for r in results),
                "duplicates_stored": max(stored[t] - before[t] for t in stored),
                "stored": stored,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
