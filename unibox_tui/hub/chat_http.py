"""The website chat on the hub: the widget's files and pages over HTTP, and the "/visitor"
socket.io namespace the widget talks to.

HTTP (no third party: the socket.io client is the vendored npm file in static/):
- `/widget/CH.js`: the loader a site pastes in. It adds an iframe from the hub's origin,
  small while closed (the launcher) and panel-sized when open, and hands the iframe the
  host page's address, title and referrer (and a signed-in user's id and identity hash).
- `/widget/CH/frame`: the widget itself (static/widget.js, widget.css), served with
  `Content-Security-Policy: frame-ancestors` = the channel's allowed origins.
- `/widget/CH/preview`: a page on the hub that embeds the widget, for the team to try.

The visitor namespace. A visitor is whoever holds a visitor token the hub signed
(backends/chat.py), or a verified user; the socket session holds that identity, and every
read and write starts from it, never from an id the widget sends: a conversation id the
widget names is used only when it is the visitor's own (else the call is refused).

How messages move (the database is the truth, socket events are only pokes, as for agents):
- visitor -> agents: `send` checks the message, rate-limits the visitor, and stores it with
  `hub.ingest` (external id = the widget's message id, so a resend after a reconnect is
  stored once); agents' caches are poked and pull it.
- agents -> visitor: an agent's reply is stored by the hub (a mutation); as its group
  commits (and with every poke of the agents, for what else changed) `on_head` finds the
  connected visitors whose conversations changed since it last looked and pokes them. A
  poke to a few visitors brings each one's view since the cursor they were last sent, which
  the widget takes when its cursor is that far; else (or an empty poke) it pulls `sync`
  since its cursor. The same `sync` runs on every (re)connect, so nothing sent while the
  widget was away is missed. The chat adapter's
  `deliver` marks the reply sent (stored = reachable); the widget's `read` marks it read.
- a visitor who left: the hub keeps which chat identities have a widget open (`presence`,
  the Workspace's `visitors`); a reply to a chat whose visitor has been gone for the
  channel's `left_after` goes by e-mail to the address they left (commands/chat.py), and
  the widget shows it too when they come back.
- typing: the visitor's `typing` reaches agents as a `signals` event {"visitor": ...}
  (with whether they are still on the page, and which page); an agent's typing signal
  reaches the visitor as `typing` (hub.on_signal_hooks).

Chatflows (bots): the chatflow is picked as a visitor message is stored and the bot's turn
runs right after it, in the same job on the writer (`store_batch`, hub/chat_bots.py).
A chatflow that targets the visitor's page shows its opening in the widget before they
write (`hello` answers it); nothing is stored until they do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import socketio

from ..backends import chat as chat_backend
from ..core import chat as chat_q
from ..core import clock
from ..core.errors import UniboxError
from ..core.presence import Presence
from . import trace
from .chat_bots import targeting
from .protocol import BadPayload

if TYPE_CHECKING:
    from ..core.chatflows import Context
    from ..core.commands import Incoming, IngestResult
    from .server import Hub, Session

log = logging.getLogger("unibox.hub.chat")
NAMESPACE = "/visitor"
BURST = 8  # messages a visitor may send at once ...
REFILL_SECONDS = 1.5  # ... then one per this many seconds
SWEEP_SECONDS = 10.0  # buckets of visitors who left are forgotten at most this often
TYPING_EVERY = 2.0  # seconds between visitor typing signals passed on to agents
RATE_LIMITED = "You are sending messages too fast. Wait a few seconds, then send again."
STATIC_FILES = {
    "socket.io.min.js": "application/javascript",
    "widget.js": "application/javascript",
    "widget.css": "text/css",
    "loader.js": "application/javascript",
}


MAX_BATCH = 200  # visitor messages stored in one write transaction at most
# A poke brings the visitor's view (what a `sync` from their cursor would answer) when at
# most this many visitors are poked at once (a reply, a close: one or a few); past that
# (an agent's new name reaching every chat of theirs) each syncs by itself.
POKE_VIEWS = 32


def store_batch(ws: Any, items: list[tuple[Incoming, Context]]) -> list[IngestResult | Exception]:
    """On the writer thread: the chatflow each visitor message falls under (its targeting
    `Context`; chat_bots.choose_flows), the messages in one transaction (ingest_many), then
    each one's bot turn (hub/chat_bots.py). A batch that fails is stored again one message at
    a time, so one visitor's bad message fails only their own send."""
    from ..core.commands.incoming import ingest_many
    from .chat_bots import after_visitor_message, bots_running, choose_flows

    flows = choose_flows(ws, items)
    # A chatflow decides who gets the conversation, not ingest (chat_bots.py).
    incs = [
        dataclasses.replace(inc, route=False) if flow is not None else inc
        for (inc, _), flow in zip(items, flows, strict=True)
    ]
    try:
        results = ingest_many(ws, incs)
    except Exception as e:
        if len(items) == 1:
            return [e]
        return [out for item in items for out in store_batch(ws, [item])]
    # Which conversations have a bot running: one read for the batch, not one per message;
    # a conversation with several messages in the batch is looked at before each (the bot's
    # turn on one may start or end its session).
    once = Counter(r.conversation_id for r in results if r.conversation_id)
    running = bots_running(
        ws,
        sorted(
            r.conversation_id
            for r in results
            if once[r.conversation_id] == 1 and not r.duplicate and not r.created_conversation
        ),
    )
    for inc, flow_id, result in zip(incs, flows, results, strict=True):
        single = once[result.conversation_id] == 1
        after_visitor_message(ws, inc, result, flow_id, running if single else None)
    return list(results)


