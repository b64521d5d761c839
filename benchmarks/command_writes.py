"""Writes at scale: what one command and one ingest batch cost on a large workspace.

    cp /tmp/main100k.db /tmp/scratch.db
    .venv/bin/python benchmarks/command_writes.py --db /tmp/scratch.db [--runs 100]

WRITES INTO the file it is given (closes, reopens, assigns, snoozes, moves, ingests): give it
a scratch copy. Prints one JSON document: p50/p95 of close, reopen, assign, unassign,
snooze, mark read/unread and move_inbox on open conversations of the demo, and the time of
ingesting batches of new conversations and follow-ups (one transaction per batch, as a sync
does). Compare runs of two revisions on copies of the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import clock
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="a scratch copy: it is written to")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500, help="messages per ingest batch")
    # Off by default: on a demo file the duplicate check by external id is a full scan of
    # `message` (~200 ms a message at 1M), because the demo's ANALYZE saw only NULL external
    # ids and told the planner that index is useless. That hides everything else measured.
    parser.add_argument("--external-ids", action="store_true", help="give messages ids")
    args = parser.parse_args()
    rng = random.Random(7)
    with open_workspace(args.db, create=False) as ws:
        ana = next(a for a in q.agents(ws) if a.handle == "ana")
        others = [a.id for a in q.agents(ws) if a.active and a.id != ana.id]
        inboxes = [i.id for i in q.inboxes(ws)]
        support = next(i.id for i in q.inboxes(ws) if i.detail == "everyone")
        email = next(c.id for c in q.channels(ws) if c.kind == "email" and c.inbox_id == support)
        with ws.read() as conn:
            # Open conversations of the everyone inbox: every agent may act on them.
            pool = (
                conn.exec_driver_sql(
                    "SELECT id FROM conversation WHERE status = 'open' AND inbox_id = ? LIMIT 2000",
                    (support,),
                )
                .scalars()
                .all()
            )
        picks = iter(rng.sample(pool, len(pool)))
        actor = ana.id
        out: dict = {"revision": ws.revision(), "runs": args.runs, "commands": {}}

        def timed(name: str, fn) -> None:  # type: ignore[no-untyped-def]
            out["commands"][name] = timings(fn, args.runs, warmup=2)

        closed: list[str] = []

        def close_keep() -> None:
            cid = next(picks)
            cmd.close(ws, cid, actor=actor)
            closed.append(cid)

        timed("close", close_keep)
        timed("reopen", lambda: cmd.reopen(ws, closed.pop(), actor=actor))
        timed("assign", lambda: cmd.assign(ws, next(picks), rng.choice(others), actor=actor))
        assigned = [next(picks) for _ in range(args.runs + 2)]
        for cid in assigned:
            cmd.assign(ws, cid, actor, actor=actor)
        timed("unassign", lambda: cmd.assign(ws, assigned.pop(), None, actor=actor))
        later = clock.utcnow() + timedelta(days=2)
        timed("snooze", lambda: cmd.snooze(ws, next(picks), later, actor=actor))
        timed("mark_read", lambda: cmd.mark_read(ws, next(picks), actor=actor))
        target = next(i for i in inboxes if i != support)
        timed("move_inbox", lambda: cmd.move_inbox(ws, next(picks), target, actor=actor))

        now = clock.utcnow()
        batches = []
        for b in range(5):
            items = []
            for i in range(args.batch):
                n = b * args.batch + i
                items.append(
                    cmd.Incoming(
                        channel_id=email,
                        identity_kind="email",
                        identity_value=f"bench{n % (args.batch // 2)}@example.com",
                        contact_name=f"Bench {n}",
                        body=f"message {n} about my order and a refund",
                        created_at=now + timedelta(seconds=n),
                        subject=f"Bench subject {n % 97}",
                        external_id=f"<bench-{n}@example.com>" if args.external_ids else None,
                    )
                )
            batches.append(items)
        seconds = []
        for items in batches:
            start = time.perf_counter()
            cmd.ingest_many(ws, items)
            seconds.append(time.perf_counter() - start)
        seconds.sort()
        out["ingest"] = {
            "batch": args.batch,
            "batches": len(batches),
            "median_batch_s": round(seconds[len(seconds) // 2], 4),
            "msgs_per_s_median": round(args.batch / seconds[len(seconds) // 2]),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
