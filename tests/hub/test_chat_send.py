"""A visitor's `send` answered with the conversation since the widget's cursor (`since`), as a
`sync` from there would answer, so the widget needs no sync round after each send
(hub/chat_http.py on_send; widget.js takes the view)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import socketio

from tests.waiting import wait_for
from unibox_tui.core.ids import new_id

from .conftest import Served
from .test_chat_signals import visitor
from .test_hub import cached


def call(guest: socketio.Client, event: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = guest.call(event, data, namespace="/visitor", timeout=30)
    assert isinstance(answer, dict), answer
    return answer


def test_a_send_answers_with_what_a_sync_would(served: Served, team: Any) -> None:
    guest = visitor(served.hub.url, team.chat)
    try:
        first = new_id()
        answer = call(guest, "send", {"client_id": first, "text": "hello", "since": 0})
        assert answer["ok"], answer
        view = answer["view"]
        assert view["conversation"]["id"] == answer["conversation_id"]
        assert [(m["client_id"], m["text"]) for m in view["messages"]] == [(first, "hello")]
        assert view == call(guest, "sync", {"since": 0})

        # From the cursor on: only what is new (the second message), as a sync from there.
        second = new_id()
        answer = call(
            guest, "send", {"client_id": second, "text": "again", "since": view["cursor"]}
        )
        later = answer["view"]
        assert [m["client_id"] for m in later["messages"]] == [second]
        assert later["cursor"] > view["cursor"]
        assert later == call(guest, "sync", {"since": view["cursor"]})

        # A widget that does not say its cursor syncs by itself: no view.
        answer = call(guest, "send", {"client_id": new_id(), "text": "third"})
        assert answer["ok"] and "view" not in answer
        bad = call(guest, "send", {"client_id": new_id(), "text": "x", "since": "soon"})
        assert bad == {"error": "'since' must be a change number"}
    finally:
        guest.disconnect()


def test_the_hub_imports_what_a_visitor_message_needs_before_serving(tmp_path: Path) -> None:
    """Imported by the first visitor message, on the writer, SQLModel's models and the bots'
    runner held every send behind it for ~0.8 s (chat_bench.py p99)."""
    script = (
        "import sys\n"
        "from unibox_tui.core.db import open_workspace\n"
        "from unibox_tui.hub.server import Hub\n"
        f"Hub(open_workspace({str(tmp_path / 'ws.db')!r}), run_engine=False)\n"
        "wanted = ['unibox_tui.core.commands.bots', 'unibox_tui.core.models',"
        " 'unibox_tui.core.routing', 'unibox_tui.core.commands.incoming']\n"
        "print([m for m in wanted if m not in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_poke_brings_the_view_since_the_cursor_the_visitor_was_last_sent(
    served: Served, team: Any
) -> None:
    """An agent's reply: the visitor's poke brings what a `sync` from the cursor of the last
    view they were sent would answer, so the widget needs no sync round (widget.js takes
    it when its own cursor is that far)."""
    guest = visitor(served.hub.url, team.chat)
    pokes: list[dict[str, Any]] = []
    poked = threading.Event()

    def on_poke(data: Any) -> None:
        pokes.append(data)
        poked.set()

    guest.on("poke", on_poke, namespace="/visitor")
    bo = served.client("bo")
    try:
        answer = call(guest, "send", {"client_id": new_id(), "text": "hello", "since": 0})
        conv, cursor = answer["conversation_id"], answer["view"]["cursor"]
        wait_for(
            lambda: cached(bo, "SELECT 1 FROM conversation WHERE id = ?", (conv,)),
            what="bo has the chat",
        )
        pokes.clear()
        poked.clear()
        reply = bo.run(
            "reply", {"conversation_id": conv, "text": "Hi, <b>Bo</b> here"}, actor=bo.agent["id"]
        )
        assert poked.wait(30), "the visitor was not poked"
        brought = pokes[-1]
        assert brought["since"] == cursor
        assert [(m["id"], m["from"], m["text"]) for m in brought["view"]["messages"]] == [
            (reply.value, "agent", "Hi, <b>Bo</b> here")
        ]
        assert brought["view"] == call(guest, "sync", {"since": cursor})
    finally:
        bo.close()
        guest.disconnect()


async def test_the_hub_does_not_compress_websockets_a_browser_offers_to(
    served: Served, team: Any
) -> None:
    """Browsers offer permessage-deflate; a compressor for each of 1,000 visitors' sockets
    was ~40 KB of the hub's memory apiece, for messages of a few hundred bytes."""
    from websockets.asyncio.client import connect

    url = served.hub.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with connect(url, compression="deflate") as ws:  # what a browser offers
        assert (await ws.recv()).startswith("0")  # the hub answered the handshake
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
