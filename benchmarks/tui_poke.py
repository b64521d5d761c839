"""What an agent's TUI spends per poke under a chat load, thread by thread: the real app
(UniboxApp, headless at 160x48 under Textual's test driver) on a hub client's cache, while
visitors' messages land on the hub.

    .venv/bin/python benchmarks/tui_poke.py [--seconds 15] [--rate 20] [--per-batch 2]
        [--visitors 300]

Builds what it needs: a chat workspace whose `--visitors` visitors have written once
(benchmarks/poke_apply.Chat), a `unibox hub --no-channels` process on it, and agent a1's
client and app here. For `--seconds`, a thread stores `--per-batch` visitor messages
`--rate` times a second into the hub's file as the hub stores them (hub/chat_http.
store_batch); the hub's watcher pokes the agent. Prints JSON: the agent's sync rounds
(a poke's page applied, or a pull) and the CPU ms per round of each of the app process's
threads (`MainThread`: the UI, which re-reads and redraws what changed; `unibox-sync`:
applying pages to the cache; the socket's read loop; the cache's checkpointer), read from
/proc per thread (the writer's own thread is not counted), and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import Hub, machine
from _stats import thread_cpu_by_kind
from poke_apply import Chat

from unibox_tui.sync.client import HubClient


class Counting(HubClient):
    rounds = 0

    def sync_once(self) -> None:
        super().sync_once()
        self.rounds += 1


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from unibox_tui.app import UniboxApp
    from unibox_tui.config import Config
    from unibox_tui.core.commands.tokens import issue_token
    from unibox_tui.core.db import open_workspace

    chat = Chat(tmp, args.visitors)
    with chat.ws.read() as conn:
        handle = conn.exec_driver_sql("SELECT handle FROM agent WHERE id = ?", (chat.agent,))
        token = issue_token(chat.ws, handle.scalar())
    chat.ws.close()
    hub = Hub(tmp / "hub.db", tmp / "hub.log")
    hub.start()
    try:
        client = Counting(hub.url, token, directory=tmp / "cache")
        client.open()
        client.wait_synced(60)
        app = UniboxApp(client.ws, Config(path=tmp / "app.toml"), hub=client)  # type: ignore[arg-type]
        async with app.run_test(size=(160, 48)):
            await asyncio.sleep(3)  # the first screen drawn, the counts in
            chat.ws = open_workspace(tmp / "hub.db")
            stop = threading.Event()
            stored = [0]

            def write() -> None:
                while not stop.is_set():
                    started = time.monotonic()
                    chat.store(
                        [
                            chat.message(chat.random.randrange(args.visitors))
                            for _ in range(args.per_batch)
                        ]
                    )
                    stored[0] += args.per_batch
                    stop.wait(max(0.0, 1 / args.rate - (time.monotonic() - started)))

            rounds0, cpu0 = client.rounds, thread_cpu_by_kind()
            writer = threading.Thread(target=write, name="writer")
            writer.start()
            await asyncio.sleep(args.seconds)
            stop.set()
            writer.join()
            rounds, cpu = client.rounds - rounds0, thread_cpu_by_kind()
            chat.ws.close()
        client.close()
    finally:
        hub.close()
    per_round = {
        name: round((cpu.get(name, 0.0) - cpu0.get(name, 0.0)) * 1000 / max(1, rounds), 3)
        for name in sorted(set(cpu) | set(cpu0))
    }
    return {
        "messages": stored[0],
        "rounds": rounds,
        "cpu_ms_per_round_by_thread": per_round,
        "cpu_ms_per_round": round(sum(per_round.values()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=20.0, help="batches stored per second")
    ap.add_argument("--per-batch", type=int, default=2, help="visitor messages per batch")
    ap.add_argument("--visitors", type=int, default=300)
    args = ap.parse_args()
    out: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="tui-poke-") as d:
        out |= asyncio.run(run(args, Path(d)))
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
