"""The hub's HTTP side: `/healthz` and the mount points of the channels customers reach
directly (the chat widget, Meta's webhooks, form pages).

Each channel's HTTP module is listed in `ROUTE_MODULES` and holds one function,
`routes(hub) -> list[starlette route]`; the hub mounts them all under one Starlette app,
next to the socket.io server. A route that stores something calls `hub.ingest(fn, ...)`:
the write runs on the hub's one writer thread (the same order as agents' commands) and the
agents are poked at once, not at the watcher's next turn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Hub

# "module" (under unibox_tui.hub) -> its routes(hub). One line per channel's HTTP module.
ROUTE_MODULES: tuple[str, ...] = ("forms_http", "meta_http", "chat_http", "webapp_http")


def http_app(hub: Hub) -> Any:
    """The Starlette app the socket.io ASGI app hands every non-socket request to."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .. import __version__
    from .protocol import PROTOCOL

    async def healthz(_request: Any) -> JSONResponse:
        return JSONResponse(
            {
                "ok": True,
                "version": __version__,
                "protocol": PROTOCOL,
                "head": hub.head,
                "agents_connected": len({s.agent_id for s in hub.sessions.values()}),
                # This node holds the channels' lease (runs them and the outbox): with
                # several nodes, exactly one says so (hub/node.py).
                "channels": hub.engine is not None,
            }
        )

    routes: list[Any] = [Route("/healthz", healthz)]
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        routes.extend(module.routes(hub))
    return Starlette(routes=routes)
