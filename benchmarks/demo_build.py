"""Build the demo workspace at scale and time the queries the UI and CLI depend on.

    .venv/bin/python benchmarks/demo_build.py [--conversations 100000] [--seed 1] [--runs 50]

Prints one JSON document: build seconds and DB size, then p50/p95 for the first page and the
count of every view, a 200-message thread, and FTS searches. Targets (issue 2): every list
page and count <= 10 ms p95, search <= 50 ms p95, build 100k in < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", help="build here and keep the file")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="unibox-bench-")
    path = Path(args.keep or os.path.join(folder, "demo.db"))
    if path.exists():
        path.unlink()
    built = build_demo(path, conversations=args.conversations, seed=args.seed)
    out: dict = {
        "conversations": built["conversations"],
        "messages": built["messages"],
        "build_seconds": built["seconds"],
        "db_bytes": built["bytes"],
        "cpu_count": os.cpu_count(),
        "views": {},
    }
    with open_workspace(path) as ws:
        me = next(a.id for a in q.agents(ws) if a.handle == "ana")
        keys = ["mine", "unassigned", "open", "snoozed", "closed", "all"]
        keys += [f"kind:{k}" for k in ("email", "chat", "messenger", "whatsapp", "form")]
        keys += [f"inbox:{i.id}" for i in q.inboxes(ws)]
        for key in keys:
            v = q.view(key, me=me, ws=ws, access=EVERYTHING)
            page = q.list_conversations(ws, v)
            out["views"][v.label] = {
                "rows": q.count(ws, v)[0],
                "first_page": timings(lambda v=v: q.list_conversations(ws, v), args.runs),
                "next_page": timings(
                    lambda v=v, c=page.next_cursor: q.list_conversations(ws, v, after=c), args.runs
                ),
                "count": timings(lambda v=v: q.count(ws, v), args.runs),
            }
        # A thread of 200 messages: grow one conversation to that size with real commands.
        conv = q.list_conversations(ws, q.view("open", access=EVERYTHING)).rows[0]
        have = q.conversation(ws, conv.id, access=EVERYTHING).message_count
        for i in range(max(0, 200 - have)):
            cmd.comment(ws, conv.id, f"note {i}: checked the carrier status again", actor="ana")
        out["thread_200"] = {
            "messages": len(
                [m for m in q.thread(ws, conv.id, access=EVERYTHING) if m.kind != "activity"]
            ),
            **timings(lambda: q.thread(ws, conv.id, access=EVERYTHING), args.runs),
        }
        out["search"] = {
            term: {
                "hits": len(q.search(ws, term, access=EVERYTHING)),
                **timings(lambda t=term: q.search(ws, t, access=EVERYTHING), args.runs),
            }
            for term in (
                "refund",
                "order",
                "invoice vat",
                "zhang",
                "429 errors",
                "o",
                "nothingmatches",
            )
        }
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    worst_list = max(
        max(v["first_page"]["p95_ms"], v["next_page"]["p95_ms"], v["count"]["p95_ms"])
        for v in out["views"].values()
    )
    out["summary"] = {
        "build_under_60s": built["seconds"] < 60,
        "worst_list_or_count_p95_ms": worst_list,
        "worst_search_p95_ms": max(s["p95_ms"] for s in out["search"].values()),
    }
    print(json.dumps(out, indent=2))
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
