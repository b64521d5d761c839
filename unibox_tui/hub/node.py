"""What one hub node keeps to itself when several serve one workspace (issue 11 §2).

Node-local files: the webhook spool (hub/meta_spool.py) and the browser apps' caches
(hub/webapp_http.py). For a workspace file they sit beside it, as they always did
(`ws.db.webhooks`, `ws.db.webapp`); for a workspace on PostgreSQL in a directory of this
machine's (`--state-dir`, by default one per workspace under platformdirs' data dir). Two
nodes must not share one: each spool is drained by the node that wrote it, so the node
takes a lock in it (`node.lock`) and a second node pointed at the same place is refused.

The channels' lease (`run_channels`): exactly one engine per workspace runs the channel
adapters and the outbox (engine.engine_lock: a lock file for SQLite, a PostgreSQL advisory
lock on a connection of its own). A node that finds it taken tries again every
LEASE_RETRY seconds; the holder's lock goes when its process or connection does, so a node
that dies is replaced within that period (plus the keepalive time when its whole machine
vanished).

The cross-node wake (`listen_changes`): every write on PostgreSQL notifies `unibox_changes`
on commit (core/db.Tx.seq), whichever process wrote it: a node's socket, another node, the
engine, an admin's CLI. Each node listens and pokes its own agents at once; its watcher's
poll of the change counter stays as the safety net. Why the database and not Redis pub/sub:
the notification is sent by the commit itself, so no writer can forget it (the CLI has no
Redis), it is never seen before the rows it announces, and it works without Redis.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InvalidRequest

log = logging.getLogger("unibox.hub")
LEASE_RETRY = 5.0  # seconds between a spare node's tries to take the channels
CHANNEL = "unibox_changes"  # PostgreSQL NOTIFY channel of committed writes


@dataclass
class NodeState:
    """Where this node's own files live: `base/name` in a directory, or `base.name` beside a
    workspace file (`beside=True`)."""

    base: Path
    beside: bool = False
    _fd: int | None = None

    def path(self, name: str) -> Path:
        if self.beside:
            return self.base.with_name(f"{self.base.name}.{name}")
        return self.base / name

    def claim(self) -> None:
        """Make the place and lock it for this node (released when the process ends)."""
        if not self.beside:
            try:
                self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as e:
                raise InvalidRequest(f"cannot use --state-dir {self.base}: {e.strerror}") from e
        lock = self.path("node.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            where = self.base if not self.beside else f"{self.base} (beside it)"
            raise InvalidRequest(
                f"another hub node keeps its files in {where}: give each node its own "
                "--state-dir (README: Several hub nodes)"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def node_state(ws: Any, state_dir: str | None) -> NodeState:
    """`--state-dir`, else beside a workspace file, else this machine's data dir for the
    workspace on a database server (one directory per database URL)."""
    if state_dir:
        return NodeState(Path(state_dir).expanduser().resolve())
    if ws.dialect == "sqlite":
        return NodeState(Path(ws.path), beside=True)
    import platformdirs

    name = hashlib.sha256(str(ws.path).encode()).hexdigest()[:16]  # ws.path: no password
    return NodeState(platformdirs.user_data_path("unibox") / "hub" / name)


async def run_channels(
    hub: Any,
    started: Callable[[Any], Awaitable[None]],
    stopped: Callable[[], Awaitable[None]],
) -> None:
    """Hold the channels' lease while the hub runs: start the engine when the lease is
    free, `started(engine)` once it runs, `stopped()` when it ended (its lease lost), then
    try again. Ends (cancelled) at the hub's shutdown."""
    from ..engine import BackgroundEngine, EngineBusy

    loop = asyncio.get_running_loop()
    waiting_said = False
    while not hub._closing:
        engine = BackgroundEngine(hub.ws)
        starting = loop.run_in_executor(None, engine.start)
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:  # the hub stops while the engine starts: stop it
            await starting
            await loop.run_in_executor(None, engine.stop)
            raise
        if engine.error is None and engine.running:
            log.info("this node runs the channels and the outbox")
            waiting_said = False
            await started(engine)
            while engine.running and not hub._closing:
                await asyncio.sleep(1.0)
            if hub._closing:
                return
            log.warning("the channels stopped on this node: %s", engine.error)
            await stopped()
        elif isinstance(engine.error, EngineBusy):
            if not waiting_said:
                log.info("another node runs the channels; this one takes over if it stops")
                waiting_said = True
        else:
            log.warning("channels not running: %s", engine.error)
            return
        await asyncio.sleep(LEASE_RETRY)


async def listen_changes(url: str, wake: Callable[[int | None], None]) -> None:
    """Call `wake(change number)` on every committed write to the workspace on PostgreSQL
    (any process), and `wake(None)` when what committed is not known (on each connect: what
    committed while we were not listening), reconnecting when the connection breaks. Runs
    until cancelled."""
    import psycopg

    from ..core.postgres import conninfo

    delay = 1.0
    while True:
        try:
            con = await psycopg.AsyncConnection.connect(conninfo(url), autocommit=True)
            async with con:
                await con.execute(f"LISTEN {CHANNEL}")
                delay = 1.0
                wake(None)  # what committed while we were not listening
                async for note in con.notifies():
                    wake(int(note.payload) if note.payload.isdigit() else None)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the server restarted, the network broke: the watcher polls
            log.warning("listening for changes failed (%s); again in %.0f s", e, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
