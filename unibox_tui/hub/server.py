"""The hub process: a python-socketio AsyncServer for agents' apps and HTTP routes, as one
ASGI app on uvicorn (hub/protocol.py says what travels).

Threads: the event loop only moves messages. Commands run on ONE writer thread (SQLite has
one writer anyway, and a queue keeps the hub's order = the order commands were received);
pulls and lookups on a small reader pool. Every connect pulls since its cursor, so a client
that missed pokes while away misses nothing (Chatwoot #995/#14934 are lost events after a
reconnect: pokes here carry no data, the change log does).

A watcher polls the change counter four times a second: writes made outside the socket
(the engine ingesting mail, an admin's `unibox agent token --revoke` on the hub's file) are
poked too, and a session whose token was revoked or whose agent was deactivated is told
`bye` and disconnected.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from .. import __version__
from ..core import access, changes, tokens
from ..core.changes import ColumnarChanges
from ..core.db import Workspace
from ..core.errors import UniboxError
from ..core.presence import Presence
from . import mutations, trace, web
from .collector import HubCollector
from .node import NodeState, listen_changes, run_channels
from .protocol import (
    MAX_PAYLOAD,
    MAX_PULL,
    MAX_WANTED,
    POKE_ROWS,
    PROTOCOL,
    BadPayload,
    Packet,
    need,
)
from .signals import RedisSignals, Signals

log = logging.getLogger("unibox.hub")
WATCH_SECONDS = 0.25
# The least time between two pokes' starts. A write after a quiet spell is poked at once;
# writes landing faster than this wait for the next poke and travel together in it. Every
# poke costs each connected app a page to take in (~1 ms of CPU: socket, decode, one
# transaction) whatever it holds: 1,000 chat visitors writing 100 messages a second poked
# one by one had 50 agents' apps apply 5,000 pages a second, more than two cores
# (benchmarks/chat_bench.py). At most 25 a second instead; the wait adds at most this much
# to an arrival.
POKE_GAP = 0.04
# ... and longer when that keeps within a latency budget: a write waits for the gap, then
# for the poke's pages to be read and sent; the gap after a poke takes what of POKE_BUDGET
# that poke's wall time left (never less than POKE_GAP). A quick poke (a few ms, an idle
# machine) leaves a gap of ~55 ms: fewer pokes for every app to take in, the same latency.
# A slow one (a loaded machine: its pages wait for a reader, the loop for the CPU) leaves
# POKE_GAP, and pokes then follow one another as they finish (one at a time): they come
# less often as they get slower, and an app that falls behind takes the pages it missed
# in one transaction (sync/client.py). The gap used to grow with the poke's wall time
# instead (a poke took at most a quarter of the hub's time, up to a 250 ms gap): on a
# loaded machine the gap alone put the median arrival in the hundreds of ms
# (benchmarks/chat_bench.py --stages: 100 visitor messages a second, 50 agents).
POKE_BUDGET = 0.06
# The most mutations one group commit takes (several pushes, whole): the group's answers wait
# for its commit, and readers see nothing of it before. Small enough that what one group
# writes fits the page a poke carries (protocol.POKE_ROWS: a comment is a message row and its
# conversation's), or every agent's app would have to pull it; large enough that a
# transaction's fixed cost (~1 ms) is a small part of a group's (~0.2 ms per command).
GROUP_MUTATIONS = 200
# The least time between two sends of agents' signals (typing, viewing, chat visitors'
# presence): what is told meanwhile travels together, one event per audience.
SIGNAL_GAP = POKE_GAP
PRESENCE = ("online", "away")


@dataclass
class Session:
    agent_id: str
    handle: str
    token_id: str
    client_id: str
    peer: str
    # One app's signals apply in the order it sent them (each event runs as a task of its
    # own, and one awaits a read): a "typing" overtaken by the "idle" sent right after it
    # would show the reply as being written for seconds after it was sent.
    signal_order: asyncio.Lock = field(default_factory=asyncio.Lock, compare=False, repr=False)


class _JsonPacket(Packet):
    """Everything the hub sends is JSON (pages, answers, signals; no bytes travel over the
    socket), so python-socketio's search of each outgoing payload for bytes, one Python call
    per value, is skipped: it took ~20 ms per 2,000-row pull page, half of the event loop's
    CPU with 50 agents syncing (benchmarks/hub_team.py, drain). Incoming packets decode as
    before (protocol.Packet: orjson)."""

    uses_binary_events = False


class _Manager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's manager of rooms, with two changes:
    - an event to many sockets is queued on each in turn. The library makes an asyncio task
      per recipient and waits for them all, though queueing a packet on a socket never waits
      (its queue is unbounded and a writer task per socket sends): fifty tasks per poke were
      the most of the hub's own CPU in a fan-out to fifty agents, after the sends themselves;
    - it knows which rooms each socket is in. The library finds them (at a disconnect, and
      in `rooms()`) by looking in every room of the namespace: with a thousand chat visitors
      (two rooms each) a disconnect looked in 2,000 rooms, and everyone leaving cost the
      event loop seconds (benchmarks/chat_bench.py under a profiler)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rooms_of: dict[tuple[str, str], set[Any]] = {}  # (namespace, sid) -> rooms

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        held = self._rooms_of.get((namespace, sid))
        if held is not None:
            held.discard(room)
            if not held:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """As the library's, looking only in the socket's own rooms."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self._rooms_of.pop((namespace, sid), None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if sid in pending.get(namespace, ()):
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._rooms_of.get((namespace, sid), ()) if r is not None]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None or skip_sid is not None or isinstance(data, tuple):
            return await super().emit(  # type: ignore[no-any-return]
                event, data, namespace, room, skip_sid, callback, to, **kwargs
            )
        if namespace not in self.rooms:
            return
        from engineio import packet as eio_packet
        from socketio import packet

        args = [event] if data is None else [event, data]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=args).encode()
        eio_pkts = [
            eio_packet.Packet(eio_packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        for _sid, eio_sid in self.get_participants(namespace, to or room):
            for p in eio_pkts:
                try:
                    await self.server.eio.send_packet(eio_sid, p)
                except Exception:  # a socket closing meanwhile: the others still get it
                    log.debug("emit %s to %s failed", event, eio_sid, exc_info=True)


class _RedisManager(socketio.AsyncRedisManager, _Manager):  # type: ignore[misc]
    """With --redis: rooms across nodes, and this node's own deliveries (what the pub/sub
    manager hands to its base class) made the way _Manager makes them."""


class Hub:
    def __init__(
        self,
        ws: Workspace,
        *,
        run_engine: bool = True,
        public_url: str | None = None,
        webapp: Any = None,
        state: NodeState | None = None,
        redis_url: str | None = None,
    ) -> None:
        self.ws = ws
        # This node's own files (hub/node.py): beside a workspace file unless told.
        self.state = state or NodeState(Path(ws.path), beside=True)
        self.redis_url = redis_url
        self._named: str | None = None  # _prefix
        self.redis: Any = None  # redis.asyncio client with --redis (signals, rate limits)
        if redis_url:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(redis_url)
        self.webapp = webapp  # webapp_http.WebAppSettings with --web: the agent app at /app
        self.public_url = (public_url or "").rstrip("/")  # where customers reach us
        self.run_engine = run_engine
        self.engine: Any = None
        self.receivers: Any = None  # fallback_smtp.Receivers while the channels run
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=[],
            max_http_buffer_size=MAX_PAYLOAD,
            ping_interval=10,
            ping_timeout=10,
            logger=False,
            engineio_logger=False,
            serializer=_JsonPacket,
            client_manager=self._client_manager(),
        )
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="unibox-hub-write")
        self.readers = ThreadPoolExecutor(3, thread_name_prefix="unibox-hub-read")
        self.collector = HubCollector()
        self.sessions: dict[str, Session] = {}
        # Pushes waiting for the writer's next group commit (_apply_pushes), in arrival order.
        self._pushes: deque[tuple[mutations.Push, asyncio.Future[Any]]] = deque()
        self._applying = False
        self._applier: asyncio.Future[None] | None = None
        self.signals = self._signals_store()
        # Who has an app connected, for routing on this hub's writer (core/presence.py): an
        # agent with none counts as away after a grace period.
        self.presence = ws.presence = Presence()
        if ws.dialect == "sqlite":  # a poke waits for the commit: no checkpoint inside it
            ws.checkpoint_apart()
        self.head = 0
        self.poked = 0
        self.heads: changes.Heads | None = None  # each table's newest change, at a poke
        # The cursor the pages sent with the last poke end at: the next poke's pages start
        # there (a client that applied them holds exactly that cursor).
        self.poke_cursor = "0"
        self._poking = False  # a poke is being read or sent (_poke_soon)
        self._poked_at = 0.0  # loop time the last poke started
        self.poke_gap = POKE_GAP  # the least time to the next poke's start (_poke)
        self._asked_at: float | None = None  # hub/trace.py: when a poke was first wanted
        self._pages_read_at = 0.0  # hub/trace.py: when the last poke's pages were read
        self._heads_pending: tuple[int, int] | None = None  # for the change listeners
        self._heads_told = 0  # the change listeners were told of every change up to this
        self._heads_task: asyncio.Future[None] | None = None
        self._rules_key: tuple[int, ...] = ()
        self._rules_held: dict[str, access.Access] = {}
        self._rules_lock = threading.Lock()
        # Signals for agents waiting for the next turn of `_tell`: inbox -> key -> signal.
        self._told: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._telling = False
        self._teller: asyncio.Future[None] | None = None
        self._told_at = 0.0  # loop time the last turn started
        self._watcher: asyncio.Task[None] | None = None
        self._channels: asyncio.Task[None] | None = None  # holds the channels' lease
        self._listener: asyncio.Task[None] | None = None  # PostgreSQL LISTEN (node.py)
        self._catching_up: asyncio.Future[None] | None = None  # a wake's read (_wake)
        self._wake_again = False
        self._closing = False
        # Channels' HTTP modules (web.ROUTE_MODULES) listen here: `on_head(previous, head)`
        # after each poke (the chat widget pokes its visitors from it), and
        # `on_signal(session, kind, conversation_id, inbox_id, data)` after an agent's viewing
        # / typing / left signal (the widget shows the agent typing a reply, not a comment:
        # data["private"]).
        self.on_head: list[Callable[[int, int], Awaitable[None]]] = []
        self.on_signal_hooks: list[Callable[[Session, str, str, str, Any], Awaitable[None]]] = []
        # ... and what they add to an agent's hello (the chat: the visitors on the page now,
        # so an app that connects later knows who has left).
        self.on_hello_hooks: list[Callable[[Session], Awaitable[dict[str, Any]]]] = []
        # ... and at the hub's start (before it serves) and stop (before the writer ends):
        # Meta's webhooks store what they accepted before an earlier run stopped, and what
        # they accepted before this one stops.
        self.on_startup: list[Callable[[], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        self._register()
        self.app = socketio.ASGIApp(
            self.sio,
            other_asgi_app=web.http_app(self),
            on_startup=self.startup,
            on_shutdown=self.shutdown,
        )

    # ---------------------------------------------------------------- several nodes

    def _prefix(self) -> str:
        """What this workspace's Redis keys and socket.io channel are named after: a hash of
        its secret key (the same on every node, different per workspace)."""
        import hashlib

        from ..core.workspace_key import workspace_key

        if self._named is None:
            digest = hashlib.sha256(workspace_key(self.ws).encode()).hexdigest()
            self._named = f"unibox:{digest[:12]}:"
        return self._named

    def _client_manager(self) -> Any:
        """With --redis: socket.io's rooms span the nodes (an emit to a room reaches its
        members on every node: presence, typing, the chat's signals). Pokes are not sent
        that way (`ignore_queue=True` in _send_pokes): each node pokes its own sessions,
        woken by every commit (`node.listen_changes`), from pages it read itself."""
        if not self.redis_url:
            return _Manager()
        return _RedisManager(self.redis_url, channel=self._prefix() + "sio")

    def _signals_store(self) -> Signals:
        if self.redis is None:
            return Signals()
        return RedisSignals(self.redis, self._prefix())

    def rate_limiter(self, name: str) -> Any:
        """A sliding-window limiter for one endpoint (hub/rate_limit.py): in this node's
        memory, or with --redis shared by every node. Ask it with `await .check(...)`."""
        from .rate_limit import RateLimiter, RedisRateLimiter

        if self.redis is None:
            return RateLimiter()
        return RedisRateLimiter(self.redis, f"{self._prefix()}rate:{name}:")

    def _local_agents(self) -> set[str]:
        return {s.agent_id for s in self.sessions.values()}

    def _wake(self, seq: int | None) -> None:
        """A write committed somewhere (node.listen_changes): poke this node's agents. Its
        change number comes with it; else (after a reconnect) the counter is read, one read
        at a time (wakes meanwhile make it read once more)."""
        if self._closing:
            return
        if seq is not None:
            if seq > self.head:
                self.head = seq
                self._poke_soon()
            return
        self._wake_again = True
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.ensure_future(self._catch_up())

    async def _catch_up(self) -> None:
        while self._wake_again and not self._closing:
            self._wake_again = False
            head = await self._read(self.ws.change_seq)
            if head > self.head:
                self.head = head
                self._poke_soon()

    async def _channels_started(self, engine: Any) -> None:
        self.engine = engine
        from .fallback_smtp import Receivers  # mail sent to fallback addresses

        self.receivers = Receivers(self)
        await self.receivers.start()

    async def _channels_stopped(self) -> None:
        if self.receivers is not None:
            await self.receivers.stop()
            self.receivers = None
        self.engine = None

    # ---------------------------------------------------------------- life

    async def startup(self) -> None:
        self.head = await self._read(self.ws.change_seq)
        self.poked = self._heads_told = self.head
        self.poke_cursor = str(self.head)
        self._watcher = asyncio.create_task(self._watch())
        if self.ws.dialect == "postgresql":
            self._listener = asyncio.create_task(listen_changes(self.ws.url, self._wake))  # type: ignore[attr-defined]
        if self.redis_url and not self.sio.manager_initialized:
            self.sio.manager_initialized = True  # listen to the other nodes from the start
            self.sio.manager.initialize()
        for hook in self.on_startup:
            await hook()
        if self.run_engine:
            self._channels = asyncio.create_task(
                run_channels(self, self._channels_started, self._channels_stopped)
            )
        # Start-up's objects out of the collector's full walks, then each full collection's
        # survivors too (collector.py): a full walk stopped the hub for up to 180 ms under
        # load. (Before: one collection that walked them all in the middle of a fan-out had
        # one command reach the agents ~190 ms late; benchmarks/hub_nodes.py.)
        self.collector.start()
        trace.watch_gc()
        log.info("ready at change %d", self.head)

    async def shutdown(self) -> None:
        """SIGTERM: uvicorn stopped accepting; finish the commands in flight, then stop."""
        self._closing = True
        tasks = [t for t in (self._watcher, self._listener, self._channels) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.receivers is not None:
            await self.receivers.stop()  # no new mail is taken; what is being stored finishes
        for hook in self.on_shutdown:
            await hook()
        if self._applier is not None:
            await self._applier  # the pushes received before the stop are applied and answered
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self.writer.shutdown(wait=True))
        if self.engine is not None:
            await loop.run_in_executor(None, self.engine.stop)
        self.readers.shutdown(wait=False)
        await self.signals.close()
        if self.redis is not None:
            await self.redis.aclose()
        log.info("stopped at change %d", self.ws.change_seq())
        trace.flush()
        self.collector.stop()

    # ---------------------------------------------------------------- threads

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.readers, fn, *args)

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.writer, fn, *args)

    async def ingest(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Store what a customer sent over HTTP (a webhook, a form, the chat widget): `fn`
        runs on the writer thread, then agents are poked at once. The head is read there too,
        right after `fn`: a read of its own on a reader thread was one more hop through the
        event loop before the poke (tens of ms on a loaded machine: chat_bench.py --stages)."""

        def job() -> tuple[Any, int]:
            return fn(*args), self.ws.change_seq()

        result, head = await self._write(job)
        if head > self.head:
            self.head = head
            self._poke_soon()
        return result

    # ---------------------------------------------------------------- pokes and the watcher

    def _poke_soon(self) -> None:
        """Poke the agents about what just landed. One poke at a time: writes that land
        while one is being read and sent go out together with the next (under load the
        pokes carry many commands each, and their cost no longer grows with the commands)."""
        if trace.ON and self._asked_at is None:
            self._asked_at = trace.now()
        if self._poking:
            return  # the running poke looks at the head again when it is done
        self._poking = True
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._poke()))

    async def _poke(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.head > self.poked and not self._closing:
                wait = self._poked_at + self.poke_gap - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # what lands meanwhile goes with this poke
                    if self._closing:
                        return
                self._poked_at = started = loop.time()
                previous = self.poked
                if trace.ON:
                    asked, self._asked_at, began = self._asked_at, None, trace.now()
                try:
                    covered = await self._send_pokes()
                except Exception:
                    log.exception("poke")  # the watcher's next turn tries again
                    return
                # The next gap takes what this poke left of the budget: see POKE_BUDGET.
                took = loop.time() - started
                self.poke_gap = max(POKE_GAP, POKE_BUDGET - took)
                # The pages reach as far as the log did when they were read: writes whose
                # answers come later are in them already, no poke of their own is needed.
                self.poked = covered
                self.head = max(self.head, covered)
                if trace.ON:
                    trace.note(
                        "poke",
                        asked=asked,
                        start=began,
                        read=self._pages_read_at,
                        sent=trace.now(),
                        head=covered,
                        gap=round(self.poke_gap, 4),
                    )
                self._heads_moved(previous, self.poked)
        finally:
            self._poking = False

    def _heads_moved(self, previous: int, head: int) -> None:
        """Tell the change listeners (`on_head`: the chat pokes its visitors) that the log
        went from `previous` to `head`, in a task of their own, in order: awaited in the poke
        loop, their reads held up the agents' next poke (chat_bench.py --stages). Ranges that
        pile up while they run go together to their next turn. A range told already (a
        push group's, `_apply_pushes`) is not told again with the poke that carries it."""
        previous = max(previous, self._heads_told)
        if not self.on_head or head <= previous:
            return
        self._heads_told = head
        start = self._heads_pending[0] if self._heads_pending is not None else previous
        self._heads_pending = (start, head)
        if self._heads_task is None or self._heads_task.done():
            self._heads_task = asyncio.ensure_future(self._tell_heads())

    async def _tell_heads(self) -> None:
        while self._heads_pending is not None and not self._closing:
            previous, head = self._heads_pending
            self._heads_pending = None
            for listener in self.on_head:
                try:
                    await listener(previous, head)
                except Exception:
                    log.exception("a change listener failed")
            if trace.ON:
                trace.note("heads", t=trace.now(), head=head)

    async def _send_pokes(self) -> int:
        """Poke every agent, with the page of changes since the last poke as that agent may
        see it (protocol.py `poke`): a client whose cache is at the last poke's cursor
        applies it at once, without the pull round trip; any other pulls. Agents who may
        see the same inboxes and have nothing of their own in it share one page
        (changes.shared_pages): it is read, encoded and sent once for all of them (one emit
        to their rooms). A page too long to travel with a poke is left out (its agents
        pull). Returns the change number the pages reach."""
        agents = sorted({s.agent_id for s in self.sessions.values()})
        start = self.poke_cursor
        self.heads, pages = await self._read(self._poke_pages, start, agents)
        if trace.ON:
            self._pages_read_at = trace.now()
        head = self.heads.head
        self.poke_cursor = str(head)  # where every page read with them ends
        groups: dict[int, list[str]] = {}
        bodies: dict[int, ColumnarChanges] = {}
        for agent_id, page in pages.items():
            if page.more:
                continue
            groups.setdefault(id(page), []).append(agent_id)
            bodies[id(page)] = page
        covered = set()
        for key, members in groups.items():
            covered.update(members)
            data = {"head": head, "from": start, "page": bodies[key].to_json()}
            await self.sio.emit("poke", data, to=[f"agent:{a}" for a in members], ignore_queue=True)
        others = [sid for sid, s in self.sessions.items() if s.agent_id not in covered]
        if others:
            await self.sio.emit(
                "poke", {"head": max(head, self.head)}, to=others, ignore_queue=True
            )
        return head

    def _poke_pages(
        self, start: str, agent_ids: list[str]
    ) -> tuple[changes.Heads, dict[str, ColumnarChanges]]:
        """Each agent's page since `start` (at most POKE_ROWS rows: `more` says it is cut),
        all read in one snapshot (so they end at one cursor), agents of one access sharing
        one. And the table heads, which the pulls that follow reuse (changes.table_heads)."""
        with self.ws.read() as conn:
            heads = changes.table_heads(conn)
            pages = changes.shared_pages(
                conn,
                start,
                agent_ids,
                POKE_ROWS,
                heads=heads,
                rules=self._rules(conn, heads, agent_ids),
            )
        return heads, pages

    def _rules(
        self, conn: Any, heads: changes.Heads | None, agent_ids: Iterable[str]
    ) -> dict[str, access.Access]:
        """The agents' access rules (access.for_agent), kept while none of the tables they
        come from changed (`heads`, read in the same snapshot; read here when not given):
        asking them per agent per poke was two queries each, and per signal to fifty agents
        a hundred (chat_bench.py: a new chat's visitor presence). On reader threads: a lock
        keeps the held rules of one snapshot's key."""
        if heads is None:
            heads = changes.table_heads(conn)
        key = tuple(heads.tables[t] for t in (*sorted(access.TABLES), changes.TOMBSTONE))
        with self._rules_lock:
            if key != self._rules_key:
                self._rules_key, self._rules_held = key, {}
            held = self._rules_held
            wanted = set(agent_ids)
            for agent_id in wanted - held.keys():
                held[agent_id] = access.for_agent(conn, agent_id)
            return {a: held[a] for a in wanted}

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if trace.ON:
                trace.flush()
            try:
                head = await self._read(self.ws.change_seq)
                if head > self.head:
                    self.head = head
                # Also a head known but not poked yet (a poke that failed): within a turn.
                if self.head > self.poked:
                    self._poke_soon()
                await self._end_revoked()
                if await self.signals.tick(self._local_agents()):
                    await self._send_presence()  # agents of a node that died left
                if isinstance(self.signals, RedisSignals):  # routing asks core Presence
                    self.presence.elsewhere(self.signals.everyone)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watcher")

    async def _end_revoked(self) -> None:
        if not self.sessions:
            return
        ids = {s.token_id for s in self.sessions.values()}

        def valid() -> set[str]:
            with self.ws.read() as conn:
                return tokens.still_valid(conn, sorted(ids))

        alive = await self._read(valid)
        for sid, session in list(self.sessions.items()):
            # A session that connected during the read was not checked (and just signed in).
            if session.token_id in ids and session.token_id not in alive:
                log.info("disconnect @%s: token revoked or agent deactivated", session.handle)
                await self.sio.emit(
                    "bye",
                    {"reason": "your sign-in token was revoked or your account deactivated"},
                    to=sid,
                )
                await self.sio.disconnect(sid)

    # ---------------------------------------------------------------- handlers

    def _register(self) -> None:
        sio = self.sio
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        for name, handler in (
            ("hello", self.on_hello),
            ("pull", self.on_pull),
            ("push", self.on_push),
            ("rows", self.on_rows),
            ("backfill", self.on_backfill),
            ("starter", self.on_starter),
            ("attachment", self.on_attachment),
            ("signal", self.on_signal),
        ):
            sio.on(name, self._guarded(name, handler))

    def _guarded(
        self, name: str, handler: Callable[[Session, Any], Awaitable[Any]]
    ) -> Callable[[str, Any], Awaitable[Any]]:
        """Every call answers: a result, or `{"error": one line}`; the connection stays."""

        async def call(sid: str, data: Any = None) -> Any:
            session = self.sessions.get(sid)
            if session is None:
                return {"error": "not signed in"}
            if self._closing:
                return {"error": "the hub is shutting down; your app retries after it restarts"}
            try:
                return await handler(session, data)
            except (BadPayload, UniboxError, ValueError) as e:
                return {"error": str(e)}
            except Exception as e:
                log.exception("%s from @%s failed", name, session.handle)
                return {"error": f"the hub failed on {name} ({type(e).__name__}); see its log"}

        return call

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        peer = str((environ.get("asgi.scope") or {}).get("client", ("?",))[0])
        if not isinstance(auth, dict) or not auth.get("token"):
            raise socketio.exceptions.ConnectionRefusedError(
                "sign in first: `unibox login URL` with the token an admin gave you"
            )
        protocol = auth.get("protocol")
        if protocol != PROTOCOL:
            raise socketio.exceptions.ConnectionRefusedError(
                f"this hub speaks protocol {PROTOCOL} and your app {protocol}: "
                f"install the same unibox version (the hub runs {__version__})"
            )
        client_id = auth.get("client_id")
        if not isinstance(client_id, str) or not 8 <= len(client_id) <= 64:
            raise socketio.exceptions.ConnectionRefusedError("the app sent no valid client id")

        def check() -> tokens.SignedIn:
            with self.ws.read() as conn:
                return tokens.verify(conn, auth["token"])

        try:
            who = await self._read(check)
        except UniboxError as e:
            log.info("refused a connection from %s: %s", peer, e)
            raise socketio.exceptions.ConnectionRefusedError(str(e)) from None
        self.sessions[sid] = Session(who.agent_id, who.handle, who.token_id, client_id, peer)
        self.presence.connected(who.agent_id)
        await self.sio.enter_room(sid, "agents")
        await self.sio.enter_room(sid, f"agent:{who.agent_id}")
        log.info("connect @%s from %s", who.handle, peer)
        if await self.signals.join(who.agent_id, self._local_agents()):
            await self._send_presence()

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        log.info("disconnect @%s", session.handle)
        self.presence.disconnected(session.agent_id)
        local = self._local_agents()
        if session.agent_id not in local and await self.signals.leave(session.agent_id, local):
            await self._send_presence()

    async def on_hello(self, session: Session, _data: Any) -> dict[str, Any]:
        def agent() -> dict[str, Any]:
            with self.ws.read() as conn:
                row = conn.exec_driver_sql(
                    "SELECT id, handle, name, role FROM agent WHERE id = ?", (session.agent_id,)
                ).one()
                where, params = access.for_agent(conn, session.agent_id).where("c.inbox_id")
                total = conn.exec_driver_sql(
                    f"SELECT count(*) FROM conversation c WHERE {where}", params
                ).scalar_one()
            return {
                "id": row[0],
                "handle": row[1],
                "name": row[2],
                "role": row[3],
                "conversations": int(total),
            }

        return {
            "agent": await self._read(agent),
            "head": self.head,
            "protocol": PROTOCOL,
            "version": __version__,
            "presence": await self.signals.presence(),
            **{k: v for hook in self.on_hello_hooks for k, v in (await hook(session)).items()},
        }

    async def on_pull(self, session: Session, data: Any) -> dict[str, Any]:
        cursor = need(data, "cursor", (str, int), optional=True) or "0"
        limit = need(data, "limit", int, optional=True) or 1000
        limit = max(1, min(limit, MAX_PULL))
        # Columnar pages: each table's columns once, rows as lists (41% less JSON, a third
        # of the encoding time of one dict per row: the cost of a first sync).
        heads = self.heads
        page = await self._read(
            lambda: changes.changes_since(
                self.ws, cursor, session.agent_id, limit, columnar=True, heads=heads
            )
        )
        return page.to_json()

    async def on_push(self, session: Session, data: Any) -> dict[str, Any]:
        """Queue the push for the writer's next group (`_apply_pushes`); answer when the
        group's transaction has committed."""
        arrived = trace.now() if trace.ON else 0.0
        batch = mutations.check(need(data, "mutations", list))
        done: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._pushes.append((mutations.Push(session.client_id, session.agent_id, batch), done))
        if not self._applying:
            self._applying = True
            self._applier = asyncio.ensure_future(self._apply_pushes())
        answers = await done
        if trace.ON:
            seqs = [a.get("seq") or 0 for a in answers if isinstance(a, dict)]
            trace.note("push", i=arrived, a=trace.now(), n=len(batch), seq=max(seqs, default=0))
        return {"answers": answers}

    async def _apply_pushes(self) -> None:
        """Group commit: the pushes that arrived while the writer was busy go to it together,
        in arrival order, as ONE transaction (mutations.apply_pushes), up to GROUP_MUTATIONS
        mutations. With 50 agents pushing 20 at a time, one push per transaction cost the hub
        0.64-0.71 ms of CPU per command and applied 470-720 a second on a loaded 2-core box;
        grouped, 0.26-0.28 ms and 1,270-1,660 a second (benchmarks/hub_push.py): the
        writer's fixed cost per transaction and the pokes, whose number does not grow with
        the commands they carry, are spread over more commands."""
        try:
            while self._pushes:
                group: list[tuple[mutations.Push, asyncio.Future[Any]]] = []
                size = 0
                while self._pushes and (not group or size < GROUP_MUTATIONS):
                    item = self._pushes.popleft()
                    group.append(item)
                    size += len(item[0].mutations)
                try:
                    results = await self._write(
                        mutations.apply_pushes, self.ws, [push for push, _ in group]
                    )
                except Exception as e:  # the database failed: nothing of the group is stored
                    for _, done in group:
                        if not done.done():
                            done.set_exception(e)
                    continue
                top = 0
                for (_, done), result in zip(group, results, strict=True):
                    if isinstance(result, list):
                        top = max([top, *(a.get("seq") or 0 for a in result)])
                    if done.done():  # the caller went away (disconnected, shut down)
                        continue
                    if isinstance(result, Exception):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
                if top > self.head:
                    self.head = top
                    self._poke_soon()
                # What agents sent visitors (a reply, a close, their name on an assignment)
                # goes to them now, not with the agents' next poke: POKE_GAP spreads the
                # agents' pages, which the visitors' pokes do not carry, and waiting for it
                # was a third of a reply's way to the widget (chat_bench.py --stages).
                # (Everything up to `top` is committed: one writer here, and on PostgreSQL
                # the change counter's row orders the nodes' commits.)
                if top:
                    self._heads_moved(self._heads_told, top)
        finally:
            self._applying = False

    async def on_attachment(self, session: Session, data: Any) -> dict[str, Any]:
        """An attachment's bytes (not in the change log: fetched when an agent opens it)."""
        from ..core import queries

        attachment_id = need(data, "id", str)

        def read() -> tuple[str, bytes]:
            with self.ws.read() as conn:
                rule = access.for_agent(conn, session.agent_id)
            return queries.attachment_bytes(self.ws, attachment_id, access=rule)

        filename, content = await self._read(read)
        # Base64 in JSON: the hub's packets are JSON only (_JsonPacket skips socket.io's
        # search for bytes in every reply, the cost of serving pulls).
        return {"filename": filename, "base64": base64.b64encode(content).decode("ascii")}

    async def on_starter(self, session: Session, _data: Any) -> dict[str, Any]:
        """A new client's first screenful (changes.starter), before its full pull."""
        rows = await self._read(changes.starter, self.ws, session.agent_id)
        return {"changes": rows}

    async def on_backfill(self, session: Session, data: Any) -> dict[str, Any]:
        """The rows of one inbox from the start, as far as the agent may see it (an agent who
        gained the inbox lacks its rows that did not change since their cursor)."""
        inbox_id = need(data, "inbox_id", str)
        cursor = need(data, "cursor", (str, int), optional=True) or "0"
        limit = max(1, min(need(data, "limit", int, optional=True) or 1000, MAX_PULL))
        page = await self._read(
            lambda: changes.changes_since(
                self.ws, cursor, session.agent_id, limit, columnar=True, only_inbox=inbox_id
            )
        )
        return page.to_json()

    async def on_rows(self, session: Session, data: Any) -> dict[str, Any]:
        wanted = need(data, "wanted", dict)
        total = 0
        for table, keys in wanted.items():
            if table not in changes.BY_NAME or not isinstance(keys, list):
                raise BadPayload(f"cannot look up rows of {str(table)[:40]!r}")
            total += len(keys)
        if total > MAX_WANTED:
            raise BadPayload(f"at most {MAX_WANTED} rows per lookup")
        found = await self._read(changes.rows_now, self.ws, session.agent_id, wanted)
        return {"changes": found}

    # ---------------------------------------------------------------- signals

    async def on_signal(self, session: Session, data: Any) -> dict[str, Any]:
        async with session.signal_order:
            return await self._on_signal(session, data)

    async def _on_signal(self, session: Session, data: Any) -> dict[str, Any]:
        kind = need(data, "kind", str)
        if kind == "presence":
            status = need(data, "status", str)
            if status not in PRESENCE:
                raise BadPayload(f"presence is one of {', '.join(PRESENCE)}")
            await self.signals.set_status(session.agent_id, status)
            await self._send_presence()
            return {"ok": True}
        if kind not in ("viewing", "typing", "idle", "left"):
            raise BadPayload("a signal is presence, viewing, typing, idle or left")
        conversation_id = need(data, "conversation_id", str)
        inbox = await self._read(self._inbox_of, conversation_id, session.agent_id)
        if inbox is None:
            raise BadPayload(f"no conversation {conversation_id[:40]} (not found or no access)")
        private = kind == "typing" and isinstance(data, dict) and data.get("private") is True
        await self.signals.mark(
            conversation_id, session.agent_id, "commenting" if private else kind
        )
        await self._send_activity(conversation_id, inbox)
        for hook in self.on_signal_hooks:
            await hook(session, kind, conversation_id, inbox, data)
        return {"ok": True}

    def _inbox_of(self, conversation_id: str, agent_id: str) -> str | None:
        """The conversation's inbox when `agent_id` may see it."""
        with self.ws.read() as conn:
            row = conn.exec_driver_sql(
                "SELECT inbox_id FROM conversation WHERE id = ?", (conversation_id,)
            ).first()
            if row is None or not access.for_agent(conn, agent_id).can_see(row[0]):
                return None
            return str(row[0])

    def _may_see(self, agent_ids: set[str], inbox_id: str) -> set[str]:
        return self._watchers(agent_ids, [inbox_id])[inbox_id]

    def _watchers(self, agent_ids: Iterable[str], inbox_ids: Iterable[str]) -> dict[str, set[str]]:
        """Which of the agents may see each inbox (one snapshot, the held rules)."""
        with self.ws.read() as conn:
            rules = self._rules(conn, None, agent_ids)
        return {i: {a for a, rule in rules.items() if rule.can_see(i)} for i in inbox_ids}

    async def _send_presence(self) -> None:
        await self.sio.emit("signals", {"presence": await self.signals.presence()}, room="agents")

    async def _send_activity(self, conversation_id: str, inbox_id: str) -> None:
        """Who views or types in a conversation, to the agents who may see it (no one else
        learns that it exists)."""
        live = await self.signals.live(conversation_id)
        payload = {"activity": {"conversation_id": conversation_id, "agents": live}}
        await self.tell_agents(inbox_id, payload)

    async def tell_agents(self, inbox_id: str, signals: dict[str, Any]) -> None:
        """A `signals` event to the connected agents who may see the inbox (no one else
        learns that what it names exists), sent within SIGNAL_GAP together with the others
        told meanwhile (`_tell`)."""
        told = self._told.setdefault(inbox_id, {})
        told[_signal_key(signals, len(told))] = signals  # a newer state replaces the older
        if not self._telling:
            self._telling = True
            self._teller = asyncio.ensure_future(self._tell())

    async def _tell(self) -> None:
        """Send what was told since the last turn: to each set of agents who may see the
        same inboxes, ONE `signals` event (`{"batch": [...]}` when it holds several), the
        newest state of each visitor's or conversation's signal only. Told one by one, a
        thousand chat visitors opening chats cost every agent's app a frame each, and the
        hub a read and a fan-out each (benchmarks/chat_bench.py)."""
        loop = asyncio.get_running_loop()
        try:
            while self._told and not self._closing:
                wait = self._told_at + SIGNAL_GAP - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # what is told meanwhile goes with this turn
                self._told_at = loop.time()
                told, self._told = self._told, {}
                # The agents connected to any node (RedisSignals), or to this one.
                if self.redis_url:
                    present = set(await self.signals.presence())
                else:
                    present = self._local_agents()
                if not present:
                    continue
                try:
                    watchers = await self._read(self._watchers, present, list(told))
                except Exception:
                    log.exception("signals")  # ephemeral: the next ones go out
                    continue
                audiences: dict[tuple[str, ...], list[str]] = {}
                for agent_id in sorted(present):
                    inboxes = tuple(i for i in told if agent_id in watchers[i])
                    if inboxes:  # (never `to=[]`: that would be everyone)
                        audiences.setdefault(inboxes, []).append(agent_id)
                for inboxes, agents in audiences.items():
                    batch = [signal for i in inboxes for signal in told[i].values()]
                    data = batch[0] if len(batch) == 1 else {"batch": batch}
                    # One emit to all their rooms: the packet is encoded once.
                    await self.sio.emit("signals", data, to=[f"agent:{a}" for a in agents])
        finally:
            self._telling = False


def _signal_key(signals: dict[str, Any], n: int) -> tuple[str, str]:
    """What a newer signal replaces: a visitor's (or a conversation's activity) state as a
    whole; anything else is kept."""
    for kind in ("visitor", "activity"):
        found = signals.get(kind)
        if len(signals) == 1 and isinstance(found, dict) and found.get("conversation_id"):
            return kind, str(found["conversation_id"])
    return "other", str(n)


def serve(
    ws: Workspace,
    host: str,
    port: int,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    run_engine: bool = True,
    public_url: str | None = None,
    webapp: Any = None,
    state: NodeState | None = None,
    redis_url: str | None = None,
) -> None:
    """Run the hub until SIGTERM or Ctrl-C (uvicorn stops accepting, then `shutdown`)."""
    import uvicorn

    hub = Hub(
        ws,
        run_engine=run_engine,
        public_url=public_url,
        webapp=webapp,
        state=state,
        redis_url=redis_url,
    )
    config = uvicorn.Config(
        hub.app,
        host=host,
        port=port,
        ws="websockets-sansio",
        # No permessage-deflate: every browser offers it (chat visitors, the web app), and a
        # compressor per connection held ~40 KB each: with 1,000 visitors the hub's RSS was
        # 181 MB with it and 142 MB without, for messages of a few hundred bytes
        # (benchmarks/chat_bench.py). Agents' apps never asked for it.
        ws_per_message_deflate=False,
        loop="auto",  # uvloop, a dependency (pyproject.toml), where it is installed
        lifespan="on",
        log_level="warning",
        access_log=False,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        timeout_graceful_shutdown=10,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again against
    # the handlers it found: these make that a normal exit (status 0) after a clean stop.
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run()
