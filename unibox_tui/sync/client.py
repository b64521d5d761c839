"""An agent's app against a hub: the local cache and the connection that keeps it current.

The cache is a workspace file (one per hub and agent, in the data dir) that only two things
write: pulls from the hub's change log (core/changes.apply_changes with `local=True`), and
commands on their way to the hub. Every read the TUI and CLI make stays local and instant.

A command (registry.run on a cache) is applied optimistically: it runs on the cache, and
the same transaction queues it as a `pending_mutation` with a client-minted id for whatever
it creates and the cache change number its write took. The sync thread then, in a loop:
1. pushes the pending mutations in order (the hub applies each once: hub/mutations.py);
2. pulls until the cache holds everything the hub answered (rows an unconfirmed command
   wrote are left alone by pulls);
3. settles each answered mutation: the rows its optimistic write touched are replaced by the
   hub's current rows (`changes.rows_now`), so a rejected command is undone and a confirmed
   one ends up exactly as the hub made it; its pending row goes in the same transaction.
A poke may carry the changes since the hub's previous poke (hub/protocol.py): a cache at
that cursor applies them at once, without asking (`_apply_poked`); any other pulls.
Offline, mutations stay queued in the cache (they survive a restart) and go out when the
connection comes back; every connect and reconnect pulls since the cursor, and pokes from
the hub start a round, so nothing is missed however long the app was away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core import access, changes, checkpoint, clock
from ..core.commands import registry
from ..core.db import Tx, Workspace, open_workspace
from ..core.errors import InvalidRequest, NoAccess, UniboxError, WorkspaceError
from ..core.ids import new_id
from ..hub.protocol import MAX_MUTATIONS, PROTOCOL, Packet

log = logging.getLogger("unibox.sync")
# A pull that wrote none of the tables the access rule reads leaves the agent's inboxes as
# they were.
ACCESS_TABLES = access.TABLES
PULL_LIMIT = 2000
# Seconds between rounds nothing asked for. Every change of the hub's log comes with a poke
# and every (re)connect pulls, so this only covers a poke that never came; a round a
# second per client was most of an idle hub's work (50 agents: 50 pulls a second, each
# also a round of the client's own; benchmarks/hub_team.py fanout). A kick lost in the
# sync loop (fixed: `_loop`) once left a poked page unapplied until this round.
SAFETY_ROUND = 5.0
CALL_TIMEOUT = 30.0
# Seconds between the cache's WAL checkpoints (core/checkpoint.py; the hub's file keeps one a
# second). Each checkpoint copies the pages written since the last one into the file and
# waits for the disk twice; under a chat load (a poke every 50-80 ms, ~20 pages each, half
# of them the same pages every time: the log's counters, the newest rows' index leaves) a
# checkpoint a second cost an agent's app ~0.17 ms per poke, one every five ~0.07
# (benchmarks/poke_apply.py --chat). The log grows to a few MB in between. An app that
# crashes loses nothing (commits are in the log); a machine that loses power may lose the
# commits of the last 5 s instead of 1 s (synchronous=NORMAL syncs the log at checkpoints):
# pulled rows come again from the cursor that survived with them, and a command queued in
# that window is almost always pushed to the hub already (the sync loop pushes at once).
CACHE_CHECKPOINT_INTERVAL = 5.0


class HubUnreachable(UniboxError):
    pass


@dataclass
class Status:
    state: str  # connected | reconnecting | offline | signed-out
    queued: int
    detail: str = ""

    def text(self) -> str:
        queued = f", {self.queued} queued" if self.queued else ""
        return f"{self.state}{queued}"


def cache_dir(url: str) -> Path:
    import platformdirs

    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", re.sub(r"^[a-z]+://", "", url)).strip("_")
    return platformdirs.user_data_path("unibox") / "hubs" / slug[:80]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__}")


class HubClient:
    """One agent's connection to one hub, and the cache it fills."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        directory: Path | None = None,
        on_rejected: Callable[[str, str, dict[str, Any]], None] | None = None,
        on_signals: Callable[[dict[str, Any]], None] | None = None,
        on_status: Callable[[Status], None] | None = None,
        on_pulled: Callable[[], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.directory = directory or cache_dir(self.url)
        self.on_rejected = on_rejected
        self.on_signals = on_signals
        # Signals a batch brought, in one call (else on_signals is called for each).
        self.on_signal_batch: Callable[[list[dict[str, Any]]], None] | None = None
        self.on_status = on_status
        self.on_pulled = on_pulled  # after a pull wrote rows: the app looks now, not at its poll
        self.agent: dict[str, Any] = {}
        self.presence: dict[str, str] = {}
        self.visitors_here: list[str] = []
        self.ws: Workspace | None = None
        self.replica: sqlite3.Connection | None = None
        self.state = "offline"
        self.detail = ""
        self._local = threading.local()  # `applying`: this thread runs a command on the cache
        # The cache's writers, one at a time: the sync thread's (pages, settles) and the
        # app's commands (`ws.write_lock`). Waiting on SQLite's lock instead polls in sleeps
        # of 1 to 100 ms: an agent sending replies had a poke's page wait up to 40 ms
        # behind their own write (benchmarks/chat_bench.py, 20 replies a second).
        self._writing = threading.RLock()
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._answers: dict[int, dict[str, Any]] = {}
        self._answered = threading.Condition()
        self._thread: threading.Thread | None = None
        self._sio: Any = None
        self.synced = threading.Event()  # a full pull finished since the last connect
        self.wait_answers = False  # every command waits for the hub's answer (the CLI)
        self._generation = 0  # connections made so far: a call spans one of them
        self._sent: dict[int, dict[str, Any]] = {}  # the last push, by mutation number
        self._progress: float | None = None  # of a first sync, for the app's header
        self._poked: list[dict[str, Any]] = []  # pages that came with pokes, not applied yet
        self._poked_head = 0  # the newest head a poke announced
        self._access_dirty = True  # the agent's inboxes may have changed since last looked at
        self.safety_round = SAFETY_ROUND  # tests set it beyond their length: pokes alone
        self._told: Status | None = None  # the status the app was last told (on_status)

    # ---------------------------------------------------------------- opening

    def _token_key(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()[:16]

    def _known_agent(self) -> str | None:
        try:
            known = json.loads((self.directory / "agents.json").read_text())
        except (OSError, ValueError):
            return None
        value = known.get(self._token_key())
        return value if isinstance(value, str) else None

    def _remember_agent(self, agent_id: str) -> None:
        path = self.directory / "agents.json"
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        known[self._token_key()] = agent_id
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(path)

    def open(self, *, connect_timeout: float = 10.0, offline_ok: bool = True) -> Workspace:
        """Connect, say hello, and open this agent's cache; offline, open the cache of the
        last session with this token (reads work, commands queue)."""
        import socketio

        self.directory.mkdir(parents=True, exist_ok=True)
        sio = _socket_class()(
            reconnection=True,
            # Back within ~3 s of a hub restart (randomised 0.5 s doubling to 2 s): at 50
            # agents that is ~25 attempts a second while the hub is down, cheap refusals.
            reconnection_delay=0.5,
            reconnection_delay_max=2,
            # websocket-client checks every received text frame's UTF-8 in pure Python, byte
            # by byte (~0.3 s per 1 MB pull page); the payload is then decoded by Python's own
            # UTF-8 codec, which refuses bad bytes anyway. Skipping the first check makes a
            # first sync's pulls ~7x faster (benchmarks/hub_join.py).
            websocket_extra_options={"skip_utf8_validation": True},
            serializer=Packet,  # JSON by orjson: a first sync's pages decode ~3x faster
        )
        self._sio = sio
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("poke", self._on_poke)
        sio.on("signals", self._on_signals)
        sio.on("bye", self._on_bye)
        sio.on("connect_error", self._on_refused)
        self._refused: str | None = None
        error: str | None = None
        try:
            sio.connect(
                self.url,
                auth=self._auth,
                transports=["websocket"],
                wait_timeout=connect_timeout,
                retry=False,
            )
            hello = sio.call("hello", {}, timeout=CALL_TIMEOUT)
            if not isinstance(hello, dict) or "agent" not in hello:
                raise HubUnreachable(f"the hub at {self.url} answered hello with {hello!r}")
            self.agent = hello["agent"]
            self.presence = dict(hello.get("presence") or {})
            # Chat conversations whose visitor is on the page (screens/chatlink.py).
            self.visitors_here = [str(c) for c in hello.get("visitors_here") or []]
            self._remember_agent(self.agent["id"])
            self.state = "connected"
        except socketio.exceptions.ConnectionError as e:
            if self._refused:  # the hub said no (token, protocol): no use trying offline
                self._quit_socket()
                raise NoAccess(self._refused) from None
            error = _refusal(e, self.url)
        if error is not None:
            agent_id = self._known_agent()
            if not offline_ok or agent_id is None:
                self._quit_socket()
                raise HubUnreachable(error)
            self.agent = {"id": agent_id, "handle": None}
            self.state = "offline"
            self.detail = error
        self._open_cache()
        if error is None and changes.replica_cursor(self.replica) == "0":  # type: ignore[arg-type]
            # A first sync: the newest conversations now, so the app has a list to show
            # while the full pull (seconds to a minute on a big hub) runs behind it.
            starter = self._call("starter", {})
            with self._writing:
                changes.apply_backfill(self.replica, starter)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._loop, name="unibox-sync", daemon=True)
        self._thread.start()
        if error is not None:
            # The socket.io client does not retry a first connect that failed: keep trying.
            threading.Thread(target=self._reconnect_later, name="unibox-dial", daemon=True).start()
        self._kick.set()
        assert self.ws is not None
        return self.ws

    def _auth(self) -> dict[str, Any]:
        return {"token": self.token, "protocol": PROTOCOL, "client_id": self.client_id}

    @property
    def client_id(self) -> str:
        cid = getattr(self, "_client_id", None)
        if cid is None:
            path = self.directory / f"client-{self._token_key()}"
            try:
                cid = path.read_text().strip()
            except OSError:
                cid = new_id()
                path.write_text(cid)
            self._client_id: str = cid
        return cid

    def _open_cache(self) -> None:
        path = self.directory / f"{self.agent['id']}.db"
        self.replica = changes.open_replica(path)
        checkpoint.apart(self.replica)  # a poke's commit never checkpoints: ws's thread does
        self.replica.execute(
            "INSERT INTO replica_state (key, value) VALUES ('mutation_seq', '0') "
            "ON CONFLICT (key) DO NOTHING"
        )
        ws = open_workspace(path)
        ws.checkpoint_apart(CACHE_CHECKPOINT_INTERVAL)
        ws.write_lock = self._writing
        ws.guard = self._guard
        ws.remote = self
        self.ws = ws

    def _guard(self) -> None:
        if not getattr(self._local, "applying", False):
            raise WorkspaceError(
                "this is a cache of the team hub: it changes through commands sent to the hub"
            )

    def applying(self) -> bool:
        return bool(getattr(self._local, "applying", False))

    def _reconnect_later(self) -> None:
        delay = 0.5
        while not self._stop.is_set() and not self._sio.connected:
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)
            try:
                self._sio.connect(
                    self.url, auth=self._auth, transports=["websocket"], wait_timeout=5, retry=False
                )
            except Exception as e:
                self.detail = _refusal(e, self.url)
                continue

    # ---------------------------------------------------------------- commands

    def run(
        self,
        name: str,
        args: dict[str, Any] | None,
        *,
        actor: str,
        id: str | None = None,
        now: datetime | None = None,
        wait: bool = False,
        timeout: float = CALL_TIMEOUT,
    ) -> registry.CommandResult:
        """Run a command: on the cache at once, and on the hub as a mutation. With `wait`,
        block until the hub answered (a rejection raises its error)."""
        assert self.ws is not None
        spec = registry.spec(name)
        if spec.takes_id and id is None:
            id = new_id()
        args = dict(args or {})
        queued: list[int] = []

        def queue(tx: Tx) -> None:
            queued.append(self._queue(tx.session.connection(), name, args, id, tx._seq))

        if name in registry.HUB_ONLY:
            with self._applying():
                with self.ws.write() as tx:
                    queue(tx)
            result = None
        else:
            with self._applying(), self.ws.on_next_write(queue):
                result = registry.run(self.ws, name, args, actor=actor, id=id, now=now)
            if not queued:  # it wrote nothing here; the hub may still have work to do
                with self._applying():
                    with self.ws.write() as tx:
                        queue(tx)
        self._kick.set()
        if wait or self.wait_answers or result is None:
            answer = self.wait_for(queued[0], timeout)
            if answer.get("status") != "ok":
                raise InvalidRequest(answer.get("error") or f"the hub refused {name}")
            if result is None:
                value = answer.get("id", answer.get("count", answer.get("changed")))
                result = registry.CommandResult(
                    name, answer.get("seq"), value, answer.get("ids", [])
                )
        return result

    @contextmanager
    def _applying(self) -> Iterator[None]:
        """This thread writes the cache for a command on its way to the hub (the guard lets
        it through)."""
        self._local.applying = True
        try:
            yield
        finally:
            self._local.applying = False

    def _queue(
        self, conn: Any, name: str, args: dict[str, Any], id: str | None, local_seq: int | None
    ) -> int:
        mutation_id = int(
            conn.exec_driver_sql(
                "UPDATE replica_state SET value = CAST(value AS INTEGER) + 1 "
                "WHERE key = 'mutation_seq' RETURNING value"
            ).scalar_one()
        )
        conn.exec_driver_sql(
            "INSERT INTO pending_mutation (mutation_id, name, args, entity_id, local_seq, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                mutation_id,
                name,
                json.dumps(args, default=_json_default),
                id,
                local_seq,
                clock.to_db(clock.utcnow()),
            ),
        )
        return mutation_id

    def wait_for(self, mutation_id: int, timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
        """The hub's answer to a mutation; HubUnreachable when none came in `timeout` (the
        mutation stays queued and goes out with the next connection)."""
        deadline = time.monotonic() + timeout
        with self._answered:
            while mutation_id not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HubUnreachable(
                        f"no answer from the hub at {self.url} yet ({self.status().text()}); "
                        "the command stays queued and goes out when the hub is reachable"
                    )
                self._answered.wait(left)
            return self._answers.pop(mutation_id)

    def queued(self) -> int:
        assert self.replica is not None
        return int(self.replica.execute("SELECT count(*) FROM pending_mutation").fetchone()[0])

    def progress(self) -> float | None:
        """How much of the hub's conversations the cache holds during a first sync (0..1);
        None once a full pull has finished."""
        return None if self.synced.is_set() else self._progress

    def _measure_progress(self) -> None:
        """Counted on the sync thread after each page (a count grows with the cache: not a
        thing for the UI thread)."""
        assert self.replica is not None
        total = int(self.agent.get("conversations") or 0)
        if total > 0 and not self.synced.is_set():
            have = int(self.replica.execute("SELECT count(*) FROM conversation").fetchone()[0])
            self._progress = min(have / total, 0.99)
            self._status_changed()

    def status(self) -> Status:
        return Status(self.state, self.queued() if self.replica else 0, self.detail)

    # ---------------------------------------------------------------- the sync loop

    def _on_connect(self) -> None:
        self._generation += 1
        self.state = "connected"
        self.detail = ""
        self.synced.clear()
        self._access_dirty = True
        self._kick.set()  # pull since the cursor on every connect and reconnect
        self._status_changed()

    def _on_disconnect(self, *_reason: Any) -> None:
        if self._stop.is_set() or self.state == "signed-out":
            return
        self.state = "reconnecting"
        self._status_changed()

    def _on_refused(self, data: Any = None) -> None:
        # The hub's refusal comes as {"message": ...}; a transport failure as a bare string.
        if not isinstance(data, dict):
            return
        self._refused = str(data.get("message") or "the hub refused the connection")[:300]
        if self.state != "offline":  # a reconnect refused: the token went bad meanwhile
            self.state = "signed-out"
            self.detail = self._refused
            self._status_changed()

    def _on_bye(self, data: Any) -> None:
        self.state = "signed-out"
        self.detail = str((data or {}).get("reason", "the hub ended this session"))[:200]
        self._status_changed()

    def _on_poke(self, data: Any) -> None:
        """The hub's log grew; a poke may bring the changes since `from` (protocol.py),
        which the sync thread applies in place of a pull when the cache is at `from`."""
        if isinstance(data, dict):
            page = data.get("page")
            with self._answered:
                if isinstance(page, dict) and isinstance(data.get("from"), str):
                    self._poked = [*self._poked[-7:], {"from": data["from"], "page": page}]
                if isinstance(data.get("head"), int):
                    self._poked_head = max(self._poked_head, data["head"])
        self._kick.set()

    def _on_signals(self, data: Any) -> None:
        """One signal, or several that the hub sent together (`{"batch": [...]}`): each is
        handed on as it would have come alone, or with `on_signal_batch` all in one call
        (the app's callback waits on its UI thread: one hand-over for the batch, not one per
        signal; a thousand chat visitors' typing and presence come ~40 a second)."""
        items = data.get("batch") if isinstance(data, dict) else None
        if not isinstance(items, list):
            items = [data]
        items = [one for one in items if isinstance(one, dict)]
        for one in items:
            if isinstance(one.get("presence"), dict):
                self.presence = dict(one["presence"])
        if not items:
            return
        if self.on_signal_batch is not None:
            self.on_signal_batch(items)
        elif self.on_signals is not None:
            for one in items:
                self.on_signals(one)

    def _status_changed(self) -> None:
        """Tell the app the status, when it differs from the last one told. Every sync round
        (every poke) asks: the app's callback waits on its UI thread (call_from_thread), so
        a round that told it the same status held the next poke up behind a hand-over to
        the UI and back, twenty times a second under a chat load."""
        if self.on_status is not None:
            try:
                status = self.status()
                if status == self._told:
                    return
                self._told = status
                self.on_status(status)
            except Exception:
                log.exception("status callback")

    def _loop(self) -> None:
        failures = 0
        last = time.monotonic()
        wanted = False  # a round was asked for and has not run yet
        while not self._stop.is_set():
            kicked = self._kick.wait(1.0)
            if self._stop.is_set():
                return
            # Cleared only when the wait saw the kick: a poke whose handler set it just after
            # a wait gave up (between the timeout and here) would be wiped out with an
            # unconditional clear, and its page would sit unapplied until the safety round
            # (2 of 9,800 arrivals in a fan-out run; test_hub.py kick race). A kick that
            # lands after this clear runs the next round; this one reads what it brought.
            if kicked:
                self._kick.clear()
            wanted = wanted or kicked or time.monotonic() - last >= self.safety_round
            if not wanted:
                continue
            # Not connected (yet: the connect handler kicks before the client counts itself
            # connected): the round stays wanted and is tried again within a second.
            if self._sio is None or not self._sio.connected:
                continue
            wanted = False
            last = time.monotonic()
            try:
                self.sync_once()
                failures = 0
            except Exception as e:  # the next poke or reconnect retries
                failures += 1
                # One failure is a dropped connection; a round that keeps failing is news.
                (log.warning if failures == 3 else log.debug)("sync round failed: %s", e)
                if self.state != "signed-out":  # keep saying why the hub ended the session
                    self.detail = str(e)[:200]
                self._stop.wait(0.5)
                self._kick.set()

    def sync_once(self) -> None:
        """Take the pages pokes brought, push what is queued, pull until current, settle
        what the hub answered. The pokes' pages go first: an agent sending replies had each
        page wait for the round trip of their push (the hub's group commit), up to 70 ms
        (benchmarks/chat_bench.py --stages, `agent_apply`). They spare the cache's rows of
        unconfirmed commands, as a pull does (changes.apply_chain)."""
        assert self.replica is not None
        current = self._apply_poked()
        answers = self._push()
        if answers or not current:
            self._pull()
        if answers:
            self._settle(answers)
        self._follow_access()
        self.synced.set()
        self._status_changed()

    def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """A call to the hub that gives up as soon as the connection drops (socket.io's own
        `call` would wait out its whole timeout for an answer that can no longer come, and
        hold up the round that the reconnect needs)."""
        generation = self._generation
        done = threading.Event()
        box: list[Any] = []

        def answered(*args: Any) -> None:
            box.append(args[0] if args else None)
            done.set()

        self._sio.emit(event, data, callback=answered)
        deadline = time.monotonic() + CALL_TIMEOUT
        while not done.wait(0.05):
            if self._generation != generation or not self._sio.connected:
                raise HubUnreachable(f"the connection dropped during {event}")
            if time.monotonic() > deadline:
                raise HubUnreachable(f"the hub did not answer {event} in {CALL_TIMEOUT:g} s")
        reply = box[0]
        if not isinstance(reply, dict):
            raise HubUnreachable(f"the hub answered {event} with {type(reply).__name__}")
        if "error" in reply:
            raise InvalidRequest(f"the hub refused {event}: {reply['error']}")
        return reply

    def _push(self) -> list[tuple[dict[str, Any], int | None]]:
        assert self.replica is not None
        rows = self.replica.execute(
            "SELECT mutation_id, name, args, entity_id, local_seq FROM pending_mutation "
            "ORDER BY mutation_id LIMIT ?",
            (MAX_MUTATIONS,),
        ).fetchall()
        if not rows:
            return []
        batch = [
            {"mutation_id": m, "name": n, "args": json.loads(a), **({"id": i} if i else {})}
            for m, n, a, i, _ in rows
        ]
        reply = self._call("push", {"mutations": batch})
        local = {m: s for m, _, _, _, s in rows}
        self._sent = {m["mutation_id"]: m for m in batch}
        out = []
        for answer in reply.get("answers", []):
            if answer.get("status") == "gap":
                raise UniboxError(
                    f"the hub expects mutation {answer.get('expected')} but this cache's queue "
                    f"starts at {rows[0][0]}: the hub lost commands it had confirmed"
                )
            out.append((answer, local.get(answer["mutation_id"])))
        if len(rows) == MAX_MUTATIONS:
            self._kick.set()
        return out

    def _pull(self) -> None:
        """Pages from the cache's cursor until the hub has no more. While one page is written
        into the cache the next one is already asked for (the hub reads it and the wire
        carries it meanwhile; SQLite lets go of the GIL as it writes): a first sync of a
        large workspace takes about the longer of the two instead of their sum."""
        assert self.replica is not None
        if self._apply_poked():
            return

        def ask(cursor: str) -> dict[str, Any]:
            return self._call("pull", {"cursor": cursor, "limit": PULL_LIMIT})

        page = ask(changes.replica_cursor(self.replica))
        if not page.get("more"):  # the usual pull after a poke: one page, no thread
            with self._writing:
                changes.apply_changes(self.replica, page, local=True)
            self._pulled(page)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="unibox-pull") as pool:
            while True:
                ahead = pool.submit(ask, str(page["cursor"])) if page.get("more") else None
                with self._writing:
                    changes.apply_changes(self.replica, page, local=True)
                self._pulled(page)
                if ahead is None:
                    return
                self._measure_progress()
                page = ahead.result()

    def _apply_poked(self) -> bool:
        """Apply the pages pokes brought that follow on from the cache's cursor; True when
        the cache then holds every change the pokes announced (no pull needed)."""
        assert self.replica is not None
        with self._answered:
            poked, self._poked = self._poked, []
            head = self._poked_head
        if not poked:
            return False
        cursor = changes.replica_cursor(self.replica)
        # Each page follows on from the one before: applied in that chain, whatever order
        # the pokes were handled in (socket.io runs each event's handler in a thread of its
        # own, so two pokes close together can land here swapped).
        # A cache that fell behind (pokes came faster than it applied them) writes the
        # chain in one transaction.
        chain = changes.poked_chain(cursor, poked)
        if chain:
            cursor = str(chain[-1]["cursor"])
            with self._writing:
                changes.apply_chain(self.replica, chain, local=True)
            self._pulled(*chain)
        return cursor != "0" and changes.cursor_seq(cursor) >= head

    def _pulled(self, *pages: dict[str, Any]) -> None:
        """After pages were written: the access rule may have changed; the app looks now."""
        runs = [r for page in pages for r in page.get("runs") or page.get("changes") or ()]
        if any(r.get("table") in ACCESS_TABLES for r in runs if isinstance(r, dict)):
            self._access_dirty = True
        if runs and self.on_pulled is not None:
            self.on_pulled()

    def _follow_access(self) -> None:
        """The hub filters by access as rows change; what the cache holds from before a
        change of access is this side's to mend: drop the inboxes lost, backfill those
        gained (rows of them that did not change since the cursor never came)."""
        assert self.replica is not None
        if not self._access_dirty:
            return
        self._access_dirty = False  # set again by a pull that writes access rows meanwhile
        try:
            self._mend_access()
        except BaseException:
            self._access_dirty = True  # the next round tries again
            raise

    def _mend_access(self) -> None:
        assert self.replica is not None
        now = changes.visible_inboxes(self.replica, self.agent["id"])
        row = self.replica.execute(
            "SELECT value FROM replica_state WHERE key = 'inboxes'"
        ).fetchone()
        before = set(json.loads(row[0])) if row else None
        if before is not None and now != before:
            with self._writing:
                changes.purge_inboxes(self.replica, before - now)
            for inbox_id in sorted(now - before):
                cursor: str = "0"
                while True:
                    page = self._call(
                        "backfill", {"inbox_id": inbox_id, "cursor": cursor, "limit": PULL_LIMIT}
                    )
                    with self._writing:
                        changes.apply_backfill(self.replica, page)
                    cursor = str(page["cursor"])
                    if not page.get("more"):
                        break
        if before != now:
            with self._writing:
                self.replica.execute(
                    "INSERT INTO replica_state (key, value) VALUES ('inboxes', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (json.dumps(sorted(now)),),
                )

    def _settle(self, answers: list[tuple[dict[str, Any], int | None]]) -> None:
        assert self.replica is not None
        seqs = [s for _, s in answers if s is not None]
        wanted: dict[str, list[Any]] = {}
        for s in seqs:
            for table, keys in changes.written_at(self.replica, s).items():
                wanted.setdefault(table, []).extend(keys)
        fresh = self._call("rows", {"wanted": wanted})["changes"] if wanted else []
        with self._writing:
            changes.settle_rows(self.replica, seqs, fresh, [a["mutation_id"] for a, _ in answers])
        self._access_dirty = True  # the rows settled may be access rows
        with self._answered:
            for answer, _ in answers:
                self._answers[answer["mutation_id"]] = answer
            self._answered.notify_all()
        for answer, _ in answers:
            if answer.get("status") == "rejected" and self.on_rejected is not None:
                sent = self._sent.get(answer["mutation_id"], {})
                self.on_rejected(
                    str(answer.get("error")), str(sent.get("name")), dict(sent.get("args") or {})
                )

    def fetch_attachment(self, attachment_id: str) -> bytes:
        """An attachment's bytes from the hub (the change log carries only its metadata)."""
        if self._sio is None or not self._sio.connected:
            raise HubUnreachable("attachments come from the hub, which is not reachable now")
        import base64
        import binascii

        encoded = self._call("attachment", {"id": attachment_id}).get("base64")
        try:
            return base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except binascii.Error:
            raise HubUnreachable("the hub sent an attachment that is not base64") from None

    # ---------------------------------------------------------------- signals out

    def signal(self, kind: str, **fields: Any) -> None:
        """Presence, viewing, typing: fire and forget (nothing is queued while offline)."""
        if self._sio is not None and self._sio.connected:
            try:
                self._sio.emit("signal", {"kind": kind, **fields})
            except Exception:
                pass

    def wait_synced(self, timeout: float = 60.0) -> bool:
        """Block until a full round (push, pull, settle) finished since connecting."""
        return self.synced.wait(timeout)

    # ---------------------------------------------------------------- closing

    def _quit_socket(self) -> None:
        if self._sio is not None:
            try:
                self._sio.disconnect()
            except Exception:
                pass

    def close(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(10)
        self._quit_socket()
        if self.replica is not None:
            self.replica.close()
        if self.ws is not None:
            self.ws.close()


_SOCKET: Any = None


def _socket_class() -> Any:
    """socket.io's client class, with pokes and the answers to calls handled on the
    connection's read thread as they arrive, and `signals` on one thread in turn.
    engineio starts a new thread for every message it receives (~0.08 ms of CPU each, a
    third of it in the kernel) and the sync thread is kicked only after that thread got its
    turn: with fifty agents' apps on one machine every poke paid that fifty times, and one
    more hand-over between threads in its latency; with a thousand chat visitors the
    `signals` about them (~40 a second per agent) cost each app more than its pokes. Pokes
    and answers only note what came and wake a waiting thread (`_on_poke`, `_call`'s
    `answered`); handled in order, a poke can no longer overtake the one before. Signals
    wait on the app (its callback: `call_from_thread`), so not on the read thread, which
    the app's own calls need for their answers: on a thread of their own, which ends after
    two idle seconds. Anything else (connect, `bye`, ...) gets a new thread as before: its
    handlers may wait on the app too, and must not queue behind a signal waiting on it (a
    reconnect made on the app's thread waited a whole second for its connect packet)."""
    global _SOCKET
    if _SOCKET is None:
        import queue

        import engineio
        import socketio

        class Engine(engineio.Client):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._later: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
                self._later_lock = threading.Lock()
                self._draining = False

            def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
                if event == "message" and kwargs.get("run_async"):
                    if _quick(args[0]):
                        kwargs["run_async"] = False
                    elif _signals(args[0]):
                        self._later.put(args)
                        with self._later_lock:
                            if self._draining:
                                return None
                            self._draining = True
                        return self.start_background_task(self._drain)
                return super()._trigger_event(event, *args, **kwargs)

            def _drain(self) -> None:
                while True:
                    try:
                        args = self._later.get(timeout=2.0)
                    except queue.Empty:
                        with self._later_lock:
                            if self._later.empty():
                                self._draining = False
                                return
                        continue
                    super()._trigger_event("message", *args)  # in this thread

        class Socket(socketio.Client):  # type: ignore[misc]
            def _engineio_client_class(self) -> Any:
                return Engine

        _SOCKET = Socket
    return _SOCKET


def _signals(data: Any) -> bool:
    """A `signals` event of the default namespace."""
    return isinstance(data, str) and data.startswith('2["signals",')


def _quick(data: Any) -> bool:
    """A socket.io packet of the default namespace that is a `poke` event or an answer (an
    ACK: type 3, then its id)."""
    return isinstance(data, str) and (data.startswith('2["poke",') or data[:1] == "3")


def _refusal(error: BaseException, url: str) -> str:
    """One line for why connecting failed: the hub's refusal, or that it is unreachable."""
    text = " ".join(str(a) for a in getattr(error, "args", ()) if a) or str(error)
    if text.startswith("One or more namespaces failed"):
        return f"the hub at {url} refused the connection"
    detail = "" if text in ("Connection error", "") else f": {text[:200]}"
    return f"cannot reach the hub at {url} (is `unibox hub` running there?){detail}"
