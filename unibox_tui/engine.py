"""The engine: runs the channel adapters, delivers the outbox, turns channel data into core
commands.

It knows channels only through the adapter interface (backends/base.py), found by kind in
backends/registry.py: it asks each enabled channel to receive (polling ones), watches the
push connections they offer, and hands each due outbox item to its channel's adapter.

Two ways to run it:
- `await Engine(ws).run_once()`: receive on every enabled channel until caught up, deliver
  what is due, return (`unibox sync --once`).
- `await Engine(ws).run(stop)`: keep going: one task per channel (a push connection such as
  IMAP IDLE, reconnect with backoff, a slow poll as a safety net) and an outbox loop.
- `BackgroundEngine(ws).start()` / `.stop()`: the same on its own thread and event loop, for
  the TUI (call it from the app; nothing it does ever runs on the UI's loop).

The event loop never waits on the database: every query and command the engine runs goes to
one database thread (`_db`), and every blocking network call to a thread of its own.

Only one engine may work on a workspace at a time (`engine_lock`: a lock file beside a
SQLite workspace, an advisory lock on PostgreSQL, where it is the lease that hub nodes take
over from each other): two engines would race for the same outbox entry and a reply could
leave twice.

Delivery (core/outbox.py has the states): a reply is claimed with a lease, and just before
the adapter hands it to the provider (SMTP DATA) the hand-over is committed. A try that ends
before the hand-over is retried; one that ends after it without an answer (the connection
dropped, or this process died) is never sent again on its own: the reply becomes "delivery
uncertain" unless the channel finds the copy an earlier try left (the Sent folder), and an
agent resends it or marks it as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from .backends import registry
from .backends.base import (
    AdapterContext,
    ChannelAdapter,
    ChannelError,
    DeliveryResult,
    in_thread,
)
from .core import clock, outbox
from .core import commands as cmd
from .core import queries as q
from .core.db import Workspace
from .core.errors import UniboxError
from .core.workspace_key import WORKSPACE_KEY_SETTING, workspace_key  # noqa: F401

T = TypeVar("T")

ProgressFn = Callable[[str, int, int], None]  # (channel name, done, total)
LogFn = Callable[[str], None]


class EngineBusy(UniboxError):
    pass


@dataclass
class ChannelResult:
    channel_id: str
    name: str
    new: int = 0
    error: str | None = None
    # Seen on the server since the last sync; the inbox keeps messages as they arrived.
    changed_on_server: int = 0
    deleted_on_server: int = 0


class _LeaseLost(Exception):
    """Another engine took the entry over between our claim and the hand-over."""


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class OnceReport:
    channels: list[ChannelResult] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def ok(self) -> bool:
        return all(c.error is None for c in self.channels)


class EngineLock:
    """An advisory lock file next to the workspace: one engine per workspace."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + ".engine.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EngineBusy(BUSY) from None
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def alive(self) -> bool:
        """Still held? (A lock file stays held for as long as this process has it open.)"""
        return self.held

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


BUSY = (
    "another unibox engine (the app, `unibox sync` or another hub node) is already running "
    "on this workspace; it syncs the channels and delivers the outbox"
)
# The key of the PostgreSQL advisory lock an engine holds (7261 is the migrations').
PG_ENGINE_LOCK = 7262


