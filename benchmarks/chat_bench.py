"""The website chat widget: its size, its time to interactive in Chromium, and (with
--visitors) message latency both ways with many simulated visitors on one hub.

    .venv/bin/python benchmarks/chat_bench.py [--runs 10] [--visitors 200 --procs 2
        --every 10 --seconds 30 --agents 5]

Prints one JSON document:
- `size`: bytes of what a visitor's browser loads (loader, iframe page, CSS, widget JS,
  the vendored socket.io client), raw and gzipped (-9); `gzip_total` (target <= 40 KB).
- `time_to_interactive`: a customer's page on its own loopback origin embeds the loader
  from a real `unibox hub`; from the page's navigation start (performance.timeOrigin) to
  the widget connected and greeted (the iframe's `data-ready`, both on the epoch clock),
  each run in a fresh browser context (cold cache). Target p50 <= 300 ms.
- `load` (with --visitors): visitors are python-socketio clients on the /visitor namespace
  in --procs processes, each sending a message every --every s (randomly phased) for
  --seconds; --agents agents' HubClients are connected (one measures). visitor_to_agent:
  from the visitor's send to the message committed in the measuring agent's cache (after
  the pull that brought it); agent_to_widget: from the agent's `reply` command to the
  visitor holding it (poke + sync). Hub CPU seconds and RSS during the run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _hubbench import rss_kb  # noqa: E402

STATIC = ROOT / "unibox_tui" / "hub" / "static"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return round(s[min(len(s) - 1, int(len(s) * q))], 2) if s else 0.0


def size() -> dict[str, Any]:
    from unibox_tui.hub.chat_http import FRAME_HTML

    parts = {
        "loader.js": (STATIC / "loader.js").read_bytes(),
        "frame.html": FRAME_HTML.encode(),
        "widget.css": (STATIC / "widget.css").read_bytes(),
        "widget.js": (STATIC / "widget.js").read_bytes(),
        "socket.io.min.js": (STATIC / "socket.io.min.js").read_bytes(),
    }
    out: dict[str, Any] = {
        name: {"bytes": len(data), "gzip": len(gzip.compress(data, 9))}
        for name, data in parts.items()
    }
    out["gzip_total"] = sum(v["gzip"] for v in out.values())
    return out


def workspace(path: Path, agents: int) -> dict[str, Any]:
    from unibox_tui.core import commands as cmd
    from unibox_tui.core.commands.tokens import issue_token
    from unibox_tui.core.db import open_workspace

    ws = open_workspace(path)
    try:
        handles = [f"a{n}" for n in range(max(agents, 1))]
        for n, handle in enumerate(handles):
            cmd.create_agent(ws, f"Agent {n}", handle, role="admin" if n == 0 else "agent")
        cmd.create_inbox(ws, "Support", actor="a0")
        chat = cmd.add_channel(ws, "Support", "chat", "Website", actor="a0")
        tokens = {h: issue_token(ws, h) for h in handles}
    finally:
        ws.close()
    return {"chat": chat, "tokens": tokens}


def time_to_interactive(hub_url: str, chat: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright
    from servers.browser import chromium_path
    from servers.site import Site

    site = Site(hub_url, chat)
    samples = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            for _ in range(runs + 1):
                context = browser.new_context()
                page = context.new_page()
                page.goto(site.url)
                origin = page.evaluate("performance.timeOrigin")
                frame = page.frame_locator("iframe[data-unibox-chat]")
                body = frame.locator("body[data-ready]")
                body.wait_for(state="attached", timeout=20_000)
                ready = float(body.get_attribute("data-ready") or 0)
                samples.append(ready - origin)
                context.close()
            browser.close()
    finally:
        site.close()
    samples = samples[1:]  # the first run starts Chromium's processes
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "target_ms": 300,
    }


# ------------------------------------------------------------------------------- load


def visitor_process(
    url: str, chat: str, count: int, every: float, seconds: float, out: Any
) -> None:
    """`count` visitors in one process (python-socketio's threaded client: aiohttp, which
    its asyncio client needs, is not a dependency); reports (kind, latency ms) on `out`."""
    import socketio

    results: list[tuple[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        client = socketio.Client(reconnection=False)
        state = {"cursor": 0}
        seen: set[str] = set()

        def on_poke(_data: Any = None) -> None:
            view = client.call("sync", {"since": state["cursor"]}, namespace="/visitor")
            state["cursor"] = max(state["cursor"], view.get("cursor") or 0)
            now = time.time()
            for m in view.get("messages", []):
                if m["from"] == "agent" and m["id"] not in seen and m["text"].startswith("r="):
                    seen.add(m["id"])
                    with lock:
                        results.append(("agent_to_widget", (now - float(m["text"][2:])) * 1000))

        client.on(
            "poke", lambda data=None: threading.Thread(target=on_poke).start(), namespace="/visitor"
        )
        try:
            client.connect(
                url,
                namespaces=["/visitor"],
                transports=["websocket"],
                auth={"channel": chat},
                wait_timeout=30,
            )
            time.sleep(random.random() * every)
            end = time.time() + seconds
            k = 0
            while time.time() < end:
                k += 1
                answer = client.call(
                    "send",
                    {"client_id": f"b{os.getpid()}x{n}x{k}", "text": f"t={time.time()}"},
                    namespace="/visitor",
                    timeout=30,
                )
                if answer.get("error"):
                    with lock:
                        errors.append(answer["error"])
                time.sleep(every)
            time.sleep(3)  # the last replies
            client.disconnect()
        except Exception as e:  # reported, not hidden
            with lock:
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((results, errors[:5], len(errors)))


def load(hub: Any, info: dict[str, Any], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from unibox_tui.core.commands import registry
    from unibox_tui.sync.client import HubClient

    clients = []
    for n, token in enumerate(info["tokens"].values()):
        c = HubClient(hub.url, token, directory=tmp / f"agent{n}")
        c.open()
        c.wait_synced(60)
        clients.append(c)
    agent = clients[0]
    to_agent: list[float] = []
    seen: set[str] = set()
    lock = threading.Lock()
    replies: list[str] = []

    def pulled(*_a: Any) -> None:
        now = time.time()
        with agent.ws.read() as conn:  # type: ignore[union-attr]
            rows = conn.exec_driver_sql(
                "SELECT id, body, conversation_id FROM message WHERE kind = 'incoming' "
                "ORDER BY rid DESC LIMIT 200"
            ).all()
        with lock:
            for message_id, body, conv in rows:
                if message_id not in seen and body.startswith("t="):
                    seen.add(message_id)
                    to_agent.append((now - float(body[2:])) * 1000)
                    replies.append(conv)

    before = agent.on_pulled
    agent.on_pulled = lambda *a: (pulled(*a), before(*a) if before else None)
    queue: Any = multiprocessing.Queue()
    per = args.visitors // args.procs
    cpu0 = _cpu(hub.proc.pid)
    procs = [
        multiprocessing.Process(
            target=visitor_process,
            args=(hub.url, info["chat"], per, args.every, args.seconds, queue),
        )
        for _ in range(args.procs)
    ]
    for p in procs:
        p.start()
    end = time.time() + args.seconds + 2
    peak = 0
    while time.time() < end:  # the agent answers each new chat message it sees, in turn
        with lock:
            batch, replies[:] = list(replies), []
        for conv in batch[:20]:
            registry.run(
                agent.ws,  # type: ignore[arg-type]
                "reply",
                {"conversation_id": conv, "text": f"r={time.time()}"},
                actor=agent.agent["id"],
            )
        peak = max(peak, rss_kb(hub.proc.pid)["VmRSS"])
        time.sleep(0.05)
    results: list[tuple[str, float]] = []
    errors: list[str] = []
    error_count = 0
    for _ in procs:
        found, some, n = queue.get(timeout=120)
        results += found
        errors += some
        error_count += n
    for p in procs:
        p.join(30)
    cpu = _cpu(hub.proc.pid) - cpu0
    for c in clients:
        c.close()
    to_widget = [ms for kind, ms in results if kind == "agent_to_widget"]
    return {
        "visitors": per * args.procs,
        "processes": args.procs,
        "agents": len(clients),
        "every_s": args.every,
        "seconds": args.seconds,
        "visitor_to_agent_ms": {
            "n": len(to_agent),
            "p50": pct(to_agent, 0.5),
            "p99": pct(to_agent, 0.99),
        },
        "agent_to_widget_ms": {
            "n": len(to_widget),
            "p50": pct(to_widget, 0.5),
            "p99": pct(to_widget, 0.99),
        },
        "visitor_errors": error_count,
        "some_errors": errors[:5],
        "hub_cpu_s": round(cpu, 2),
        "hub_rss_peak_mb": round(peak / 1024, 1),
    }


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--visitors", type=int, default=0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=5)
    args = parser.parse_args()
    from servers.hub import HubProcess

    out: dict[str, Any] = {"size": size()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        info = workspace(tmp / "ws.db", args.agents)
        hub = HubProcess(tmp / "ws.db", tmp / "hub.log").start()
        try:
            out["time_to_interactive"] = time_to_interactive(hub.url, info["chat"], args.runs)
            if args.visitors:
                out["load"] = load(hub, info, args, tmp)
        finally:
            hub.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
