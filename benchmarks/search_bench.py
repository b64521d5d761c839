"""Search with operators and paging, at scale (issue 16: search pages past 50, operators).

    .venv/bin/python benchmarks/search_bench.py --db /tmp/search100k.db [--runs 30]

For a demo agent who may see Support only (restricted) and one who sees everything: p50/p95
of the first page and of the next page (its cursor) of word queries, operator-only queries
and mixed ones. Target (issue 16): search <= 50 ms p95 for a restricted agent. Prints JSON.
Use a copy of the 100k demo (`cp /tmp/main100k.db /tmp/search100k.db`; it migrates on open).
On PostgreSQL (issue 11), move it there first and give the URL as --db:
`unibox migrate --from /tmp/search100k.db --to postgresql+psycopg://...`, then
`search_bench.py --db postgresql+psycopg://...` (benchmarks/pg_reads.py does both with a
private server, for the list, count and word searches).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import queries as q
from unibox_tui.core.db import Workspace, open_workspace

QUERIES = {
    "word": ["refund", "order", "invoice vat", "zhang", "nothingmatches"],
    "phrase": ['"order number"'],
    "operators": [
        "status:closed",
        "channel:whatsapp status:open",
        "in:Support assignee:none",
        "after:30d status:snoozed",
        "from:{agent}",
    ],
    "mixed": [
        "refund status:open",
        "invoice channel:email",
        "order after:14d",
        "refund before:60d",
        "delivery from:{agent}",
        "refund status:snoozed channel:chat",
    ],
}


def measure(ws: Workspace, agent_id: str, handle: str, runs: int) -> dict:
    access = q.reader(ws, agent_id)
    out: dict = {}
    for kind, texts in QUERIES.items():
        out[kind] = {}
        for raw in texts:
            text = raw.format(agent=handle)

            def page(after: str | None = None, text: str = text) -> q.SearchPage:
                return q.search_page(ws, text, access=access, me=agent_id, after=after)

            first = page()
            entry = {"hits": len(first.hits), "first_page": timings(page, runs)}
            if first.next_cursor:
                entry["next_page"] = timings(lambda c=first.next_cursor: page(c), runs)
            out[kind][text] = entry
    out["worst_p95_ms"] = max(
        max(e["first_page"]["p95_ms"], e.get("next_page", {}).get("p95_ms", 0))
        for kind in QUERIES
        for e in out[kind].values()
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with open_workspace(args.db, create=False) as ws:
        sales = next(i.id for i in q.inboxes(ws) if i.detail == "listed")
        restricted = next(
            a for a in q.agents(ws) if not q.reader(ws, a.id).can_see(sales) and a.active
        )
        everything = next(a for a in q.agents(ws) if q.reader(ws, a.id).sees_all)
        stats = q.stats(ws)
        out = {
            "conversations": stats["conversation"],
            "messages": stats["message"],
            "restricted_agent": restricted.handle,
            "restricted": measure(ws, restricted.id, restricted.handle, args.runs),
            "unrestricted_agent": everything.handle,
            "unrestricted": measure(ws, everything.id, everything.handle, args.runs),
        }
    out["summary"] = {
        "restricted_worst_p95_ms": out["restricted"]["worst_p95_ms"],
        "unrestricted_worst_p95_ms": out["unrestricted"]["worst_p95_ms"],
        "target_met": out["restricted"]["worst_p95_ms"] <= 50,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
