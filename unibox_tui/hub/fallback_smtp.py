"""The hub's SMTP receiver for fallback addresses (backends/fallback.py): while the hub runs
its channels, each `listen` address of an enabled fallback channel has an aiosmtpd server on
the hub's event loop, and mail to a channel's address is stored like team e-mail.

Mail is checked while the sending server waits for our answer, so what we refuse it bounces
and nothing is stored: a recipient that is none of our addresses (550 at RCPT), a message
over the size limit (552, aiosmtpd counts as it reads), one that is not mail (550 5.6.0).
A message we took is stored before we answer 250 (on the hub's writer thread, like every
write), so a 250 means it is in the inbox; a failure to store answers 451 and the sender
tries again later. Stored once per Message-ID, so a retried delivery is harmless.

The channels are read again every few seconds: a fallback channel added, changed, disabled
or removed while the hub runs takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..backends.fallback import FallbackChannel
    from .server import Hub

log = logging.getLogger("unibox.hub")
RELOAD_SECONDS = 5.0


@dataclass
class Listener:
    """One SMTP server on one HOST:PORT, for the fallback channels that listen there."""

    listen: str
    server: asyncio.AbstractServer | None = None
    routes: dict[str, FallbackChannel] = field(default_factory=dict)  # address -> adapter
    limit: int = 0


class Receivers:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.listeners: dict[str, Listener] = {}
        self._task: asyncio.Task[None] | None = None
        self._seen: str | None = None
        self._key: str | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for listener in self.listeners.values():
            await _close(listener)
        self.listeners.clear()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fallback receivers")

    async def reload(self) -> None:
        rows = await self.hub._read(_fallback_channels, self.hub.ws)
        seen = json.dumps(rows, sort_keys=True)
        if seen == self._seen:
            return
        self._seen = seen
        if rows and self._key is None:
            from ..engine import workspace_key

            self._key = await self.hub._write(workspace_key, self.hub.ws)
        from ..backends.fallback import FallbackChannel

        wanted: dict[str, Listener] = {}
        for channel_id, name, address, settings in rows:
            listener = wanted.setdefault(settings["listen"], Listener(settings["listen"]))
            adapter = FallbackChannel.receiver(channel_id, name, address, settings, self._key or "")
            listener.routes[address.lower()] = adapter
            listener.limit = max(listener.limit, adapter.max_bytes)
        for listen, old in list(self.listeners.items()):
            new = wanted.get(listen)
            if new is None or new.limit != old.limit:
                await _close(old)
                del self.listeners[listen]
            else:
                old.routes = new.routes  # same socket, new addresses: the next mail sees them
        for listen, listener in wanted.items():
            if listen not in self.listeners:
                await self._open(listener)

    async def _open(self, listener: Listener) -> None:
        from aiosmtpd.smtp import SMTP

        from ..backends.fallback import parse_listen

        host, port = parse_listen(listener.listen)
        handler = _Handler(self.hub, listener)
        try:
            listener.server = await asyncio.get_running_loop().create_server(
                lambda: SMTP(
                    handler,
                    data_size_limit=listener.limit,
                    hostname="unibox",
                    ident="unibox hub",
                    timeout=60,
                ),
                host,
                port,
            )
        except OSError as error:
            problem = f"cannot receive mail on {listener.listen}: {error.strerror or error}"
            log.warning("%s", problem)
            await self._status(listener, problem)
            return
        self.listeners[listener.listen] = listener
        log.info("receiving mail for %s on %s", ", ".join(listener.routes), listener.listen)
        await self._status(listener, "ok")

    async def _status(self, listener: Listener, status: str) -> None:
        from ..core import commands as cmd

        for adapter in listener.routes.values():
            with contextlib.suppress(Exception):
                await self.hub.ingest(
                    lambda a=adapter: cmd.update_channel(self.hub.ws, a.channel_id, status=status)
                )


async def _close(listener: Listener) -> None:
    if listener.server is not None:
        listener.server.close()
        with contextlib.suppress(Exception):
            await listener.server.wait_closed()
        listener.server = None


def _fallback_channels(ws: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, name, address, settings FROM channel "
            "WHERE kind = 'fallback' AND enabled = 1 ORDER BY id"
        ).all()
    return [(r[0], r[1], r[2] or "", json.loads(r[3] or "{}")) for r in rows if r[2]]


class _Handler:
    """aiosmtpd's hooks: who we take mail for, and what we do with it."""

    def __init__(self, hub: Hub, listener: Listener) -> None:
        self.hub = hub
        self.listener = listener

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() not in self.listener.routes:
            return f"550 5.1.1 <{address[:200]}>: no such address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from ..backends.fallback import BadMail
        from ..core import commands as cmd

        raw = bytes(envelope.original_content or envelope.content or b"")
        adapters = {
            a.channel_id: a
            for a in (self.listener.routes.get(r.lower()) for r in envelope.rcpt_tos)
            if a is not None
        }
        if not adapters:
            return "554 5.5.1 no valid recipients"
        items = []
        try:
            for adapter in adapters.values():
                item = await asyncio.to_thread(adapter.accept, raw)
                if item is not None:
                    items.append(item)
        except BadMail as bad:
            return bad.reply
        if not items:
            return "250 2.0.0 OK"  # our own reply came back: nothing to store
        try:
            await self.hub.ingest(cmd.ingest_many, self.hub.ws, items)
        except Exception:
            log.exception("storing mail for %s", ", ".join(envelope.rcpt_tos))
            return "451 4.3.0 could not store the message; try again later"
        return "250 2.0.0 OK: stored"
