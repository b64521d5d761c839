"""What an agent's app spends taking in one poke's page: `changes.apply_chain(local=True)`
of a page of `--comments` comments (each a message row and its conversation's update) into
a cache made by `changes.snapshot`, as every connected app does for every poke. In
process, CPU time of this thread, after a warm-up (statements prepared once).

    .venv/bin/python benchmarks/poke_apply.py [--pages 300] [--comments 1]

Builds what it needs (the 2,000-conversation demo template shared with hub_team.py, copied
with two agents: one comments, the other's cache takes the pages). The pages are read on
the hub's side as a poke reads them (`changes.shared_pages`), round-tripped through orjson
as the wire does. Prints JSON: CPU ms per page, the runs of a page, the load average.
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

import orjson
from _hubbench import demo_template, machine, team_workspace

from unibox_tui.core import changes
from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace

WARMUP = 20


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--comments", type=int, default=1, help="comments per page")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="poke-apply-"))
    try:
        team = team_workspace(
            demo_template(2000, Path("/tmp/hubbench-demo2000.db")), folder / "hub.db", 2
        )
        writer, reader = (team["agents"][h] for h in sorted(team["agents"]))
        cache = folder / "cache.db"
        changes.snapshot(folder / "hub.db", cache, reader)
        ws = open_workspace(folder / "hub.db")
        conv = team["conversations"][0]
        cursor = str(ws.change_seq())
        blobs = []
        for n in range(WARMUP + args.pages):
            for k in range(args.comments):
                cmd.comment(ws, conv, f"comment {n}.{k} with a few words", actor=writer)
            with ws.read() as conn:
                heads = changes.table_heads(conn)
                page = changes.shared_pages(conn, cursor, [reader], 500, heads=heads)[reader]
            blobs.append(orjson.dumps(page.to_json()))
            cursor = page.cursor
        ws.close()
        replica = changes.open_replica(cache)
        for blob in blobs[:WARMUP]:
            changes.apply_chain(replica, [orjson.loads(blob)], local=True)
        started = time.thread_time()
        for blob in blobs[WARMUP:]:
            changes.apply_chain(replica, [orjson.loads(blob)], local=True)
        cpu = time.thread_time() - started
        runs = [
            (r["table"], len(r.get("rows") or r["deleted"]))
            for r in orjson.loads(blobs[-1])["runs"]
        ]
        print(
            json.dumps(
                {
                    "machine": machine(),
                    "pages": args.pages,
                    "comments_per_page": args.comments,
                    "runs_of_a_page": runs,
                    "apply_cpu_ms_per_page": round(cpu * 1000 / args.pages, 3),
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