def _timed_store(
    ws: Any, items: list[tuple[Incoming, Context]], stamps: dict[str, Any]
) -> list[IngestResult | Exception]:
    """store_batch, noting when the writer started and committed it (hub/trace.py)."""
    stamps["w0"] = trace.now()
    try:
        return store_batch(ws, items)
    finally:
        stamps["w1"] = trace.now()


class Batcher:
    """Visitors' messages reach the writer in batches: while one batch is being stored, the
    messages that arrive wait and go together in the next (no delay when the writer is idle;
    under load, one transaction and one poke of the agents for many messages instead of one
    each: benchmarks/chat_bench.py)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.waiting: list[tuple[Incoming, Context, asyncio.Future[Any], dict[str, Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def store(
        self, inc: Incoming, context: Context, stamps: dict[str, Any] | None = None
    ) -> IngestResult:
        """Store one message with the next batch. `stamps` (hub/trace.py) gets the batch's
        writer start and commit times and the head after it."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((inc, context, done, stamps if stamps is not None else {}))
        if self.task is None:
            self.task = asyncio.ensure_future(self._drain())
        result = await done
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
                items = [(inc, context) for inc, context, _, _ in batch]
                stamps: dict[str, Any] = {}
                try:
                    if trace.ON:
                        outcomes = await self.hub.ingest(_timed_store, self.hub.ws, items, stamps)
                    else:
                        outcomes = await self.hub.ingest(store_batch, self.hub.ws, items)
                except Exception as e:  # the writer itself failed: every send hears it
                    outcomes = [e] * len(batch)
                if trace.ON:
                    stamps.update(k=trace.now(), seq=self.hub.head, n=len(batch))
                for (_, _, done, theirs), outcome in zip(batch, outcomes, strict=True):
                    theirs.update(stamps)
                    if not done.done():
                        done.set_result(outcome)
        finally:
            self.task = None


@dataclass
class Visitor:
    """One widget connection."""

    sid: str
    channel: chat_q.ChatChannelRow
    identity: str  # the contact identity (kind chat)
    token: str
    verified: str | None  # the signed-in user's id, when the identity hash proved it
    name: str
    email: str | None
    context: dict[str, Any]
    contact_id: str | None = None
    conversation_id: str | None = None  # their latest conversation, as last seen
    typing_sent: float = 0.0
    acked: int = 0  # the hub's head when their last send was answered (widget.js syncs then)
    # The newest cursor of a view they were sent (a sync's, a send's answer, a poke's): the
    # view a poke brings starts there; the widget takes it when its own cursor is as far.
    cursor: int = 0


