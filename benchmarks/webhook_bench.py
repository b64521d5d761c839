"""Signed Meta webhooks into one hub node: events/s stored, time to the 200 under that load,
and duplicates stored (must be 0).

    .venv/bin/python benchmarks/webhook_bench.py [--rate 1000] [--seconds 10]
        [--duplicates 0.1] [--procs 2] [--conns 8] [--kind whatsapp|messenger]

A `unibox hub --no-channels` subprocess serves a fresh workspace with one WhatsApp (or
Messenger) channel. `--procs` client processes, each with `--conns` keep-alive HTTP
connections, POST documented webhook bodies (tests/fixtures/meta), each signed with the
app secret, at `--rate` webhooks a second in total, paced (open loop): a request's latency is
measured from when it was due, not from when it went out, so a hub that falls behind shows it
(no coordinated omission). Each webhook holds one message with a new id, except a
`--duplicates` share that replays an earlier body byte for byte (Meta's retries).

Prints one JSON document:
- `sent_per_s`: webhooks answered per second; `status_counts`: answers by HTTP status;
- `latency_ms`: p50/p90/p99/max from due time to the 200 (target p99 <= 50 ms);
- `stored_per_s`: unique messages stored per second, from the first request to the moment the
  last one is in the database (target >= 1,000/s); `store_lag_s`: how long after the last
  answer the last message was stored;
- `duplicates_stored`: messages stored beyond the unique ids sent (target 0).
The Messenger kind needs no Graph API: each sender is made known first, so no profile is
fetched (the fetch is once per sender and not what is measured here).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import Hub, machine

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "meta"
SECRET = "bench-app-secret"
PAGE_ID, PHONE_ID, WABA_ID = "106540352242922", "109876543210987", "102290129340398"


def body(kind: str, n: int) -> bytes:
    now = int(time.time())
    if kind == "whatsapp":
        text = (FIXTURES / "whatsapp_text.json").read_text()
        values = {
            "WABA_ID": WABA_ID, "PHONE_NUMBER_ID": PHONE_ID, "NAME": f"Customer {n % 500}",
            "WA_ID": str(16505550000 + n % 500), "WAMID": f"wamid.BENCH{n}",
            "TIME_S": str(now), "TEXT": f"Message number {n}: where is my order?",
        }  # fmt: skip
    else:
        text = (FIXTURES / "messenger_message.json").read_text()
        text = text.replace("m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P", f"m_bench{n}")  # fmt: skip
        values = {"PAGE_ID": PAGE_ID, "PSID": str(7000 + n % 500), "TIME_MS": str(now * 1000)}
    for key, value in values.items():
        text = text.replace(f"<{key}>", value)
    return json.dumps(json.loads(text)).encode()  # compact, as Meta sends it


def signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def client(
    port: int, path: str, kind: str, ids: list[int], rate: float, conns: int, start: float, out: Any
) -> None:
    """One process: `conns` paced connections sending `ids` (a replayed id sends the same bytes)."""
    per_conn = [ids[i::conns] for i in range(conns)]
    interval = conns / rate
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def run(k: int, mine: list[int]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local = []
        for i, n in enumerate(mine):
            due = start + k * interval / conns + i * interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            raw = body(kind, n)
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature(raw)}
            try:
                conn.request("POST", path, raw, headers)
                answer = conn.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            local.append(((time.perf_counter() - due) * 1000, status))
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=run, args=(k, m)) for k, m in enumerate(per_conn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(results)


def setup(db: Path, kind: str) -> str:
    from unibox_tui.core import commands as cmd
    from unibox_tui.core.db import open_workspace

    ws = open_workspace(db)
    cmd.create_inbox(ws, "Support")
    sources = {"app_secret_source": "env:BENCH_SECRET", "verify_token_source": "env:BENCH_SECRET"}
    if kind == "whatsapp":
        settings = {
            "phone_number_id": PHONE_ID,
            "waba_id": WABA_ID,
            "token_source": "env:BENCH_SECRET",
        }
    else:
        settings = {"page_id": PAGE_ID, "page_token_source": "env:BENCH_SECRET"}
    channel = cmd.add_channel(
        ws, "Support", kind, f"bench {kind}", settings={**settings, **sources}
    )
    if kind == "messenger":  # known senders: no profile is fetched (no Graph API here)
        cmd.ingest_many(
            ws,
            [
                cmd.Incoming(channel, "messenger", str(7000 + n), f"Customer {n}", "hi",
                             time_now(), external_id=f"m_seed{n}")
                for n in range(500)
            ],
        )  # fmt: skip
    ws.close()
    return channel


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def stored(db: Path, channel: str, prefix: str) -> int:
    with sqlite3.connect(db, timeout=30) as con:
        return int(
            con.execute(
                "SELECT count(*) FROM message WHERE channel_id = ? AND external_id LIKE ?",
                (channel, prefix + "%"),
            ).fetchone()[0]
        )


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(samples: list[float], q: float) -> float:
    return round(samples[min(len(samples) - 1, int(len(samples) * q))], 2)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=1000.0, help="webhooks per second, in total")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--duplicates", type=float, default=0.1, help="share of replayed bodies")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--conns", type=int, default=8, help="connections per process")
    ap.add_argument("--kind", choices=("whatsapp", "messenger"), default="whatsapp")
    ap.add_argument("--profile-hub", type=Path, help="yappi the hub (benchmarks/_hub_profiled.py)")
    args = ap.parse_args()

    total = int(args.rate * args.seconds)
    every = int(1 / args.duplicates) if args.duplicates > 0 else 0
    ids = [(i // 2 if every and i % every == every - 1 else i) for i in range(total)]
    unique = len(set(ids))
    tmp = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    db = tmp / "ws.db"
    channel = setup(db, args.kind)
    os.environ["BENCH_SECRET"] = SECRET
    hub = Hub(db, tmp / "hub.log", profile=args.profile_hub)
    hub.start()
    path = f"/webhooks/{args.kind}/{channel}"
    prefix = "wamid.BENCH" if args.kind == "whatsapp" else "m_bench"
    try:
        # Warm up (first requests build the adapter, the worker task, caches); not counted.
        warm = [10_000_000 + i for i in range(200)]
        queue: Any = mp.Queue()
        client(hub.port, path, args.kind, warm, 500.0, 4, time.perf_counter(), queue)
        queue.get()
        while stored(db, channel, prefix) < 200:
            time.sleep(0.05)
        base = stored(db, channel, prefix)
        cpu_before = cpu_s(hub.proc.pid)  # type: ignore[union-attr]

        start_wall = time.perf_counter() + 0.5
        procs = []
        for p in range(args.procs):
            mine = ids[p :: args.procs]
            proc = mp.Process(
                target=client,
                args=(hub.port, path, args.kind, mine, args.rate / args.procs, args.conns,
                      start_wall, queue),
            )  # fmt: skip
            proc.start()
            procs.append(proc)
        results: list[tuple[float, int]] = []
        for _ in procs:
            results += queue.get()
        for proc in procs:
            proc.join()
        answered = time.perf_counter()
        deadline = answered + 120
        while stored(db, channel, prefix) - base < unique and time.perf_counter() < deadline:
            time.sleep(0.01)
        done = time.perf_counter()
        count = stored(db, channel, prefix) - base
        time.sleep(1.0)  # anything left in the queue would show as extra rows now
        final = stored(db, channel, prefix) - base
        hub_cpu = cpu_s(hub.proc.pid) - cpu_before  # type: ignore[union-attr]
    finally:
        hub.stop()
    latencies = sorted(ms for ms, status in results if status == 200)
    statuses: dict[str, int] = {}
    for _ms, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    print(
        json.dumps(
            {
                "kind": args.kind,
                "target_rate_per_s": args.rate,
                "webhooks_sent": total,
                "unique_messages": unique,
                "replayed": total - unique,
                "sent_per_s": round(total / (answered - start_wall), 1),
                "status_counts": statuses,
                "latency_ms": {
                    "p50": pct(latencies, 0.50),
                    "p90": pct(latencies, 0.90),
                    "p99": pct(latencies, 0.99),
                    "max": round(latencies[-1], 2) if latencies else None,
                    "mean": round(statistics.mean(latencies), 2) if latencies else None,
                },
                "stored": count,
                "stored_per_s": round(count / (done - start_wall), 1),
                "store_lag_s": round(done - answered, 3),
                "duplicates_stored": final - unique,
                "hub_cpu_ms_per_webhook": round(hub_cpu * 1000 / total, 3),
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
