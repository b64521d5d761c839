"""A customer's web site for widget tests: a page on its own loopback origin (another port
than the hub's, so the widget really runs cross-origin in its iframe) that embeds the chat
loader from the hub, optionally with a signed-in user."""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Site:
    def __init__(self, hub_url: str, channel_id: str, user: dict[str, Any] | None = None) -> None:
        self.hub_url = hub_url
        self.channel_id = channel_id
        self.user = user
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.page().encode()
                self.send_response(200 if self.path.startswith("/shop") else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/shop/pricing?plan=pro"

    def page(self) -> str:
        user = ""
        if self.user is not None:
            user = f"<script>window.uniboxChatUser = {json.dumps(self.user)};</script>"
        src = html.escape(f"{self.hub_url}/widget/{self.channel_id}.js")
        return (
            "<!doctype html><html><head><title>Pricing - Shop</title></head><body>"
            f'<h1>Pricing</h1>{user}<script src="{src}" async></script></body></html>'
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
