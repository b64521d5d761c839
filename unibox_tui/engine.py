"""The engine: runs the channel adapters, delivers the outbox, turns mail into core commands.

Two ways to run it:
- `await Engine(ws).run_once()`: sync every enabled channel until caught up, deliver what is
  due, return (`unibox sync --once`).
- `await Engine(ws).run(stop)`: keep going: one task per channel (IDLE push on a dedicated
  connection, reconnect with backoff, a slow poll as a safety net) and an outbox loop.
- `BackgroundEngine(ws).start()` / `.stop()`: the same on its own thread and event loop, for
  the TUI (call it from the app; nothing it does ever runs on the UI's loop, not even the
  short SQLite writes of the outbox).

Only one engine may work on a workspace at a time (a lock file beside the database): two
engines would race for the same outbox entry and a reply could leave twice.

Delivery, exactly once as far as SMTP allows: the Message-ID is derived from the stored
message (tokens.py), so a retry sends the same message. An entry that was already tried
(attempts > 0, e.g. left in `sending` by a crash) is first looked up in the Sent folder by
that Message-ID; if a copy is there it was sent and is marked sent without sending again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .core import clock, outbox
from .core import commands as cmd
from .core import queries as q
from .core.db import Workspace
from .core.errors import UniboxError

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


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
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
            raise EngineBusy(
                "another unibox engine (the app or `unibox sync`) is already running on this "
                "workspace; it syncs the channels and delivers the outbox"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _in_thread(fn: Callable[[], T], name: str) -> Awaitable[T]:
    """Run a blocking call on its own daemon thread (long IDLEs must not fill the loop's
    default executor) and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (fn(), None)
        except BaseException as error:
            outcome = (None, error)
        with contextlib.suppress(RuntimeError):  # the loop closed while we ran: nobody waits
            loop.call_soon_threadsafe(_settle, future, *outcome)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
    ) -> None:
        self.ws = ws
        self.progress = progress
        self.log = log or (lambda _line: None)
        self.now = now
        self.ssl_context = ssl_context
        self.poll_seconds = poll_seconds
        self.outbox_seconds = outbox_seconds
        self.idle_options = idle_options or {}
        self._lock = EngineLock(ws.path) if use_lock else None
        self._adapters: dict[str, tuple[str, Any]] = {}  # channel id -> (settings key, adapter)
        self._status: dict[str, str | None] = {}
        self._watchers: set[Any] = set()
        self._thread_key: str | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Engine:
        if self._lock is not None:
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.stop()
        for _key, adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
        if self._lock is not None:
            self._lock.release()

    # --- channels --------------------------------------------------------------------------
    def thread_key(self) -> str:
        if self._thread_key is None:
            from .backends.email import tokens

            key = self.ws.setting(tokens.SETTING_KEY)
            if not key:
                key = tokens.new_key()
                self.ws.set_setting(tokens.SETTING_KEY, key)
            self._thread_key = str(key)
        return self._thread_key

    def email_channels(self) -> list[q.ChannelRow]:
        # Demo channels have no server: the demo's own stream (core.demo) delivers for them.
        return [
            c
            for c in q.channels(self.ws)
            if c.kind == "email" and c.enabled and not c.settings.get("demo")
        ]

    def adapter(self, row: q.ChannelRow) -> Any:
        """The channel's adapter, rebuilt when its settings change. Raises UniboxError when
        the password cannot be found."""
        import json

        from .backends.email.channel import EmailChannel
        from .backends.email.settings import EmailSettings
        from .secrets import resolve_secret

        key = json.dumps(row.settings, sort_keys=True) + (row.address or "")
        cached = self._adapters.get(row.id)
        if cached and cached[0] == key:
            return cached[1]
        if cached:
            cached[1].close()
        settings = EmailSettings.from_dict(row.settings, row.address)
        password = resolve_secret(settings.secret_name(), settings.password_source)
        adapter = EmailChannel(
            row.id, settings, password, self.thread_key(), ssl_context=self.ssl_context
        )
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
        """One blocking sync pass of one channel; the status records how it went."""
        from .backends.email.errors import ChannelError

        result = ChannelResult(row.id, row.name)
        try:
            adapter = self.adapter(row)
            key = adapter.settings.sync_key()
            state = q.sync_state(self.ws, row.id, key)

            def store(items: list[cmd.Incoming], new_state: dict[str, Any]) -> None:
                stored = cmd.ingest_many(self.ws, items, sync_state=(row.id, key, new_state))
                # What was stored, not what was fetched: after a UIDVALIDITY reset every
                # message comes again and is recognised by its Message-ID.
                result.new += sum(not r.duplicate for r in stored)

            def progress(done: int, total: int) -> None:
                if self.progress is not None:
                    self.progress(row.name, done, total)

            report = adapter.sync(state, store, progress)
            result.changed_on_server = report.flag_changes
            result.deleted_on_server = report.vanished
        except (ChannelError, UniboxError) as error:
            result.error = str(error)
            self.set_status(row, str(error))
            return result
        self.set_status(row, "ok")
        return result

    # --- sending ---------------------------------------------------------------------------
    async def deliver_due(self) -> DeliveryReport:
        report = DeliveryReport()
        rows = {c.id: c for c in self.email_channels()}
        seen: set[str] = set()
        while True:
            items = [
                i
                for i in outbox.due(self.ws, self.now(), kinds=("email",))
                if i.entry_id not in seen
            ]
            if not items:
                return report
            for item in items:
                seen.add(item.entry_id)
                row = rows.get(item.channel_id)
                if row is not None:
                    await self.deliver(row, item, report)

    async def deliver(self, row: q.ChannelRow, item: Any, report: DeliveryReport) -> None:
        from .backends.email.errors import ChannelError

        def retry(error: str) -> None:
            wait = outbox.backoff(item.attempts + 1)
            outbox.mark_retry(self.ws, item.entry_id, error, self.now() + timedelta(seconds=wait))
            report.retrying += 1
            report.errors.append(error)
            self.log(f"{row.name}: reply not sent yet, will retry: {error}")

        try:
            adapter = self.adapter(row)
            external_id, msg = adapter.build(item)
        except ChannelError as error:
            outbox.mark_failed(self.ws, item.entry_id, str(error))
            report.failed += 1
            return
        except UniboxError as error:  # e.g. the password cannot be found
            retry(str(error))
            return
        if not outbox.claim(self.ws, item.entry_id, self.now()):
            return  # another engine is sending it
        if item.attempts > 0:
            # Tried before: maybe it left and we crashed before recording it.
            try:
                found = await _in_thread(lambda: adapter.already_sent(external_id), "sent-check")
            except ChannelError as error:
                retry(f"cannot check the Sent folder before retrying: {error}")
                return
            if found:
                outbox.mark_sent(self.ws, item.entry_id, external_id, self.now())
                report.sent += 1
                return
        try:
            await adapter.send(msg)
        except (ChannelError, UniboxError) as error:
            if getattr(error, "transient", True):
                retry(str(error))
            else:
                outbox.mark_failed(self.ws, item.entry_id, str(error))
                report.failed += 1
                report.errors.append(str(error))
                self.log(f"{row.name}: reply failed: {error}")
            return
        except Exception as error:  # a bug must not leave the entry stuck in `sending`
            retry(f"unexpected {type(error).__name__}: {error}")
            return
        outbox.mark_sent(self.ws, item.entry_id, external_id, self.now())
        report.sent += 1
        await _in_thread(lambda: adapter.save_sent_copy(msg), "sent-copy")

    # --- modes -----------------------------------------------------------------------------
    async def run_once(self) -> OnceReport:
        report = OnceReport()
        cmd.wake_due(self.ws, now=self.now())
        for row in self.email_channels():
            report.channels.append(await _in_thread(partial(self.sync_channel, row), "sync"))
        report.delivery = await self.deliver_due()
        return report

    async def run(self, stop: asyncio.Event, *, reload_seconds: float = 5.0) -> None:
        tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}
        outbox_task = asyncio.create_task(self._outbox_loop(stop))
        try:
            while not stop.is_set():
                rows = {r.id: r for r in self.email_channels()}
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
        finally:
            for watcher in list(self._watchers):
                watcher.stop()
            for _key, task in tasks.values():
                task.cancel()
            outbox_task.cancel()
            await asyncio.gather(
                outbox_task, *(t for _k, t in tasks.values()), return_exceptions=True
            )

    async def _outbox_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await _in_thread(lambda: cmd.wake_due(self.ws), "wake")  # snoozes that ended
                await self.deliver_due()
            except UniboxError as error:
                self.log(f"outbox: {error}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.outbox_seconds)

    async def _channel_loop(self, row: q.ChannelRow, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        idle_task = asyncio.create_task(self._idle_loop(row, wake, stop))
        delay = 1.0
        try:
            while not stop.is_set():
                result = await _in_thread(lambda: self.sync_channel(row), "sync")
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
        from .backends.email.errors import ChannelError

        loop = asyncio.get_running_loop()
        delay = 1.0
        while not stop.is_set():
            try:
                adapter = self.adapter(row)
            except UniboxError:
                await _sleep(stop, 60)
                continue
            watcher = adapter.watcher(
                lambda: loop.call_soon_threadsafe(wake.set), **self.idle_options
            )
            self._watchers.add(watcher)
            try:
                await _in_thread(watcher.run, "idle")
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
    import json

    return json.dumps(row.settings, sort_keys=True) + (row.address or "")


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