class PgEngineLock:
    """The engine lock of a workspace on PostgreSQL: a session-level advisory lock, held on
    a connection of its own for as long as the engine runs. The server frees it when that
    connection ends, whatever ends it: a clean stop, a crash or `kill -9` (the kernel closes
    the socket, the server sees it at once), or a machine that went away (the server's TCP
    keepalives, set short on this connection, notice within ~25 s). So a lock is a lease
    that nobody has to renew: the hub nodes that do not hold it try again every few seconds
    (hub/server.py) and one of them takes over."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._con: Any = None

    def acquire(self) -> None:
        import psycopg

        from .core.postgres import conninfo

        con = psycopg.connect(conninfo(self.ws.url), autocommit=True, connect_timeout=10)  # type: ignore[attr-defined]
        try:
            # The server notices a holder whose machine vanished (no FIN) by keepalives.
            con.execute("SET tcp_keepalives_idle = 10")
            con.execute("SET tcp_keepalives_interval = 5")
            con.execute("SET tcp_keepalives_count = 3")
            got = con.execute("SELECT pg_try_advisory_lock(%s)", (PG_ENGINE_LOCK,)).fetchone()
        except BaseException:
            con.close()
            raise
        if not got or not got[0]:
            con.close()
            raise EngineBusy(BUSY)
        self._con = con

    @property
    def held(self) -> bool:
        return self._con is not None

    def alive(self) -> bool:
        """Is the lock still ours? False once its connection broke (the server has freed
        the lock then, and another node may hold it now): the engine must stop."""
        if self._con is None:
            return False
        try:
            self._con.execute("SELECT 1")
            return True
        except Exception:
            return False

    def release(self) -> None:
        if self._con is not None:
            with contextlib.suppress(Exception):
                self._con.close()  # ending the session frees the lock
            self._con = None


def engine_lock(ws: Workspace) -> EngineLock | PgEngineLock:
    """The workspace's engine lock: a file beside SQLite's, an advisory lock on PostgreSQL."""
    if ws.dialect == "postgresql":
        return PgEngineLock(ws)
    return EngineLock(ws.path)


class LeaseLost(UniboxError):
    """The engine lock was lost while the engine ran (its PostgreSQL connection broke)."""


class Engine:
    def __init__(
        self,
        ws: Workspace,
        *,
        progress: ProgressFn | None = None,
        log: LogFn | None = None,
        now: Callable[[], datetime] = clock.utcnow,
        ssl_context: Any = None,
        poll_seconds: float = 300.0,
        outbox_seconds: float = 1.0,
        idle_options: dict[str, float] | None = None,
        use_lock: bool = True,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """`on_stored`: called (on the engine's thread) after new messages were stored, so
        an app in the same process shows them now instead of at its next poll."""
        self.ws = ws
        self.on_stored = on_stored
        self.progress = progress
        self.log = log or (lambda _line: None)
        self.now = now
        self.ssl_context = ssl_context
        self.poll_seconds = poll_seconds
        self.outbox_seconds = outbox_seconds
        self.idle_options = idle_options or {}
        self._lock = engine_lock(ws) if use_lock else None
        self._adapters: dict[str, tuple[str, ChannelAdapter]] = {}  # channel id -> (key, it)
        self._status: dict[str, str | None] = {}
        self._watchers: set[Any] = set()
        self._workspace_key: str | None = None
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-db")
        self.slack: Any = None  # the Slack notifier (slack_notifier.py), made on entry

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Engine:
        if self._lock is not None:
            self._lock.acquire()
        self._slack_notifier()  # events from now on are news (the engine is now the one)
        return self

    def _slack_notifier(self) -> Any:
        """The Slack notifier; made (it reads where to start) on the engine's database
        thread, never on the thread of the event loop."""
        if self.slack is None:
            from .slack_notifier import SlackNotifier

            made = self._db_thread.submit(SlackNotifier, self.ws, log=self.log)
            self.slack = made.result()
        return self.slack

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.stop()
        for _key, adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
        self._db_thread.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database call (a query, a command) off the event loop, on the engine's one
        database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, functools.partial(fn, *args, **kwargs))

    # --- channels --------------------------------------------------------------------------
    def workspace_key(self) -> str:
        if self._workspace_key is None:
            self._workspace_key = workspace_key(self.ws)
        return self._workspace_key

    def channels(self) -> list[q.ChannelRow]:
        """The enabled channels this engine runs: those whose kind has an adapter that
        receives or delivers. Demo channels have no server: the demo's own stream
        (core.demo) delivers for them."""
        rows = []
        for c in q.channels(self.ws):
            if not c.enabled or not registry.connected(c.kind, c.settings):
                continue
            cls = registry.adapter_class(c.kind)
            if cls.pulls or cls.delivers:
                rows.append(c)
        return rows

    def adapter(self, row: q.ChannelRow) -> ChannelAdapter:
        """The channel's adapter, rebuilt when its settings change. Blocking (it may read the
        keyring); raises UniboxError, e.g. when the password cannot be found."""
        key = _row_key(row)
        cached = self._adapters.get(row.id)
        if cached and cached[0] == key:
            return cached[1]
        if cached:
            cached[1].close()
        context = AdapterContext(self.workspace_key(), self.ssl_context)
        adapter = registry.adapter_class(row.kind).from_channel(row, context)
        self._adapters[row.id] = (key, adapter)
        return adapter

    def set_status(self, row: q.ChannelRow, status: str) -> None:
        known = self._status.get(row.id, row.status)
        if known != status:
            cmd.update_channel(self.ws, row.id, status=status)
            self._status[row.id] = status
            if status != "ok":
                self.log(f"{row.name}: {status}")

    # --- receiving -------------------------------------------------------------------------
    def sync_channel(self, row: q.ChannelRow) -> ChannelResult:
        """One blocking receive pass of one channel (run it on a thread); the status records
        how it went."""
        result = ChannelResult(row.id, row.name)
        try:
            adapter = self.adapter(row)
            if not adapter.pulls:
                return result
            key = adapter.sync_key()
            state = q.sync_state(self.ws, row.id, key)

            def store(items: Any, new_state: dict[str, Any]) -> None:
                stored = cmd.ingest_many(self.ws, items, sync_state=(row.id, key, new_state))
                # What was stored, not what was fetched: after a UIDVALIDITY reset every
                # message comes again and is recognised by its Message-ID.
                new = sum(not r.duplicate for r in stored)
                result.new += new
                if new and self.on_stored is not None:
                    self.on_stored()

            def progress(done: int, total: int) -> None:
                if self.progress is not None:
                    self.progress(row.name, done, total)

            report = adapter.receive(state, store, progress)
            result.changed_on_server = report.changed_on_server
            result.deleted_on_server = report.deleted_on_server
        except UniboxError as error:  # ChannelError included
            result.error = str(error)
            self.set_status(row, str(error))
            return result
        self.set_status(row, "ok")
        return result

    # --- sending ---------------------------------------------------------------------------
    async def recover(self) -> None:
        """On start: replies that an engine which died had handed over are settled now
        (uncertain, or sent when their copy is found) instead of after their lease. Only
        with the engine lock held: then that engine is certainly gone."""
        if self._lock is not None and self._lock.held:
            await self._db(outbox.release_handed_over, self.ws, self.now())

    async def deliver_due(self) -> DeliveryReport:
        report = DeliveryReport()
        rows = {c.id: c for c in await self._db(self.channels)}
        kinds = tuple(sorted({c.kind for c in rows.values()}))
        if not kinds:
            return report
        seen: set[str] = set()
        while True:
            due = await self._db(outbox.due, self.ws, self.now(), kinds=kinds)
            items = [i for i in due if i.entry_id not in seen]
            if not items:
                return report
            for item in items:
                seen.add(item.entry_id)
                row = rows.get(item.channel_id)
                if row is not None:
                    await self.deliver(row, item, report)

    async def deliver(
        self, row: q.ChannelRow, item: outbox.OutboxItem, report: DeliveryReport
    ) -> None:
        entry = item.entry_id

        async def retry(
            error: str,
            after: float | None = None,
            keep_handover: bool = False,
            result: DeliveryResult | None = None,
        ) -> None:
            wait = after if after is not None else outbox.backoff(item.attempts + 1)
            next_at = self.now() + timedelta(seconds=wait)
            parts = result.parts if result is not None else None
            external_id = result.external_id if result is not None else None
            await self._db(
                outbox.mark_retry, self.ws, entry, error, next_at, keep_handover, parts,
                external_id,
            )  # fmt: skip
            report.retrying += 1
            report.errors.append(error)
            self.log(f"{row.name}: reply not sent yet, will retry: {error}")

        try:
            adapter = await self._db(self.adapter, row)
        except UniboxError as error:  # e.g. the password cannot be found
            await retry(str(error), keep_handover=item.handed_over)
            return
        if not await self._db(outbox.claim, self.ws, entry, self.now()):
            return  # another engine is sending it
        if item.attempts > 0:
            # Tried before: maybe it arrived and we stopped before recording it.
            try:
                found = await adapter.delivered_before(item)
            except ChannelError as error:
                await retry(
                    f"cannot check whether an earlier try arrived: {error}",
                    keep_handover=item.handed_over,
                )
                return
            if found:
                await self._db(outbox.mark_sent, self.ws, entry, found, self.now())
                report.sent += 1
                return
        if item.handed_over:
            # An earlier try handed it over and never learned the answer: it may have arrived.
            await self._record(
                row, item, DeliveryResult.uncertain(outbox.UNCERTAIN_AFTER_CRASH), report
            )
            return

        handed_over = False

        async def handover(delivered: dict[str, str] | None = None) -> None:
            nonlocal handed_over
            if not await self._db(outbox.handed_over, self.ws, entry, self.now(), delivered):
                raise _LeaseLost
            handed_over = True

        try:
            result = await adapter.deliver(item, handover)
        except _LeaseLost:
            return  # the lease ran out and another engine has it now
        except Exception as error:  # a bug must not leave the entry stuck in `sending`
            detail = (
                str(error)
                if isinstance(error, UniboxError)
                else (f"unexpected {type(error).__name__}: {error}")
            )
            result = (
                DeliveryResult.uncertain(detail) if handed_over else DeliveryResult.retry(detail)
            )
        if result.channel_problem:
            await self._db(self.set_status, row, result.channel_problem)
        elif result.outcome == "sent" and self._status.get(row.id, row.status) not in (None, "ok"):
            await self._db(self.set_status, row, "ok")  # e.g. re-authorised since
        if result.outcome == "retry":
            await retry(result.reason or "not sent", result.after, result=result)
            return
        await self._record(row, item, result, report)
        if result.outcome == "sent":
            try:
                await adapter.after_delivery(item, result)
            except Exception as error:  # best effort: the reply is sent and recorded
                self.log(f"{row.name}: after sending: {error}")

    async def _record(
        self,
        row: q.ChannelRow,
        item: outbox.OutboxItem,
        result: DeliveryResult,
        report: DeliveryReport,
    ) -> None:
        entry = item.entry_id
        if result.outcome == "sent":
            await self._db(
                outbox.mark_sent, self.ws, entry, result.external_id, self.now(), result.parts
            )
            report.sent += 1
        elif result.outcome == "failed":
            reason = result.reason or "not delivered"
            await self._db(
                outbox.mark_failed, self.ws, entry, reason, result.external_id, result.parts
            )
            report.failed += 1
            report.errors.append(reason)
            self.log(f"{row.name}: reply failed: {reason}")
        elif result.outcome == "uncertain":
            reason = result.reason or outbox.UNCERTAIN_AFTER_CRASH
            await self._db(
                outbox.mark_uncertain, self.ws, entry, reason, result.external_id, result.parts
            )
            report.uncertain += 1
            report.errors.append(reason)
            self.log(f"{row.name}: reply delivery uncertain: {reason}")

    # --- modes -----------------------------------------------------------------------------
    async def run_once(self) -> OnceReport:
        report = OnceReport()
        await self.recover()
        await self._db(cmd.wake_due, self.ws, now=self.now())
        await self._db(cmd.expire_bot_sessions, self.ws, self.now())
        for row in await self._db(self.channels):
            if registry.adapter_class(row.kind).pulls:
                sync = functools.partial(self.sync_channel, row)
                report.channels.append(await in_thread(sync, "sync"))
        report.delivery = await self.deliver_due()
        return report

    async def run(self, stop: asyncio.Event, *, reload_seconds: float = 5.0) -> None:
        tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}
        await self.recover()
        outbox_task = asyncio.create_task(self._outbox_loop(stop))
        slack_task = asyncio.create_task(self._slack_loop(stop))
        try:
            while not stop.is_set():
                rows = {
                    r.id: r
                    for r in await self._db(self.channels)
                    if registry.adapter_class(r.kind).pulls
                }
                for channel_id, (key, task) in list(tasks.items()):
                    row = rows.get(channel_id)
                    if row is None or _row_key(row) != key or task.done():
                        task.cancel()
                        del tasks[channel_id]
                for channel_id, row in rows.items():
                    if channel_id not in tasks:
                        task = asyncio.create_task(self._channel_loop(row, stop))
                        tasks[channel_id] = (_row_key(row), task)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), reload_seconds)
                if self._lock is not None and not await asyncio.to_thread(self._lock.alive):
                    # Another engine may hold it now: stop. (Until this turn notices, both
                    # may run for a few seconds: an outbox entry is still sent by the one
                    # engine that claimed it, and mail stored twice is stored once.)
                    raise LeaseLost("the engine lock was lost (its database connection broke)")
        finally:
            for watcher in list(self._watchers):
                watcher.stop()
            for _key, task in tasks.values():
                task.cancel()
            outbox_task.cancel()
            slack_task.cancel()
            await asyncio.gather(
                outbox_task, slack_task, *(t for _k, t in tasks.values()), return_exceptions=True
            )

    async def _outbox_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._db(cmd.wake_due, self.ws)  # snoozes that ended
                await self._db(cmd.expire_bot_sessions, self.ws, self.now())  # idle bots
                await self.deliver_due()
            except UniboxError as error:
                self.log(f"outbox: {error}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.outbox_seconds)

    async def _slack_loop(self, stop: asyncio.Event) -> None:
        """Slack notifications (slack_notifier.py): read after commit, posted off the loop."""
        notifier = self._slack_notifier()
        while not stop.is_set():
            try:
                await asyncio.to_thread(notifier.tick, time.monotonic())
            except UniboxError as error:
                self.log(f"slack: {error}")
            except Exception as error:  # a notifier bug must not stop mail; never the URL
                self.log(f"slack: unexpected {type(error).__name__}")
            await _sleep(stop, notifier.interval)

    async def _channel_loop(self, row: q.ChannelRow, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        idle_task = asyncio.create_task(self._idle_loop(row, wake, stop))
        delay = 1.0
        try:
            while not stop.is_set():
                result = await in_thread(lambda: self.sync_channel(row), "sync")
                if result.error is not None:
                    await _sleep(stop, _jitter(delay))
                    delay = min(delay * 2, 300.0)
                    continue
                delay = 1.0
                waiter = asyncio.create_task(wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
                wake.clear()
        finally:
            idle_task.cancel()
            await asyncio.gather(idle_task, return_exceptions=True)

    async def _idle_loop(self, row: q.ChannelRow, wake: asyncio.Event, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        delay = 1.0
        while not stop.is_set():
            try:
                adapter = await self._db(self.adapter, row)
            except UniboxError:
                await _sleep(stop, 60)
                continue
            watcher = adapter.watcher(
                lambda: loop.call_soon_threadsafe(wake.set), **self.idle_options
            )
            if watcher is None:  # no push connection: the poll is all there is
                return
            self._watchers.add(watcher)
            try:
                await in_thread(watcher.run, "idle")
                delay = 1.0
            except ChannelError as error:
                self.log(f"{row.name}: push connection lost ({error}); reconnecting")
                await _sleep(stop, _jitter(delay))
                delay = min(delay * 2, 300.0)
                wake.set()  # catch up on anything that arrived while we were away
            except asyncio.CancelledError:
                watcher.stop()
                raise
            finally:
                self._watchers.discard(watcher)


def _row_key(row: q.ChannelRow) -> str:

    return row.kind + json.dumps(row.settings, sort_keys=True) + (row.address or "")


def _jitter(seconds: float) -> float:
    return seconds * (0.8 + 0.4 * random.random())


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class BackgroundEngine:
    """`Engine.run()` on a daemon thread with its own event loop.

    `start()` returns at once; `error` holds what stopped it early (e.g. EngineBusy when
    `unibox sync` already runs on the workspace); `stop()` asks it to finish and waits.
    """

    def __init__(self, ws: Workspace, **options: Any) -> None:
        self.ws = ws
        self.options = options
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="unibox-engine", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:
            self.error = error
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        with Engine(self.ws, **self.options) as engine:
            self._ready.set()
            await engine.run(self._stop)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
