"""Meta's webhooks on the hub: `/webhooks/messenger/CH` and `/webhooks/whatsapp/CH`.

GET answers Meta's verification handshake with the channel's verify token. POST is checked
before anything else: the body is read raw (at most 3 MB), its `X-Hub-Signature-256` must be
the HMAC of exactly those bytes with the channel's app secret, else 403 and nothing is
kept. A signed body is answered 200 at once and queued; one worker task turns what queued
up meanwhile into events, fetches what the network must give (Messenger profile names,
media) on a thread, and stores the lot in one write on the hub's writer thread
(`hub.ingest`), which pokes the agents. Meta retries what is not answered 200 (WhatsApp for
up to 7 days) and sends duplicates anyway: every event is stored once by its provider id,
so a retry or a replay changes nothing.

A disabled channel answers 503 so that Meta keeps the events and retries them later,
rather than losing them; an unknown one 404.

A body is answered 200 only once it is in the webhook spool (hub/meta_spool.py), an
append-only file of this hub node's (next to a workspace file, else in the node's
--state-dir: hub/node.py): a hub that stops after answering and before storing stores it
when it starts again. With several nodes each spools what it answered and stores it into
the shared workspace itself; a node that dies keeps its spool until it starts again on the
same --state-dir (storing is idempotent, so nothing is stored twice). The request's own work is only the signature, the JSON and
that append; turning bodies into events happens off the event loop, on a thread, so a large
batch being parsed does not hold up the answers. A hub told to stop (SIGTERM) stores what it
accepted before it exits.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..backends import meta
from ..backends.base import in_thread
from ..core import queries as q
from ..core.errors import UniboxError
from .meta_spool import Spool

if TYPE_CHECKING:
    from .server import Hub

log = logging.getLogger("unibox.hub.meta")
KINDS = ("messenger", "whatsapp")
RELOAD_SECONDS = 2.0  # how stale the channel list (settings, enabled) may be
MAX_BATCH = 500  # webhook bodies stored in one write
BATCH_WAIT = 0.02  # seconds a batch waits for more bodies before it is stored
DRAIN_SECONDS = 10.0  # at shutdown, how long to wait for the accepted bodies to be stored


class _Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text


class MetaWebhooks:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.rows: dict[str, q.ChannelRow] = {}
        self.keys: dict[str, str] = {}  # id -> its settings as JSON (rebuilt on change)
        self.loaded_at = 0.0
        self.adapters: dict[str, tuple[str, Any]] = {}  # id -> (settings key, adapter)
        # (adapter, parsed body, the spool offset after it)
        self.queue: asyncio.Queue[tuple[Any, Any, int]] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.stored = meta.Stored()
        self.spool: Spool | None = None

    # ------------------------------------------------------------------ life

    async def startup(self) -> None:
        """Open the spool and queue what an earlier run accepted and did not store."""
        self.spool = Spool(self.hub.state.path("webhooks"))  # this node's (hub/node.py)
        again = 0
        for record in self.spool.pending():
            try:
                adapter = await self.adapter(record.kind, record.channel_id, recovering=True)
                payload = json.loads(record.raw)
            except (_Refused, ValueError) as error:
                log.warning("a spooled webhook for channel %s is dropped: %s",
                            record.channel_id, getattr(error, "text", error))  # fmt: skip
                continue
            self._queue().put_nowait((adapter, payload, record.end))
            again += 1
        if again:
            log.info("storing %d webhook(s) accepted before the hub stopped", again)
        else:  # nothing to store (or only bodies of channels removed since): start empty
            self.spool.stored(self.spool.end)

    async def shutdown(self) -> None:
        """Store what was accepted (uvicorn takes no new requests now); what does not make
        it in time stays in the spool for the next start."""
        if self.queue is not None and self.worker is not None and not self.worker.done():
            try:
                await asyncio.wait_for(self.queue.join(), DRAIN_SECONDS)
            except TimeoutError:
                log.warning("%d webhook(s) left in the spool", self.queue.qsize())
            self.worker.cancel()
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    # ------------------------------------------------------------------ channels

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.hub.readers, fn)

    async def adapter(self, kind: str, channel_id: str, *, recovering: bool = False) -> Any:
        """The channel's adapter; `recovering`: for a body already answered 200 (from the
        spool), so a channel disabled since is still stored to."""
        now = time.monotonic()
        if channel_id not in self.rows or now - self.loaded_at > RELOAD_SECONDS:
            rows = await self._run(lambda: q.channels(self.hub.ws))
            self.rows = {r.id: r for r in rows}
            self.keys = {r.id: json.dumps(r.settings, sort_keys=True) for r in rows}
            self.loaded_at = now
        row = self.rows.get(channel_id)
        if row is None or row.kind != kind:
            raise _Refused(404, "no such channel")
        if not row.enabled and not recovering:
            raise _Refused(503, "channel disabled")
        key = self.keys[channel_id]
        cached = self.adapters.get(channel_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        from ..backends import registry

        try:
            built = await self._run(lambda: registry.adapter_class(kind).from_channel(row))  # type: ignore[call-arg]
        except UniboxError as error:  # a secret that cannot be read
            log.warning("%s channel %s cannot take webhooks: %s", kind, row.name, error)
            raise _Refused(503, "channel not configured") from error
        self.adapters[channel_id] = (key, built)
        return built

    # ------------------------------------------------------------------ handlers

    async def verify(self, kind: str, request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        channel_id = request.path_params["channel"]
        try:
            adapter = await self.adapter(kind, channel_id)
        except _Refused as refused:
            return PlainTextResponse(refused.text, status_code=refused.status)
        challenge = meta.handshake(request.query_params, adapter.verify_token)
        if challenge is None:
            return PlainTextResponse("Forbidden", status_code=403)
        return PlainTextResponse(challenge)

    async def receive(self, kind: str, scope: Any, receive: Any, send: Any) -> None:
        """A webhook POST, as a bare ASGI app: this is the path Meta times, so it builds no
        Request or Response objects (they cost more than the rest of the answer)."""
        status, text = await self._accept(kind, scope, receive)
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _accept(self, kind: str, scope: Any, receive: Any) -> tuple[int, str]:
        channel_id = scope["path_params"]["channel"]
        headers = dict(scope["headers"])
        try:
            adapter = await self.adapter(kind, channel_id)
            raw = await _body(headers.get(b"content-length"), receive)
        except _Refused as refused:
            return refused.status, refused.text
        signature = headers.get(b"x-hub-signature-256", b"").decode("latin-1")
        if not meta.signature_ok(adapter.app_secret, raw, signature):
            return 403, "Forbidden"
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400, "not JSON"
        if self.spool is None:  # the startup hook has not run (an app built for a test)
            await self.startup()
        assert self.spool is not None
        try:
            end = self.spool.append(kind, channel_id, raw)
        except OSError as error:  # not kept: Meta must send it again
            log.error("cannot keep a webhook: %s", error)
            return 503, "cannot keep it now"
        self._queue().put_nowait((adapter, payload, end))
        return 200, "EVENT_RECEIVED"

    # ------------------------------------------------------------------ processing

    def _queue(self) -> asyncio.Queue[tuple[Any, Any, int]]:
        if self.queue is None:
            self.queue = asyncio.Queue()
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())
        return self.queue

    async def _work(self) -> None:
        assert self.queue is not None and self.spool is not None
        while True:
            batch = [await self.queue.get()]
            if self.queue.qsize() < MAX_BATCH:
                # Let a few more arrive: each write has a fixed cost (a transaction, a
                # thread, the chatflow lookup, a poke), and nobody waits on it (the 200
                # went out already).
                await asyncio.sleep(BATCH_WAIT)
            while not self.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self.queue.get_nowait())
            try:
                await self._process(batch)
                self.spool.stored(batch[-1][2])
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the webhooks that follow
                log.exception("storing %d webhook(s)", len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _process(self, batch: list[tuple[Any, Any, int]]) -> None:
        by_adapter: dict[int, tuple[Any, list[Any]]] = {}
        for adapter, payload, _end in batch:
            by_adapter.setdefault(id(adapter), (adapter, []))[1].append(payload)
        ws = self.hub.ws
        for adapter, payloads in by_adapter.values():
            events, links = await in_thread(
                functools.partial(_prepare, ws, adapter, payloads), "webhook"
            )
            if not len(events):
                continue
            stored = await self.hub.ingest(meta.store, ws, events, links)
            for field in ("messages", "duplicates", "echoes", "statuses", "rejected"):
                setattr(self.stored, field, getattr(self.stored, field) + getattr(stored, field))


def _prepare(
    ws: Any, adapter: Any, payloads: list[Any]
) -> tuple[meta.Events, list[tuple[str, str, str, str]]]:
    """On a thread, off the event loop: the bodies turned into events (no network), then
    what the network must add before they are stored."""
    events = meta.Events()
    for payload in payloads:
        try:
            events.extend(adapter.parse(payload))
        except UniboxError as error:
            log.warning("%s: webhook ignored: %s", adapter.name, error)
    if not len(events):
        return events, []
    return events, _enrich(ws, adapter, events)


def _enrich(ws: Any, adapter: Any, events: meta.Events) -> list[tuple[str, str, str, str]]:
    """What the network must add before the events are stored."""
    if adapter.kind == "messenger":
        senders = sorted({inc.identity_value for inc in events.incoming})
        known = q.known_identities(ws, "messenger", senders)
        adapter.enrich(events, known.__contains__)
        return []
    return list(adapter.enrich(events))


async def _body(declared: bytes | None, receive: Any) -> bytes:
    """The raw body, refused over Meta's 3 MB before it is all read."""
    if declared and declared.isdigit() and int(declared) > meta.MAX_WEBHOOK_BYTES:
        raise _Refused(413, "too large")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise _Refused(400, "incomplete body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > meta.MAX_WEBHOOK_BYTES:
            raise _Refused(413, "too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def routes(hub: Hub) -> list[Any]:
    from starlette.routing import Route

    hooks = MetaWebhooks(hub)
    hub.meta_webhooks = hooks  # type: ignore[attr-defined]  # for tests and benchmarks
    hub.on_startup.append(hooks.startup)
    hub.on_shutdown.append(hooks.shutdown)
    found = []
    for kind in KINDS:
        # Plain functions: Starlette takes anything else (a partial) for an ASGI app.
        def verify(request: Any, kind: str = kind) -> Any:
            return hooks.verify(kind, request)

        path = f"/webhooks/{kind}/{{channel:str}}"
        found.append(Route(path, _async(verify), methods=["GET"]))
        found.append(Route(path, _Asgi(hooks, kind), methods=["POST"]))
    return found


class _Asgi:
    """An object, so Starlette calls it as an ASGI app: (scope, receive, send)."""

    def __init__(self, hooks: MetaWebhooks, kind: str) -> None:
        self.hooks = hooks
        self.kind = kind

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.hooks.receive(self.kind, scope, receive, send)


def _async(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def endpoint(request: Any) -> Any:
        return await fn(request)

    return endpoint
