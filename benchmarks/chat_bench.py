"""The website chat widget: its size, its time to interactive in Chromium, and (with
--visitors) message latency both ways with many simulated visitors on one hub.

    .venv/bin/python benchmarks/chat_bench.py [--runs 10] [--skip-tti]
        [--visitors 1000 --procs 4 --every 10 --seconds 30 --agents 50
         --agents-per-process 10 --replies-per-s 20 --clients-nice 19
         [--cache-agents 5]] [--stages]
        [--profile-hub FILE] [--profile-agents FILE]

Builds what it needs: an empty workspace with --agents agents (tokens) and a chat
channel, and a `unibox hub --no-channels` process on it (under yappi over the timed window
with --profile-hub:
`pip install yappi`, a scratch tool; the report goes to FILE.txt).

Prints one JSON document:
- `size`: bytes of what a visitor's browser loads (loader, iframe page, CSS, widget JS,
  the vendored socket.io client), raw and gzipped (-9); `gzip_total` (target <= 40 KB).
- `time_to_interactive`: a customer's page on its own loopback origin embeds the loader
  from a real `unibox hub`; from the page's navigation start (performance.timeOrigin) to
  the widget connected and greeted (the iframe's `data-ready`, both on the epoch clock),
  each run in a fresh browser context (cold cache). Target p50 <= 300 ms.
- `load` (with --visitors): visitors are raw socket.io clients (asyncio, one websocket
  each, RawVisitor) in --procs processes, all connected first, then each sending a message
  every --every s (randomly phased) for --seconds, taking the conversation the send's answer
  brings (`since`: no sync round after a send) and pulling `sync` on each poke, as widget.js
  does. Agents: one HubClient here measures and answers
  (--replies-per-s of the chats it saw); the other --agents - 1 are HubClients in worker
  processes (benchmarks/_hub_worker.py), each pulling every change as agents' apps do.
  visitor_to_agent: from the visitor's send to the message committed in the measuring
  agent's cache (after the pull that brought it); agent_to_widget: from the agent's `reply`
  command to the visitor holding it (poke + sync); send_ack: the visitor's `send` round
  trip. Hub CPU seconds (and per message, either way) and RSS over the timed window, the
  worker agents' CPU (`agents_cpu_ms_per_message`, all of them together), and
  the load average before and after it (the machine is shared: compare CPU, not only wall).
  --clients-nice N runs the visitors' processes and the other agents' at nice N. On a team
  each agent's app and each visitor's browser run on a machine of their own; here all of
  them share the hub's two cores, and 49 agents' caches alone took ~1.2 of them (a page
  costs each agent ~0.5 ms plus ~0.13 ms a message), so the hub and the measuring agent
  waited for the CPU behind them. At nice 19 they still connect, send and pull everything
  (the hub serves all of it), but yield the CPU to the hub and the measuring agent. The
  figures say which was used (`clients_nice`); 0, the default, keeps every process equal.
  --cache-agents N: only N agents (the measuring one among them) keep a cache; the others
  are wire agents (_hub_worker.WireAgent): the same socket, the same pokes and pages, a
  pull when a page does not follow on, but nothing written. The hub serves them exactly
  what it serves an app; what it leaves out is each app's ~1 ms of CPU a page, which on a
  team is spent on that agent's own machine (`cache_agents` in the figures).
- `load.stages` (with --stages): where the time goes, per visitor message (ms, p50/p99, and
  the mean of each stage over the slowest 2%): the wire and the hub's loop lag, the send
  handler, the wait for the writer, the commit, the head, the poke gap, the poke's pages
  and send, the wire to the measuring agent, its apply; per reply: the agent's push, its
  commit, the poke, the visitors' pokes, the widget's sync. The hub notes its stamps in a
  trace file (UNIBOX_HUB_TRACE, hub/trace.py); all are on the wall clock of one machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import signal
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
sys.path.insert(0, str(ROOT / "benchmarks"))

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


async def socketio_connect(
    url: str, namespace: str, auth: dict[str, Any], compression: str | None = "deflate"
) -> Any:
    """A websocket to the hub, through Engine.IO's open and Socket.IO's connect to
    `namespace` ("/visitor," or "" for the default one) with `auth`. As a browser offers,
    permessage-deflate unless told (the hub declines it)."""
    from websockets.asyncio.client import connect

    ws = await connect(url, max_size=2**24, ping_interval=None, compression=compression)
    opened = await ws.recv()
    assert opened.startswith("0"), opened
    await ws.send(f"40{namespace}" + json.dumps(auth))
    while True:
        packet = await ws.recv()
        if packet.startswith(f"40{namespace}"):
            return ws
        if packet.startswith(f"44{namespace}"):
            raise RuntimeError(packet)
        if packet == "2":
            await ws.send("3")


class RawVisitor:
    """One widget on the /visitor namespace, speaking Engine.IO 4 / Socket.IO 5 over one
    websocket by hand (asyncio, `websockets`): a thousand python-socketio threaded clients
    need thousands of threads, and its asyncio client needs aiohttp, not a dependency. It
    does what widget.js does: connect with the channel, answer pings, `send` with an ack,
    and on each `poke` take the view it brings, or pull `sync` since its cursor (one pull
    at a time, again if poked meanwhile)."""

    def __init__(self, url: str, chat: str, results: list, errors: list) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.chat, self.results, self.errors = chat, results, errors
        self.acks: dict[int, Any] = {}
        self.next_id = 0
        self.cursor = 0
        self.seen: set[str] = set()
        self.syncing = False
        self.again = False
        self.ws: Any = None
        self.task: Any = None

    async def connect(self) -> None:
        import asyncio

        self.ws = await socketio_connect(self.url, "/visitor,", {"channel": self.chat})
        self.reader = asyncio.ensure_future(self.read())

    async def read(self) -> None:
        import asyncio

        try:
            async for packet in self.ws:
                if packet == "2":
                    await self.ws.send("3")
                elif packet.startswith("43/visitor,"):
                    rest = packet[len("43/visitor,") :]
                    bracket = rest.index("[")
                    future = self.acks.pop(int(rest[:bracket]), None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(rest[bracket:])[0])
                elif packet.startswith('42/visitor,["poke"'):
                    poke = json.loads(packet[len("42/visitor,") :])[1]
                    since = poke.get("since") if isinstance(poke, dict) else None
                    if isinstance(since, int) and since <= self.cursor and "view" in poke:
                        self.take(poke["view"])  # as widget.js: the poke brings the view
                    elif self.syncing:
                        self.again = True
                    else:
                        self.syncing = True  # before the task runs: one pull at a time
                        self.task = asyncio.ensure_future(self.sync())
        except Exception as e:  # a dropped connection: reported (not our own close)
            if type(e).__name__ != "ConnectionClosedOK":
                self.errors.append(f"read: {type(e).__name__}: {e}")

    async def call(self, event: str, data: Any, timeout: float = 30) -> Any:
        import asyncio

        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = future
        await self.ws.send(f"42/visitor,{self.next_id}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, timeout)

    def take(self, view: dict[str, Any]) -> None:
        """A view of the conversation since the cursor (the answer to a sync or a send)."""
        now = time.time()
        self.cursor = max(self.cursor, view.get("cursor") or 0)
        for m in view.get("messages", []):
            text = m["text"]
            if m["from"] == "agent" and m["id"] not in self.seen and text[:2] == "r=":
                self.seen.add(m["id"])
                sent = float(text[2:])
                self.results.append(("agent_to_widget", (now - sent) * 1000))
                self.results.append(("reply_seen", (sent, now)))

    async def sync(self) -> None:
        self.syncing = True
        try:
            while True:
                self.again = False
                self.take(await self.call("sync", {"since": self.cursor}))
                if not self.again:
                    return
        except Exception as e:
            self.errors.append(f"sync: {type(e).__name__}: {e}")
        finally:
            self.syncing = False


class RawAgent:
    """An agent's app as the hub sees it, without the cache (--cache-agents): one websocket
    by hand, as RawVisitor, on the default namespace with the app's auth (token, protocol,
    client id), `hello`, then what sync/client.py does with pokes: a poke's page that takes
    the cursor on is taken (changes.poked_chain, the app's own rule), and when the cursor
    is still short of the head a poke announced, `pull` pages from it until the hub has no
    more. Nothing is written anywhere. The hub serves it exactly what it serves an app (the
    same pokes, pages and pulls); what it leaves out is the app's work of writing each page
    into its cache (~1 ms of CPU), which on a team runs on the agent's own machine. One
    asyncio loop hosts many: python-socketio's threaded client, as the app uses it, costs
    three threads and their hand-overs per agent, which 45 of them on the hub's two cores
    turned into CPU the hub waited behind."""

    def __init__(self, url: str, token: str, errors: list[str]) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.token, self.errors = token, errors
        self.acks: dict[int, Any] = {}
        self.next_id = 0
        self.cursor = "0"
        self.head = 0
        self.poked: list[dict[str, Any]] = []
        self.busy = False
        self.again = False
        self.rounds = self.pulls = 0
        self.ws: Any = None
        self.task: Any = None

    async def connect(self) -> None:
        import asyncio

        from unibox_tui.core.ids import new_id
        from unibox_tui.hub.protocol import PROTOCOL

        auth = {"token": self.token, "protocol": PROTOCOL, "client_id": new_id()}
        # No permessage-deflate, as the app's websocket client (websocket-client) offers none.
        self.ws = await socketio_connect(self.url, "", auth, compression=None)
        self.reader = asyncio.ensure_future(self.read())
        await self.call("hello", {})
        await self.pull()

    async def read(self) -> None:
        import orjson

        try:
            async for packet in self.ws:
                if packet == "2":
                    await self.ws.send("3")
                elif packet[:2] == "43":
                    bracket = packet.index("[")
                    future = self.acks.pop(int(packet[2:bracket]), None)
                    if future is not None and not future.done():
                        future.set_result(orjson.loads(packet[bracket:])[0])
                elif packet.startswith('42["poke"'):
                    self.on_poke(orjson.loads(packet[2:])[1])
        except Exception as e:
            if type(e).__name__ != "ConnectionClosedOK":
                self.errors.append(f"agent read: {type(e).__name__}: {e}")

    def on_poke(self, data: Any) -> None:
        import asyncio

        if not isinstance(data, dict):
            return
        if isinstance(data.get("head"), int):
            self.head = max(self.head, data["head"])
        if isinstance(data.get("page"), dict) and isinstance(data.get("from"), str):
            self.poked = [*self.poked[-7:], {"from": data["from"], "page": data["page"]}]
        if self.busy:
            self.again = True
        else:
            self.busy = True
            self.task = asyncio.ensure_future(self.round())

    async def round(self) -> None:
        from unibox_tui.core import changes

        try:
            while True:
                self.again = False
                poked, self.poked = self.poked, []
                chain = changes.poked_chain(self.cursor, poked)
                if chain:
                    self.cursor = str(chain[-1]["cursor"])
                if self.cursor == "0" or changes.cursor_seq(self.cursor) < self.head:
                    await self.pull()
                self.rounds += 1
                if not self.again:
                    return
        except Exception as e:
            self.errors.append(f"agent round: {type(e).__name__}: {e}")
        finally:
            self.busy = False

    async def pull(self) -> None:
        from unibox_tui.sync.client import PULL_LIMIT

        while True:
            page = await self.call("pull", {"cursor": self.cursor, "limit": PULL_LIMIT})
            self.pulls += 1
            self.cursor = str(page["cursor"])
            if not page.get("more"):
                return

    async def call(self, event: str, data: Any, timeout: float = 30) -> Any:
        import asyncio

        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = future
        await self.ws.send(f"42{self.next_id}" + json.dumps([event, data]))
        answer = await asyncio.wait_for(future, timeout)
        if not isinstance(answer, dict) or "error" in answer:
            raise RuntimeError(f"{event}: {answer!r}"[:200])
        return answer


def agents_process(url: str, tokens: list[str], go: Any, stop: Any, out: Any, nice: int) -> None:
    """RawAgents for `tokens` on one asyncio loop, connected and pulled before `go` is
    set, until `stop` is; reports (rounds, pulls, errors, CPU seconds over the window)."""
    import asyncio

    os.nice(nice)
    errors: list[str] = []

    async def main() -> tuple[int, int, float]:
        agents = [RawAgent(url, t, errors) for t in tokens]
        for agent in agents:
            await agent.connect()
        out.put(("connected", len(agents)))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, go.wait)
        cpu0, rounds0 = time.process_time(), sum(a.rounds for a in agents)
        pulls0 = sum(a.pulls for a in agents)
        await loop.run_in_executor(None, stop.wait)
        used = time.process_time() - cpu0
        rounds = sum(a.rounds for a in agents) - rounds0
        pulls = sum(a.pulls for a in agents) - pulls0
        for agent in agents:
            await agent.ws.close()
        return rounds, pulls, used

    try:
        rounds, pulls, used = asyncio.run(main())
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
        out.put(("connected", 0))
        rounds, pulls, used = 0, 0, 0.0
    out.put(("agents", rounds, pulls, errors[:5], used))


def visitor_process(
    url: str, chat: str, count: int, every: float, seconds: float, go: Any, out: Any, nice: int
) -> None:
    """`count` visitors in one process on one asyncio loop; once every process has its
    visitors connected (`go` is set), each sends a message every `every` s (randomly
    phased) for `seconds`. Reports (kind, latency ms)."""
    import asyncio

    os.nice(nice)

    results: list[tuple[str, float]] = []
    errors: list[str] = []

    async def one(n: int, v: RawVisitor, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()) + random.random() * every)
        end = start_at + seconds
        k = 0
        while time.time() < end:
            k += 1
            t0 = time.time()
            client_id = f"b{os.getpid()}x{n}x{k}"
            try:
                answer = await v.call(
                    "send",
                    {"client_id": client_id, "text": f"t={t0} {client_id}", "since": v.cursor},
                )
            except Exception as e:
                errors.append(f"send: {type(e).__name__}: {e}")
                continue
            results.append(("send_ack", (time.time() - t0) * 1000))
            if answer.get("error"):
                errors.append(answer["error"])
            elif isinstance(answer.get("view"), dict):  # as widget.js: the answer brings it
                v.take(answer["view"])
            elif v.syncing:  # an older hub: an answered send pulls (the hub does not poke)
                v.again = True
            else:
                v.syncing = True
                v.task = asyncio.ensure_future(v.sync())
            await asyncio.sleep(max(0.0, t0 + every - time.time()))
        await asyncio.sleep(5)  # the last replies

    async def main() -> None:
        visitors = [RawVisitor(url, chat, results, errors) for _ in range(count)]
        for chunk in range(0, count, 50):  # not all at once: the hub's accept queue
            await asyncio.gather(*(v.connect() for v in visitors[chunk : chunk + 50]))
        out.put(("connected", count))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        start_at = time.time()
        await asyncio.gather(*(one(n, v, start_at) for n, v in enumerate(visitors)))
        for v in visitors:
            await v.ws.close()

    cpu0 = time.process_time()
    try:
        asyncio.run(main())
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
        out.put(("connected", 0))
    out.put((results, errors[:5], len(errors), time.process_time() - cpu0))


def gc_summary(pauses: list[tuple[int, float]]) -> dict[str, Any]:
    """Garbage collections, (generation, ms) each, per generation: count, total and longest."""
    out = {}
    for gen in (0, 1, 2):
        mine = [ms for g, ms in pauses if g == gen]
        out[f"gen{gen}"] = {
            "n": len(mine),
            "total_ms": round(sum(mine), 1),
            "max_ms": round(max(mine, default=0), 1),
        }
    return out


def gc_pauses() -> Any:
    """Note this process's garbage collections from now; the returned function stops and
    summarizes them (`gc_summary`)."""
    import gc

    pauses: list[tuple[int, float]] = []
    started = [0.0]

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

    gc.callbacks.append(note)

    def done() -> dict[str, Any]:
        gc.callbacks.remove(note)
        return gc_summary(pauses)

    return done


def load(hub: Any, info: dict[str, Any], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """--visitors raw socket.io visitors in --procs processes and --agents agents: one
    HubClient here measures and answers; the others are HubClients in worker processes
    (benchmarks/_hub_worker.py, --agents-per-process each), each pulling every change."""
    from _hubbench import Worker, all_call

    from unibox_tui.core.commands import registry
    from unibox_tui.gc_pacing import IdleCollector
    from unibox_tui.sync.client import HubClient

    class Counting(HubClient):
        """The measuring agent, counting its sync rounds and the pulls among them (a poke
        whose page was left out, or did not follow on from the cache, is pulled)."""

        rounds = pulls = 0
        pokes: list[tuple[float, int]] = []  # (time received, head) of each poke (--stages)

        def _on_poke(self, data: Any) -> None:
            if isinstance(data, dict) and isinstance(data.get("head"), int):
                self.pokes.append((time.time(), data["head"]))
            super()._on_poke(data)

        def sync_once(self) -> None:
            super().sync_once()
            self.rounds += 1

        def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
            if event == "pull":
                self.pulls += 1
            return super()._call(event, data)

    handles = list(info["tokens"])
    agent = Counting(hub.url, info["tokens"][handles[0]], directory=tmp / "agent0")
    agent.open()
    agent.wait_synced(60)
    others = handles[1:]
    # --cache-agents: the agents past that many are wire agents (RawAgent), 25 a process.
    cache_agents = len(handles) if args.cache_agents is None else max(1, args.cache_agents)
    wire = handles[cache_agents:]
    cached = [h for h in others if h not in wire]
    groups = [
        cached[i : i + args.agents_per_process]
        for i in range(0, len(cached), args.agents_per_process)
    ]
    os.environ["UNIBOX_BENCH_NICE"] = str(args.clients_nice)  # the worker processes read it
    workers = [Worker(i, tmp / f"worker{i}.log") for i in range(len(groups))]
    all_call(
        workers,
        "open",
        per=[
            {
                "url": hub.url,
                "clients": [
                    {"handle": h, "token": info["tokens"][h], "dir": str(tmp / h)} for h in g
                ],
            }
            for g in groups
        ],
    )
    go = multiprocessing.Event()  # set once every process has its visitors connected
    stop_wire = multiprocessing.Event()
    wire_out: Any = multiprocessing.Queue()
    wire_procs = [
        multiprocessing.Process(
            target=agents_process,
            args=(
                hub.url,
                [info["tokens"][h] for h in wire[i : i + 25]],
                go,
                stop_wire,
                wire_out,
                args.clients_nice,
            ),
        )
        for i in range(0, len(wire), 25)
    ]
    for p in wire_procs:
        p.start()
    wire_connected = sum(wire_out.get(timeout=300)[1] for _ in wire_procs)
    to_agent: list[float] = []
    applied: dict[str, tuple[float, float]] = {}  # client id -> (sent, in the cache) (--stages)
    seen: set[str] = set()
    lock = threading.Lock()
    replies: list[str] = []

    last = [0]  # the newest message row the measuring agent's cache was looked at up to

    def pulled(*_a: Any) -> None:
        """On the agent's sync thread after each apply: the visitor messages new in the
        cache since the last look (their rows only: this is the measured agent's time)."""
        now = time.time()
        with agent.ws.read() as conn:  # type: ignore[union-attr]
            rows = conn.exec_driver_sql(
                "SELECT rid, id, body, conversation_id, kind FROM message WHERE rid > ? "
                "ORDER BY rid",
                (last[0],),
            ).all()
        if rows:
            last[0] = rows[-1][0]
        with lock:
            for _, message_id, body, conv, kind in rows:
                if kind != "incoming":
                    continue
                if message_id not in seen and body.startswith("t="):
                    seen.add(message_id)
                    sent, client_id = body[2:].split(" ", 1)
                    to_agent.append((now - float(sent)) * 1000)
                    applied[client_id] = (float(sent), now)
                    replies.append(conv)

    before = agent.on_pulled
    agent.on_pulled = lambda *a: (pulled(*a), before(*a) if before else None)
    queue: Any = multiprocessing.Queue()
    per = args.visitors // args.procs
    procs = [
        multiprocessing.Process(
            target=visitor_process,
            args=(
                hub.url,
                info["chat"],
                per,
                args.every,
                args.seconds,
                go,
                queue,
                args.clients_nice,
            ),
        )
        for _ in range(args.procs)
    ]
    connect0 = time.time()
    for p in procs:
        p.start()
    connected = sum(queue.get(timeout=300)[1] for _ in procs)
    connect_s = time.time() - connect0
    # This process collects garbage as the agent's app does (gc_pacing): full collections
    # paced by its idle ticks and frozen after, not CPython's automatic ones (one of those
    # here took 163 ms, which the app never runs). Started before the timed window: its
    # first collection walks everything once.
    collector = IdleCollector()
    collector.start()
    time.sleep(2.0)  # the connects' own work settles
    go.set()
    started = time.time()
    cpu0 = _cpu(hub.pid)
    agents0 = sum(r["cpu_s"] for r in all_call(workers, "cpu"))
    rounds0 = _rounds(workers)
    agent_rounds0, agent_pulls0 = agent.rounds, agent.pulls
    if args.profile_agents:  # yappi over the first worker process's threads
        workers[0].call("profile")
    if args.profile_hub:  # the hub's profiler runs over the timed window only
        os.kill(hub.pid, signal.SIGUSR2)
    rss0 = rss_kb(hub.pid)["VmRSS"]
    load0 = os.getloadavg()
    pauses = gc_pauses()  # this process's (the measuring agent's) collections
    end = started + args.seconds
    peak = 0
    answered = 0
    tick = time.time()
    while time.time() < end:  # the agent answers new chat messages, --replies-per-s
        with lock:
            batch, replies[:] = list(replies), []
        random.shuffle(batch)
        budget = max(1, round(args.replies_per_s * (time.time() - tick)))
        tick = time.time()
        for conv in batch[:budget]:
            registry.run(
                agent.ws,  # type: ignore[arg-type]
                "reply",
                {"conversation_id": conv, "text": f"r={time.time()}"},
                actor=agent.agent["id"],
            )
            answered += 1
        peak = max(peak, rss_kb(hub.pid)["VmRSS"])
        time.sleep(0.1)
        collector.tick()
    collector.stop()
    cpu = _cpu(hub.pid) - cpu0
    stop_wire.set()
    wire_rounds = wire_pulls = 0
    wire_cpu = 0.0
    errors_wire: list[str] = []
    for _ in wire_procs:
        _, r, n, some, used = wire_out.get(timeout=120)
        wire_rounds, wire_pulls, wire_cpu = wire_rounds + r, wire_pulls + n, wire_cpu + used
        errors_wire += some
    for p in wire_procs:
        p.join(30)
    agents_cpu = sum(r["cpu_s"] for r in all_call(workers, "cpu")) - agents0
    rounds = _rounds(workers) - rounds0
    measuring = {
        "rounds": agent.rounds - agent_rounds0,
        "pulls": agent.pulls - agent_pulls0,
        "gc": pauses(),
    }
    if args.profile_agents:
        workers[0].call("profile", path=str(args.profile_agents))
    if args.profile_hub:
        os.kill(hub.pid, signal.SIGUSR2)
    load1 = os.getloadavg()
    results: list[tuple[str, float]] = []
    errors: list[str] = []
    error_count = 0
    visitor_cpu = 0.0
    for _ in procs:
        found, some, n, used = queue.get(timeout=180)
        results += found
        errors += some
        error_count += n
        visitor_cpu += used
    for p in procs:
        p.join(30)
    agent.close()
    for w in workers:
        w.close()
    to_widget = [ms for kind, ms in results if kind == "agent_to_widget"]
    acks = [ms for kind, ms in results if kind == "send_ack"]
    stages = None
    if args.stages:
        seen_replies = [at for kind, at in results if kind == "reply_seen"]
        stages = stage_breakdown(tmp / "trace.jsonl", applied, agent.pokes, seen_replies, started)
    return {
        "visitors": per * args.procs,
        "clients_nice": args.clients_nice,
        "connected": connected,
        "connect_s": round(connect_s, 1),
        "processes": args.procs,
        "agents": len(handles),
        "cache_agents": len(handles) - len(wire),
        # The wire agents (RawAgent), all of them: connected, their rounds (pokes taken)
        # and pulls over the window, their processes' CPU, and the first errors.
        "wire_agents": {
            "connected": wire_connected,
            "processes": len(wire_procs),
            "rounds": wire_rounds,
            "pulls": wire_pulls,
            "cpu_s": round(wire_cpu, 2),
            "errors": errors_wire[:5],
        },
        "agent_processes": len(workers) + 1,
        "every_s": args.every,
        "seconds": args.seconds,
        "replies_sent": answered,
        "visitor_messages_per_s": round(len(acks) / args.seconds, 1),
        "visitor_to_agent_ms": {"n": len(to_agent), **_p(to_agent)},
        "agent_to_widget_ms": {"n": len(to_widget), **_p(to_widget)},
        "send_ack_ms": {"n": len(acks), **_p(acks)},
        "visitor_errors": error_count,
        "some_errors": errors[:5],
        "hub_cpu_s": round(cpu, 2),
        "hub_cpu_share": round(cpu / args.seconds, 2),
        # Everything the hub did (visitors' sends and syncs, agents' pulls and replies)
        # per message either way: the figure to compare on a loaded machine.
        "hub_cpu_ms_per_message": round(cpu * 1000 / max(1, len(acks) + answered), 2),
        "hub_rss_mb": {"before": round(rss0 / 1024, 1), "peak": round(peak / 1024, 1)},
        # The other agents' apps (worker processes) taking in what changed: CPU seconds
        # over the window and per visitor message, all of them together.
        "agent_processes_cpu_s": round(agents_cpu, 2),
        "agents_cpu_ms_per_message": round(agents_cpu * 1000 / max(1, len(acks) + answered), 2),
        # Sync rounds (a poke's page applied, or a pull) of the worker agents, all of them,
        # and their CPU per round: what one poke costs an agent's app.
        "agent_rounds": rounds,
        "agents_cpu_ms_per_round": round(agents_cpu * 1000 / max(1, rounds), 3),
        # The measuring agent's rounds and pulls (the others take pokes' pages the same way).
        "measuring_agent": measuring,
        "visitor_processes_cpu_s": round(visitor_cpu, 1),
        "load_avg": {"before": [round(x, 2) for x in load0], "after": [round(x, 2) for x in load1]},
        **({"stages": stages} if stages is not None else {}),
    }


VISITOR_STAGES = (
    # (name, from, to): stamps of one visitor message (hub/trace.py; t0, recv, applied here)
    ("emit_to_handler", "t0", "h"),  # the wire and the hub's event loop lag
    ("handler_to_queued", "h", "q"),  # the send handler's own work (chatflow, checks)
    ("writer_queue_wait", "q", "w0"),  # waiting for the batch before to be stored
    ("writer_commit", "w0", "w1"),  # the batch's transaction (and bot turns)
    ("commit_to_head", "w1", "k"),  # the hub learns the head (a read) and the loop resumes
    ("poke_gap_wait", "k", "poke_start"),  # the poke gap (and a poke already running)
    ("poke_read_pages", "poke_start", "poke_read"),
    ("poke_send", "poke_read", "poke_sent"),
    ("poke_to_agent", "poke_sent", "recv"),  # the wire and the agent's read thread
    ("agent_apply", "recv", "applied"),  # the agent's sync thread: wake, apply, commit
    ("total", "t0", "applied"),
)


def stage_breakdown(
    path: Path,
    applied: dict[str, tuple[float, float]],
    agent_pokes: list[tuple[float, int]],
    seen_replies: list[tuple[float, float]],
    started: float,
) -> dict[str, Any]:
    """Where each message's time went, stage by stage (ms, p50/p99 over the messages of the
    timed window), from the hub's trace (hub/trace.py) and this process's clocks; and the
    mean of each stage over the slowest 2% of messages (what the p99 is made of)."""
    import bisect

    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    sends = {r["id"]: r for r in records if r["kind"] == "send"}
    pokes = sorted((r for r in records if r["kind"] == "poke"), key=lambda r: r["head"])
    poke_heads = [r["head"] for r in pokes]
    agent_pokes = sorted(agent_pokes, key=lambda p: p[1])
    agent_heads = [h for _, h in agent_pokes]
    rows = []
    for client_id, (t0, at) in applied.items():
        send = sends.get(client_id)
        if send is None or t0 < started or "w0" not in send:
            continue
        row = {"t0": t0, "applied": at, **send}
        i = bisect.bisect_left(poke_heads, send["seq"])
        if i < len(pokes):
            poke = pokes[i]
            row.update(poke_start=poke["start"], poke_read=poke["read"], poke_sent=poke["sent"])
        j = bisect.bisect_left(agent_heads, send["seq"])
        if j < len(agent_pokes):
            row["recv"] = agent_pokes[j][0]
        rows.append(row)
    out: dict[str, Any] = {"messages": len(rows)}
    for name, a, b in VISITOR_STAGES:
        samples = [(r[b] - r[a]) * 1000 for r in rows if a in r and b in r]
        out[name] = {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}
    slow = sorted(rows, key=lambda r: r["applied"] - r["t0"])[-max(1, len(rows) // 50) :]
    out["slowest_2pct_mean"] = {
        name: round(
            statistics.mean([(r[b] - r[a]) * 1000 for r in slow if a in r and b in r] or [0]), 1
        )
        for name, a, b in VISITOR_STAGES
    }
    gaps = [r["gap"] * 1000 for r in pokes if r["start"] >= started]
    took = [(r["sent"] - r["start"]) * 1000 for r in pokes if r["start"] >= started]
    out["pokes"] = {"n": len(gaps), "gap_ms": _p(gaps), "read_and_send_ms": _p(took)}
    # The hub's garbage collections (hub/trace.py): a collection stops every stage at once.
    out["hub_gc"] = gc_summary(
        [(r["gen"], r["ms"]) for r in records if r["kind"] == "gc" and r["start"] >= started]
    )
    batches = [r.get("n", 1) for r in sends.values() if r.get("w0", 0) >= started]
    out["visitor_batch_size_mean"] = round(statistics.mean(batches), 1) if batches else 0
    # Agent -> widget: the reply's push reaching the hub, committed, its visitor poked (as
    # soon as the push group committed: Hub._apply_pushes), the widget's sync.
    pushes = sorted((r for r in records if r["kind"] == "push"), key=lambda r: r["i"])
    push_in = [r["i"] for r in pushes]
    # The visitors' pokes (on_head: which visitors' chats changed since the last telling).
    told = sorted((r for r in records if r["kind"] == "heads"), key=lambda r: r["head"])
    told_heads = [r["head"] for r in told]
    legs: dict[str, list[float]] = {
        k: [] for k in ("to_hub", "commit", "to_visitor_poke", "to_widget")
    }
    for sent, now in seen_replies:
        if sent < started:
            continue
        i = bisect.bisect_left(push_in, sent)
        if i >= len(pushes):
            continue
        push = pushes[i]
        v = bisect.bisect_left(told_heads, push["seq"])
        if v >= len(told):
            continue
        legs["to_hub"].append((push["i"] - sent) * 1000)  # the agent's app pushing it
        legs["commit"].append((push["a"] - push["i"]) * 1000)
        legs["to_visitor_poke"].append((told[v]["t"] - push["a"]) * 1000)  # the read, the emit
        legs["to_widget"].append((now - told[v]["t"]) * 1000)  # the widget's sync
    out["reply"] = {k: _p(v) for k, v in legs.items()}
    return out


def _rounds(workers: list[Any]) -> int:
    from _hubbench import all_call

    return sum(sum(r["rounds"].values()) for r in all_call(workers, "rounds"))


def _p(samples: list[float]) -> dict[str, float]:
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99), "max": pct(samples, 1.0)}


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
    parser.add_argument("--agents-per-process", type=int, default=10)
    parser.add_argument("--replies-per-s", type=float, default=20.0)
    parser.add_argument(
        "--cache-agents",
        type=int,
        help="how many agents keep a cache (the measuring one included; default all): "
        "the others are wire agents, served the same pokes and pulls, writing nothing",
    )
    parser.add_argument("--profile-hub", type=Path, help="yappi report of the hub to FILE.txt")
    parser.add_argument(
        "--profile-agents", type=Path, help="yappi report of one agents' process to FILE"
    )
    parser.add_argument("--skip-tti", action="store_true", help="no Chromium part")
    parser.add_argument(
        "--clients-nice",
        type=int,
        default=0,
        help="run the visitors' and the other agents' processes at this nice level",
    )
    parser.add_argument(
        "--stages", action="store_true", help="where each message's time goes (hub/trace.py)"
    )
    args = parser.parse_args()
    from _hubbench import Hub

    out: dict[str, Any] = {
        "size": size(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        info = workspace(tmp / "ws.db", args.agents)
        if args.stages:
            os.environ["UNIBOX_HUB_TRACE"] = str(tmp / "trace.jsonl")  # the hub's trace
        if args.profile_hub:
            os.environ["UNIBOX_PROFILE_WINDOW"] = "1"  # _hub_profiled.py: SIGUSR2 toggles
        hub = Hub(tmp / "ws.db", tmp / "hub.log", profile=args.profile_hub)
        hub.start()
        try:
            if not args.skip_tti:
                out["time_to_interactive"] = time_to_interactive(hub.url, info["chat"], args.runs)
            if args.visitors:
                out["load"] = load(hub, info, args, tmp)
            if args.profile_hub:
                hub.stop()  # SIGTERM: the profiler writes its report
        finally:
            hub.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
