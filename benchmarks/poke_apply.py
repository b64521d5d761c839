"""What an agent's app spends taking in one poke's page: `changes.apply_chain(local=True)`
into a cache made by `changes.snapshot`, as every connected app does for every poke. In
process, CPU time of this thread, after a warm-up (statements prepared once).

    .venv/bin/python benchmarks/poke_apply.py [--pages 300] [--comments 1]
    .venv/bin/python benchmarks/poke_apply.py --chat 1,4,10,25 [--changes 1] [--pages 300]
        [--visitors 1000]

Default: pages of `--comments` agents' comments (each a message row and its
conversation's update) on the 2,000-conversation demo template shared with hub_team.py,
copied with two agents: one comments, the other's cache takes the pages.

`--chat K,...`: what issue 12's load brings an agent (chat_bench.py): a workspace with a
chat channel and `--visitors` visitors who have written once, then pages of K visitor
messages each, stored as the hub stores them (hub/chat_http.store_batch: one transaction,
one change per batch, `--changes` batches per page), each a message row and its
conversation's update. For each K: CPU ms per page,
and a least-squares fit over the Ks of a fixed cost per page and a cost per message (two
rows). Run with `PYTHONPATH=/path/to/other/checkout` to measure another version's package
(the JSON says which one it used).

The pages are read on the hub's side as a poke reads them (`changes.shared_pages`),
round-tripped through orjson as the wire does. Prints JSON: CPU ms per page, the runs of a
page, the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _hubbench import demo_template, machine, team_workspace

import unibox_tui
from unibox_tui.core import changes
from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace

WARMUP = 20


def comment_pages(folder: Path, args: argparse.Namespace) -> tuple[Path, list[bytes]]:
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
    return cache, blobs


class Chat:
    """A chat workspace (benchmarks/chat_bench.workspace) whose visitors write in batches."""

    def __init__(self, folder: Path, visitors: int) -> None:
        from chat_bench import workspace

        from unibox_tui.backends.chat import ChatChannel
        from unibox_tui.core import chat as chat_q

        info = workspace(folder / "hub.db", 3)
        self.ws = open_workspace(folder / "hub.db")
        with self.ws.read() as conn:
            self.agent = conn.exec_driver_sql("SELECT id FROM agent WHERE handle = 'a1'").scalar()
        channel = chat_q.chat_channel(self.ws, info["chat"])
        assert channel is not None
        self.adapter = ChatChannel(channel.id, channel.name, channel.settings)
        self.visitors = visitors
        self.sent = 0
        self.random = random.Random(12)
        for start in range(0, visitors, 200):  # each visitor's first message: a conversation
            self.store([self.message(v) for v in range(start, min(visitors, start + 200))])
        self.cache = folder / "cache.db"
        changes.snapshot(folder / "hub.db", self.cache, self.agent)
        self.cursor = str(self.ws.change_seq())

    def message(self, visitor: int) -> Any:
        from unibox_tui.core import clock

        self.sent += 1
        return self.adapter.incoming(
            identity=f"visitor-{visitor:05d}",
            name=f"Visitor {visitor}",
            text=f"t={time.time()} a question about the order {self.sent}",
            client_id=f"bench{self.sent:010d}",
            now=clock.utcnow(),
            context={"url": "https://shop.example/cart", "referrer": "", "browser": "Firefox"},
        )

    def store(self, incs: list[Any]) -> None:
        from unibox_tui.hub.chat_http import store_batch

        for out in store_batch(self.ws, [(inc, None) for inc in incs]):
            if isinstance(out, Exception):
                raise out

    def pages(self, per_page: int, count: int, changes_per_page: int = 1) -> list[bytes]:
        blobs = []
        for _ in range(count):
            batch = [self.message(self.random.randrange(self.visitors)) for _ in range(per_page)]
            parts = min(changes_per_page, per_page)
            for i in range(parts):  # the batches the hub stored between two pokes
                self.store(batch[i * per_page // parts : (i + 1) * per_page // parts])
            with self.ws.read() as conn:
                heads = changes.table_heads(conn)
                page = changes.shared_pages(conn, self.cursor, [self.agent], 500, heads=heads)
            blobs.append(orjson.dumps(page[self.agent].to_json()))
            self.cursor = page[self.agent].cursor
        return blobs


# Pages between two checkpoints: the app's Checkpointer runs one a second (core/checkpoint.py)
# and chat_bench's load pokes an agent ~13 times a second.
CHECKPOINT_EVERY = 13


def apply_cpu_ms(replica: Any, blobs: list[bytes], checkpointer: Any = None) -> float:
    """CPU ms of this thread per page, decoding included (the wire's orjson), and with
    `checkpointer` (a second connection to the cache) the passive checkpoints the app's
    Checkpointer thread runs meanwhile: they copy what the commits wrote into the file."""
    started = time.thread_time()
    for n, blob in enumerate(blobs, start=1):
        changes.apply_chain(replica, [orjson.loads(blob)], local=True)
        if checkpointer is not None and n % CHECKPOINT_EVERY == 0:
            checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return (time.thread_time() - started) * 1000 / len(blobs)


def open_cache(path: Path) -> tuple[Any, Any]:
    """The cache's connection as the app's hub client opens it (no checkpoint inside a
    commit), and a second one that checkpoints, as core/checkpoint.Checkpointer does."""
    import sqlite3

    from unibox_tui.core import checkpoint

    replica = changes.open_replica(path)
    checkpoint.apart(replica)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    checkpoint.apart(other)
    return replica, other


def runs_of(blob: bytes) -> list[tuple[str, int]]:
    return [(r["table"], len(r.get("rows") or r["deleted"])) for r in orjson.loads(blob)["runs"]]


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares y = a + b x: (fixed, per unit)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - b * mx, b


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--comments", type=int, default=1, help="comments per page")
    ap.add_argument("--chat", help="visitor messages per page, e.g. 1,4,10,25")
    ap.add_argument("--visitors", type=int, default=1000)
    ap.add_argument(
        "--changes",
        type=int,
        default=1,
        help="--chat: changes per page (the hub's batches between two pokes; chat_bench's "
        "load brings 1-8, most often 2-4)",
    )
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="poke-apply-"))
    out: dict[str, Any] = {"machine": machine(), "package": str(Path(unibox_tui.__file__).parent)}
    try:
        if args.chat:
            chat = Chat(folder, args.visitors)
            sizes = [int(k) for k in args.chat.split(",")]
            batches = {k: chat.pages(k, WARMUP + args.pages, args.changes) for k in sizes}
            chat.ws.close()
            replica, other = open_cache(chat.cache)
            per_page: dict[str, float] = {}
            for k in sizes:  # warm-up: statements prepared, the cache's pages read
                apply_cpu_ms(replica, batches[k][:WARMUP], other)
            for k in sizes:
                per_page[str(k)] = round(apply_cpu_ms(replica, batches[k][WARMUP:], other), 3)
            fixed, per_message = fit([(int(k), v) for k, v in per_page.items()])
            out |= {
                "pages_per_size": args.pages,
                "visitors": args.visitors,
                "changes_per_page": args.changes,
                "runs_of_a_page": {k: runs_of(batches[k][-1]) for k in sizes},
                "apply_cpu_ms_per_page": per_page,
                "fit_fixed_ms_per_page": round(fixed, 3),
                "fit_ms_per_message": round(per_message, 4),
                "fit_ms_per_row": round(per_message / 2, 4),
            }
        else:
            cache, blobs = comment_pages(folder, args)
            replica, other = open_cache(cache)
            apply_cpu_ms(replica, blobs[:WARMUP], other)
            out |= {
                "pages": args.pages,
                "comments_per_page": args.comments,
                "runs_of_a_page": runs_of(blobs[-1]),
                "apply_cpu_ms_per_page": round(apply_cpu_ms(replica, blobs[WARMUP:], other), 3),
            }
        out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
