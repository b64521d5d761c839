"""What the hub reads for one poke: the page of changes since the last poke for every
connected agent, read per agent (`changes_since` each, as pokes were read before) and as
`changes.shared_pages` reads it (one page per access; agents with notifications or drafts
of their own in it get theirs). In process, CPU time of this thread.

    .venv/bin/python benchmarks/poke_pages.py [--agents 50] [--commands 1,20] [--rounds 30]

Builds what it needs (the 2,000-conversation demo template shared with hub_push.py, copied
with `--agents` agents who all see the same inboxes). Each round applies `--commands`
comments (one push, as hub/mutations.py does), then reads the pages since before them both
ways and checks they are equal. Prints JSON: ms per poke each way, the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import demo_template, machine, team_workspace

from unibox_tui.core import changes
from unibox_tui.core.db import open_workspace
from unibox_tui.hub import mutations
from unibox_tui.hub.protocol import POKE_ROWS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--commands", default="1,20", help="comments per poke, comma-separated")
    parser.add_argument("--rounds", type=int, default=30)
    opts = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pokepages-"))
    template = demo_template(2000, Path("/tmp/hubbench-demo2000.db"))
    team = team_workspace(template, scratch / "hub.db", opts.agents)
    agents = sorted(team["agents"].values())
    sender = agents[0]
    convs = team["conversations"]
    ws = open_workspace(scratch / "hub.db")
    started_on = machine()
    out: dict = {}
    number = 0
    try:
        for n in (int(x) for x in opts.commands.split(",")):
            per_agent = shared = 0.0
            for round_ in range(opts.rounds + 1):
                start = str(ws.change_seq())
                batch = []
                for _ in range(n):
                    number += 1
                    text = f"poke {number}"
                    conv = convs[number % len(convs)]
                    args = {"conversation_id": conv, "text": text}
                    batch.append({"mutation_id": number, "name": "comment", "args": args})
                mutations.apply_batch(ws, "poke-bench", sender, batch)
                with ws.read() as conn:
                    heads = changes.table_heads(conn)
                    t0 = time.thread_time()
                    one_by_one = {
                        a: changes.changes_since(
                            conn, start, a, POKE_ROWS, columnar=True, heads=heads
                        )
                        for a in agents
                    }
                    t1 = time.thread_time()
                    together = changes.shared_pages(conn, start, agents, POKE_ROWS, heads=heads)
                    t2 = time.thread_time()
                assert all(one_by_one[a].to_json() == together[a].to_json() for a in agents)
                if round_:  # the first round is a warm-up
                    per_agent += t1 - t0
                    shared += t2 - t1
            out[f"{n}_comments_per_poke"] = {
                "per_agent_ms": round(per_agent * 1000 / opts.rounds, 2),
                "shared_ms": round(shared * 1000 / opts.rounds, 2),
                "distinct_pages": len({id(p) for p in together.values()}),
            }
    finally:
        ws.close()
    print(
        json.dumps(
            {
                "agents": opts.agents,
                "pokes": out,
                "machine": started_on,
                "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