@dataclass
class Bucket:
    tokens: float = BURST
    at: float = field(default_factory=time.monotonic)

    def full(self) -> bool:
        return self.tokens + (time.monotonic() - self.at) / REFILL_SECONDS >= BURST

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.at) / REFILL_SECONDS)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ChatHub:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.visitors: dict[str, Visitor] = {}
        self.buckets: dict[str, Bucket] = {}  # identity -> its send allowance
        self.open: Counter[str] = Counter()  # identity -> widgets connected with it
        self.swept = time.monotonic()  # when buckets were last looked through
        self.batcher = Batcher(hub)
        self._key: str | None = None
        # Which visitors have a widget open, by chat identity: a reply to one who left goes
        # by e-mail (commands/chat.py left_visitor_email reads it on the writer, tx.visitors).
        self.presence = hub.ws.visitors = Presence()
        sio = hub.sio
        sio.on("connect", self.on_connect, namespace=NAMESPACE)
        sio.on("disconnect", self.on_disconnect, namespace=NAMESPACE)
        for name, handler in (
            ("hello", self.on_hello),
            ("sync", self.on_sync),
            ("send", self.on_send),
            ("typing", self.on_typing),
            ("read", self.on_read),
            ("email", self.on_email),
        ):
            sio.on(name, self._guarded(name, handler), namespace=NAMESPACE)
        hub.on_head.append(self.on_head)
        hub.on_signal_hooks.append(self.on_agent_signal)
        hub.on_hello_hooks.append(self.on_agent_hello)
        _preload()

    async def workspace_secret(self) -> str:
        if self._key is None:
            from ..core.workspace_key import workspace_key

            # On the writer thread: the key is made (written) on first use.
            self._key = await self.hub._write(workspace_key, self.hub.ws)
        return self._key

    def _guarded(
        self, name: str, handler: Callable[[Visitor, Any], Awaitable[Any]]
    ) -> Callable[[str, Any], Awaitable[Any]]:
        async def call(sid: str, data: Any = None) -> Any:
            visitor = self.visitors.get(sid)
            if visitor is None:
                return {"error": "not connected"}
            try:
                return await handler(visitor, data)
            except (BadPayload, UniboxError, ValueError) as e:
                return {"error": str(e)}
            except Exception as e:
                log.exception("visitor %s failed", name)
                return {"error": f"the chat failed ({type(e).__name__}); try again"}

        return call

    # ---------------------------------------------------------------- connect

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        refuse = socketio.exceptions.ConnectionRefusedError
        if not isinstance(auth, dict) or not isinstance(auth.get("channel"), str):
            raise refuse("this chat is not available")
        channel = await self.hub._read(chat_q.chat_channel, self.hub.ws, auth["channel"][:64])
        if channel is None or not channel.enabled:
            raise refuse("this chat is not available")
        secret = await self.workspace_secret()
        key = chat_backend.visitor_key(secret)
        visitor_id = chat_backend.visitor_from_token(key, channel.id, auth.get("token"))
        token = auth.get("token") if visitor_id else None
        if visitor_id is None:
            visitor_id, token = chat_backend.new_visitor(key, channel.id)
        user = auth.get("user")
        verified = email = None
        name = ""
        if isinstance(user, dict) and (user.get("id") or user.get("email")):
            identifier = user.get("id") or user.get("email")
            try:
                verified = chat_backend.verify_identity(
                    chat_backend.channel_secret(secret, channel.id), identifier, user.get("hash")
                )
            except UniboxError as e:
                log.info("refused a visitor on %s: %s", channel.name, e)
                raise refuse(str(e)) from None
            identity = chat_backend.identity_value(channel.id, user=verified)
            if isinstance(user.get("name"), str):
                name = " ".join(user["name"].split())[:120]
            given = user.get("email") if isinstance(user.get("email"), str) else None
            email = given or (verified if "@" in verified else None)
        else:
            identity = chat_backend.identity_value(channel.id, visitor_id=visitor_id)
        context = chat_backend.clean_context(auth.get("context"))
        agent = _header(environ, "user-agent")
        if agent:
            context["browser"] = _browser(agent)
        visitor = Visitor(sid, channel, identity, str(token), verified, name, email, context)
        await self._resolve(visitor)
        self.visitors[sid] = visitor
        self.presence.connected(identity)
        self.open[identity] += 1
        await self.hub.sio.enter_room(sid, f"id:{identity}", namespace=NAMESPACE)
        await self._presence(visitor, online=True)

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        visitor = self.visitors.pop(sid, None)
        if visitor is None:
            return
        self.presence.disconnected(visitor.identity)
        self.open[visitor.identity] -= 1
        if self.open[visitor.identity] <= 0:
            del self.open[visitor.identity]
            await self._presence(visitor, online=False)
        # A reconnect must not refill a flooder's allowance: only full ones are forgotten,
        # the others when a later sweep finds them full (each disconnect looking at every
        # bucket cost a thousand visitors leaving a million looks: ~1 s of the event loop).
        bucket = self.buckets.get(visitor.identity)
        if bucket is not None and bucket.full() and visitor.identity not in self.open:
            del self.buckets[visitor.identity]
        now = time.monotonic()
        if now - self.swept >= SWEEP_SECONDS:
            self.swept = now
            for identity, bucket in list(self.buckets.items()):
                if bucket.full() and identity not in self.open:
                    del self.buckets[identity]

    async def _resolve(self, visitor: Visitor) -> None:
        """The visitor's contact and latest conversation, once they exist."""

        def read() -> tuple[str | None, str | None, str | None]:
            with self.hub.ws.read() as conn:
                contact_id = chat_q.contact_of(conn, visitor.identity)
                email = None
                if contact_id is not None:
                    email = conn.exec_driver_sql(
                        "SELECT value FROM contact_identity WHERE contact_id = ? "
                        "AND kind = 'email' ORDER BY rowid LIMIT 1",
                        (contact_id,),
                    ).scalar()
            if contact_id is None:
                return None, None, None
            found = chat_q.conversation_of(self.hub.ws, contact_id, visitor.channel.id)
            return contact_id, found[0] if found else None, email

        visitor.contact_id, visitor.conversation_id, email = await self.hub._read(read)
        visitor.email = visitor.email or email  # known: the away form does not ask again

    async def _presence(self, visitor: Visitor, *, online: bool, typing: bool = False) -> None:
        if visitor.conversation_id is None:
            return
        await self.hub.tell_agents(
            visitor.channel.inbox_id,
            {
                "visitor": {
                    "conversation_id": visitor.conversation_id,
                    "online": online,
                    "typing": typing,
                    "page": visitor.context.get("page"),
                    "title": visitor.context.get("title"),
                }
            },
        )

    # ---------------------------------------------------------------- calls

    async def on_hello(self, visitor: Visitor, _data: Any) -> dict[str, Any]:
        from .chat_bots import opening_for

        available = await self.hub._read(
            chat_q.agents_available, self.hub.ws, visitor.channel.inbox_id
        )
        settings = visitor.channel.settings
        return {
            "opening": await opening_for(self.hub, visitor),
            "token": visitor.token,
            "name": visitor.channel.name,
            "welcome": settings.get("welcome") or chat_backend.DEFAULT_WELCOME,
            "away": settings.get("away") or chat_backend.DEFAULT_AWAY,
            "available": available,
            "verified": visitor.verified is not None,
            "email_known": bool(visitor.email),
            "limits": {
                "text": chat_backend.MAX_TEXT,
                "file_bytes": chat_backend.MAX_ATTACHMENT,
                "file_types": sorted(chat_backend.ATTACHMENT_TYPES),
            },
        }

    async def on_sync(self, visitor: Visitor, data: Any) -> dict[str, Any]:
        since = data.get("since", 0) if isinstance(data, dict) else 0
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise BadPayload("'since' must be a change number")
        wanted = data.get("conversation_id") if isinstance(data, dict) else None
        if wanted is not None and not isinstance(wanted, str):
            raise BadPayload("'conversation_id' must be text")
        view = await self.hub._read(
            chat_q.visitor_view,
            self.hub.ws,
            visitor.channel.id,
            visitor.identity,
            since,
            wanted[:64] if wanted else None,
        )
        if wanted and view["conversation"] is None:
            raise BadPayload("no such conversation")  # another visitor's, or none at all
        if view["conversation"] is not None and not wanted:
            visitor.conversation_id = view["conversation"]["id"]
            visitor.cursor = max(visitor.cursor, view["cursor"])
        return view

    async def on_send(self, visitor: Visitor, data: Any) -> dict[str, Any]:
        stamps: dict[str, Any] = {"h": trace.now()} if trace.ON else {}
        if not isinstance(data, dict):
            raise BadPayload("the payload must be an object")
        since = data.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise BadPayload("'since' must be a change number")
        bucket = self.buckets.setdefault(visitor.identity, Bucket())
        if not bucket.take():
            return {"error": RATE_LIMITED, "rate_limited": True}
        wanted = data.get("conversation_id")
        if wanted is not None and (
            not isinstance(wanted, str)
            or (
                await self.hub._read(
                    chat_q.visitor_view,
                    self.hub.ws,
                    visitor.channel.id,
                    visitor.identity,
                    2**62,
                    wanted[:64],
                )
            )["conversation"]
            is None
        ):
            raise BadPayload("no such conversation")
        attachment = None
        file = data.get("file")
        if file is not None:
            if not isinstance(file, dict):
                raise BadPayload("'file' must be an object")
            attachment = chat_backend.check_attachment(
                file.get("name"), file.get("type"), file.get("data")
            )
        adapter = chat_backend.ChatChannel(
            visitor.channel.id, visitor.channel.name, visitor.channel.settings
        )
        context = dict(visitor.context)
        inc = adapter.incoming(
            identity=visitor.identity,
            name=visitor.name,
            text=text if isinstance(text := data.get("text"), str) else "",
            client_id=data.get("client_id"),
            now=clock.utcnow(),
            context=context,
            attachment=attachment,
            new_conversation=data.get("new") is True,
        )
        before = visitor.conversation_id
        if trace.ON:
            stamps["q"] = trace.now()
        result = await self.batcher.store(inc, targeting(visitor), stamps)
        visitor.acked = self.hub.head  # stored up to here: the widget syncs on our answer
        # Compared with what they had before sending: the poke of the batch (`on_head`) may
        # have found their new conversation meanwhile, and their agents heard nothing of
        # them being on the page (one chat in six of a dozen opened at once).
        first = before != result.conversation_id
        visitor.conversation_id = result.conversation_id
        if visitor.contact_id is None or first:
            await self._resolve(visitor)
            if visitor.email and first:
                await self._remember_email(visitor, visitor.email)
            await self._presence(visitor, online=True)
        answer = {
            "ok": True,
            "id": result.message_id,
            "client_id": data.get("client_id"),
            "conversation_id": result.conversation_id,
            "duplicate": result.duplicate,
        }
        if since is not None:
            # What a `sync` from `since` would answer, so the widget needs no sync round after
            # each send (a call less per visitor message: its packets, its task, its hop).
            answer["view"] = view = await self.hub._read(
                chat_q.visitor_view, self.hub.ws, visitor.channel.id, visitor.identity, since, None
            )
            visitor.cursor = max(visitor.cursor, view["cursor"])
        if trace.ON:
            trace.note("send", id=data.get("client_id"), a=trace.now(), **stamps)
        return answer

    async def on_typing(self, visitor: Visitor, data: Any) -> dict[str, Any]:
        typing = bool(isinstance(data, dict) and data.get("typing"))
        now = time.monotonic()
        if typing and now - visitor.typing_sent < TYPING_EVERY:
            return {"ok": True}
        visitor.typing_sent = now if typing else 0.0
        await self._presence(visitor, online=True, typing=typing)
        return {"ok": True}

    async def on_read(self, visitor: Visitor, data: Any) -> dict[str, Any]:
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or len(ids) > 200:
            raise BadPayload("'ids' must be a list of at most 200 message ids")
        view = await self.hub._read(
            chat_q.visitor_view, self.hub.ws, visitor.channel.id, visitor.identity, 0, None
        )
        theirs = {m["id"] for m in view["messages"] if m["from"] == "agent" and not m.get("via")}
        wanted = [i for i in ids if isinstance(i, str) and i in theirs]
        if wanted:

            def mark() -> None:
                from ..core.commands.delivery import apply_status

                for message_id in wanted:
                    apply_status(self.hub.ws, visitor.channel.id, f"chat:{message_id}", "read")

            await self.hub.ingest(mark)
        return {"ok": True, "read": len(wanted)}

    async def on_email(self, visitor: Visitor, data: Any) -> dict[str, Any]:
        address = data.get("address") if isinstance(data, dict) else None
        if not isinstance(address, str):
            raise BadPayload("give an e-mail address")
        bucket = self.buckets.setdefault(visitor.identity, Bucket())
        if not bucket.take():
            return {"error": RATE_LIMITED, "rate_limited": True}
        await self._remember_email(visitor, address)
        visitor.email = address.strip().lower()
        return {"ok": True, "address": visitor.email}

    async def _remember_email(self, visitor: Visitor, address: str) -> None:
        from ..core.commands.chat import visitor_email

        await self.hub.ingest(
            visitor_email, self.hub.ws, visitor.channel.id, visitor.identity, address
        )

    # ---------------------------------------------------------------- from the hub

    async def on_head(self, previous: int, _head: int) -> None:
        """Poke the connected visitors whose conversations changed since `previous`: one
        read for all of them (chat_q.chats_changed), then a poke to each one concerned."""
        if not self.visitors:
            return
        changed = await self.hub._read(chat_q.chats_changed, self.hub.ws, previous)
        if not changed:
            return
        identities = {i for change in changed.values() for i in change.identities}
        visitors = list(self.visitors.values())
        # Their first message (maybe from another device of a verified user): the reads
        # side by side, not one after another.
        await asyncio.gather(
            *(
                self._resolve(v)
                for v in visitors
                if v.contact_id is None and v.identity in identities
            )
        )
        poked = []
        for visitor in visitors:
            change = changed.get(visitor.contact_id or "")
            # Not for what their own send stored: its answer brings it to the widget.
            if change is not None and change.seq > visitor.acked:
                poked.append(visitor)
        await self._poke(poked)

    async def _poke(self, poked: list[Visitor]) -> None:
        """Poke these visitors' widgets. A few: each poke brings the view since the cursor
        they were last sent (one read for them all), so the widget needs no `sync` round
        after it: a reply reached the widget in the time of a read, not of a read and a
        round trip more (benchmarks/chat_bench.py --stages, `to_widget`). The rest (many
        at once, or never sent a view): an empty poke, one packet encoded once; they sync."""
        few = len(poked) <= POKE_VIEWS
        viewed = [v for v in poked if few and v.cursor]
        rest = [v.sid for v in poked if not (few and v.cursor)]
        if viewed:
            asked = [(v.channel.id, v.identity, v.cursor) for v in viewed]
            views = await self.hub._read(_views, self.hub.ws, asked)
            for visitor, (_, _, since), view in zip(viewed, asked, views, strict=True):
                if view["conversation"] is not None:
                    visitor.conversation_id = view["conversation"]["id"]
                visitor.cursor = max(visitor.cursor, view["cursor"])
                await self.hub.sio.emit(  # this node's own socket (ignore_queue)
                    "poke",
                    {"since": since, "view": view},
                    to=visitor.sid,
                    namespace=NAMESPACE,
                    ignore_queue=True,
                )
        if rest:  # one packet, encoded once; the sockets are this node's own (ignore_queue)
            await self.hub.sio.emit("poke", {}, to=rest, namespace=NAMESPACE, ignore_queue=True)

    async def on_agent_hello(self, session: Session) -> dict[str, Any]:
        """For an agent's hello: the chat conversations (of inboxes they may see) whose
        visitor has the widget open now. Later comings and goings arrive as signals."""
        here: dict[str, set[str]] = {}  # inbox id -> conversation ids
        for v in self.visitors.values():
            if v.conversation_id is not None:
                here.setdefault(v.channel.inbox_id, set()).add(v.conversation_id)
        seen = [
            c
            for inbox_id, ids in here.items()
            if await self.hub._read(self.hub._may_see, {session.agent_id}, inbox_id)
            for c in sorted(ids)
        ]
        return {"visitors_here": seen}

    async def on_agent_signal(
        self, session: Session, kind: str, conversation_id: str, _inbox_id: str, data: Any
    ) -> None:
        """An agent typing a reply (or no longer) in a chat: the visitor sees "Ana is
        typing". Typing an internal comment (`private`) is never shown to the visitor."""
        if kind not in ("typing", "idle", "left") or (
            isinstance(data, dict) and data.get("private")
        ):
            return
        targets = [v for v in self.visitors.values() if v.conversation_id == conversation_id]
        if not targets:
            return
        name = await self.hub._read(_agent_name, self.hub.ws, session.agent_id)
        payload = {"typing": kind == "typing", "name": name}
        await self.hub.sio.emit(  # this node's own sockets: not through Redis (ignore_queue)
            "typing", payload, to=[v.sid for v in targets], namespace=NAMESPACE, ignore_queue=True
        )


def _preload() -> None:
    """The modules that storing a visitor's message needs (the bots' runner and with it
    SQLModel's models, routing), imported as the hub starts. Imported by the first visitor
    message, on the writer, they held every send behind it for ~0.8 s (core.models alone
    0.75 s on the shared machine): most of chat_bench.py's p99 of ~1 s at 100 messages a
    second, whose timed window starts with the hub's first messages."""
    from ..core import routing  # noqa: F401
    from ..core.commands import bots, incoming  # noqa: F401


def _views(ws: Any, asked: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """Each (channel, identity, since)'s visitor view, on one reader thread."""
    return [chat_q.visitor_view(ws, channel, identity, since) for channel, identity, since in asked]


def _agent_name(ws: Any, agent_id: str) -> str:
    with ws.read() as conn:
        name = conn.exec_driver_sql("SELECT name FROM agent WHERE id = ?", (agent_id,)).scalar()
    return str(name or "").split(" ")[0]


def _header(environ: dict[str, Any], name: str) -> str:
    scope = environ.get("asgi.scope") or {}
    for key, value in scope.get("headers", []):
        if key.decode("latin-1").lower() == name:
            return str(value.decode("latin-1"))[:400]
    return ""


def _browser(agent: str) -> str:
    """A short name for a User-Agent: "Chrome 156 on Linux"."""
    import re

    found = "browser"
    for pattern, label in (
        (r"Edg/(\d+)", "Edge"),
        (r"Firefox/(\d+)", "Firefox"),
        (r"(?:Chrome|Chromium)/(\d+)", "Chrome"),
        (r"Version/(\d+).*Safari", "Safari"),
    ):
        m = re.search(pattern, agent)
        if m:
            found = f"{label} {m.group(1)}"
            break
    for needle, system in (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ):
        if needle in agent:
            return f"{found} on {system}"
    return found


# --------------------------------------------------------------------------------- HTTP


def _static(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


_CACHE: dict[str, bytes] = {}


def static_bytes(name: str) -> bytes:
    if name not in _CACHE:
        _CACHE[name] = _static(name)
    return _CACHE[name]


FRAME_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Chat</title><link rel="stylesheet" href="/widget/static/widget.css">
<script src="/widget/static/socket.io.min.js" defer></script>
<script src="/widget/static/widget.js" defer></script></head>
<body data-channel="{channel}">
<button id="launcher" type="button" aria-label="Open chat" aria-expanded="false" aria-controls="panel"><svg aria-hidden="true" width="26" height="26" viewBox="0 0 24 24"><path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg><span id="badge" hidden></span></button>
<section id="panel" role="dialog" aria-label="Chat" hidden>
<header><span id="avatar" aria-hidden="true"></span><span id="who"></span><button id="close" type="button" aria-label="Close chat">&#215;</button></header>
<ol id="log" role="log" aria-live="polite"></ol>
<p id="typing" aria-live="polite"></p>
<p id="notice" role="alert"></p>
<form id="away" hidden><label for="email">Your e-mail</label><input id="email" type="email" autocomplete="email" required><button type="submit">Save e-mail</button></form>
<div id="ended" hidden><p>This conversation has ended.</p><button id="new" type="button">Start a new conversation</button></div>
<form id="composer"><label for="file" class="attach" title="Attach a file"><svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24"><path fill="none" stroke="currentColor" stroke-width="2" d="M16 7l-7.5 7.5a2 2 0 0 0 3 3L19 10a4 4 0 0 0-6-6l-7.5 7.5a6 6 0 0 0 9 9L21 14"/></svg><span class="vh">Attach a file</span></label><input id="file" type="file" class="vh"><textarea id="text" aria-label="Message" rows="1" maxlength="10000" placeholder="Write a message"></textarea><button id="send" type="submit">Send</button></form>
</section></body></html>
"""

PREVIEW_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Chat preview</title></head>
<body style="font-family:sans-serif;margin:2em">
<h1>Chat preview</h1>
<p>This page shows the chat widget as visitors of your site see it.</p>
<script src="/widget/{channel}.js" async></script>
</body></html>
"""


def routes(hub: Hub) -> list[Any]:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    ChatHub(hub)

    async def channel_or_404(request: Request) -> chat_q.ChatChannelRow | None:
        channel_id = request.path_params["channel"][:64]
        channel = await hub._read(chat_q.chat_channel, hub.ws, channel_id)
        return channel if channel is not None and channel.enabled else None

    def not_found() -> Response:
        return Response("no such chat\n", status_code=404, media_type="text/plain")

    async def loader(request: Request) -> Response:
        if await channel_or_404(request) is None:
            return not_found()
        return Response(
            static_bytes("loader.js"),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def frame(request: Request) -> Response:
        channel = await channel_or_404(request)
        if channel is None:
            return not_found()
        ancestors = " ".join(["'self'", *channel.settings.get("allowed_origins", [])])
        if not channel.settings.get("allowed_origins"):
            ancestors = "*"
        host = request.headers.get("host", "")
        ws_scheme = "wss" if request.url.scheme == "https" else "ws"
        policy = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"connect-src 'self' {ws_scheme}://{host}; frame-ancestors {ancestors}; "
            "base-uri 'none'; form-action 'none'"
        )
        html = FRAME_HTML.replace("{channel}", _attr(channel.id))
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": policy,
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def preview(request: Request) -> Response:
        channel = await channel_or_404(request)
        if channel is None:
            return not_found()
        return Response(
            PREVIEW_HTML.replace("{channel}", _attr(channel.id)),
            media_type="text/html; charset=utf-8",
        )

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        media = STATIC_FILES.get(name)
        if media is None:
            return not_found()
        return Response(
            static_bytes(name),
            media_type=media,
            headers={"Cache-Control": "public, max-age=300"},
        )

    return [
        Route("/widget/static/{name}", static),
        Route("/widget/{channel}.js", loader),
        Route("/widget/{channel}/frame", frame),
        Route("/widget/{channel}/preview", preview),
    ]


def _attr(value: str) -> str:
    """A channel id inside HTML: ids are letters, digits and dashes; anything else goes."""
    return "".join(ch for ch in value if ch.isalnum() or ch == "-")
