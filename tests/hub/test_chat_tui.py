"""A website chat in the agent's TUI on a real hub: the visitor (a real socket.io client on
the hub's /visitor namespace) writes, the chat shows in the agent's app with the text
literally, the visitor's typing shows in the thread header, and the sidebar shows where the
visitor is and whether they are still on the page (also for a visitor who came before the
app connected); once the visitor left without an e-mail
address, the composer says the reply cannot reach them, and T e-mails the transcript."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import socketio
from textual.widgets import Input
from tui.tui_world import screen_text
from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.screens.pickers import PromptScreen

from .conftest import Served

MARKUP = "[bold red]help[/] <b>me</b> \x1b]0;owned\x07 now"
PAGE = "https://shop.example/checkout?step=2"


def header(app: UniboxApp) -> str:
    return str(app.screen.thread_header.text)  # type: ignore[attr-defined]


def hint(app: UniboxApp) -> str:
    from textual.widgets import Static

    return str(app.screen.query_one("#composer-hint", Static).render())


def prompt_error(app: UniboxApp) -> str:
    from textual.widgets import Static

    return str(app.screen.query_one("#prompt-error", Static).render())


def sidebar(app: UniboxApp) -> str:
    from textual.widgets import Static

    return str(app.screen.query_one("#contact-details", Static).render())


async def test_a_chat_reaches_the_agents_tui_with_typing_and_visitor_context(
    served: Served, team: Any, tmp_path: Any
) -> None:
    # A visitor already on the page when ana's app connects: no signal about them ever
    # reaches it, the hub's hello says they are here.
    early = socketio.Client(reconnection=False)
    await asyncio.to_thread(
        early.connect,
        served.hub.url,
        namespaces=["/visitor"],
        transports=["websocket"],
        auth={"channel": team.chat, "context": {"page": "https://shop.example/early"}},
        wait_timeout=5,
    )
    early_conv = (
        await asyncio.to_thread(
            early.call,
            "send",
            {"client_id": "tui-early-0001", "text": "here before you"},
            namespace="/visitor",
        )
    )["conversation_id"]
    client = served.client("ana")
    app = UniboxApp(client.ws, Config(path=tmp_path / "a.toml"), hub=client)  # type: ignore[arg-type]
    visitor = socketio.Client(reconnection=False)
    auth = {
        "channel": team.chat,
        "context": {"page": PAGE, "referrer": "https://search.example/?q=x", "offset": 60},
    }
    try:
        async with app.run_test(size=(170, 48)) as pilot:
            await asyncio.to_thread(
                visitor.connect,
                served.hub.url,
                namespaces=["/visitor"],
                transports=["websocket"],
                auth=auth,
                wait_timeout=5,
            )
            sent = await asyncio.to_thread(
                visitor.call,
                "send",
                {"client_id": "tui-test-0001", "text": MARKUP},
                namespace="/visitor",
            )
            conv = sent["conversation_id"]
            await until(
                lambda: getattr(app.screen.conv_list.row_at(0), "id", None) == conv,  # type: ignore[attr-defined]
                what="the new chat shows on top of ana's list",
            )
            # The cursor stayed on the chat it was on (a row arriving above moves no cursor).
            assert app.screen.conv_list.selected.id == early_conv  # type: ignore[attr-defined]
            await pilot.press("g", "enter")
            await until(
                lambda: getattr(app.screen.thread_row, "id", None) == conv,  # type: ignore[attr-defined]
                what="ana opened it",
            )
            await pilot.pause()
            text = screen_text(app)
            assert "[bold red]help[/] <b>me</b>" in text  # literally
            assert "\x1b" not in text and "\x07" not in text
            await asyncio.to_thread(visitor.call, "typing", {"typing": True}, namespace="/visitor")
            await until(
                lambda: "Visitor is typing" in header(app), what="ana sees the visitor typing"
            )
            await pilot.press("p")  # the sidebar
            await until(lambda: "on the page: yes" in sidebar(app), what="visitor on the page")
            shown = sidebar(app)
            assert PAGE in shown and "search.example" in shown and "local time:" in shown
            await asyncio.to_thread(visitor.disconnect)
            await until(
                lambda: "on the page: no, left" in sidebar(app), what="ana sees the visitor left"
            )
            await pilot.press("r")  # no address known: the composer says so
            await until(
                lambda: "gave no e-mail address: they cannot be reached" in hint(app),
                what="the composer says the visitor cannot be reached",
            )
            await pilot.press("escape")
            app.screen.open_conversation(early_conv)  # type: ignore[attr-defined]
            await until(
                lambda: "on the page: yes" in sidebar(app), what="the hello said: still here"
            )
            await asyncio.to_thread(early.disconnect)
            await until(lambda: "on the page: no, left" in sidebar(app), what="early left")
            app.screen.open_conversation(conv)  # type: ignore[attr-defined]
            await pilot.press("T")  # e-mail the transcript by hand
            await until(lambda: isinstance(app.screen, PromptScreen), what="the address prompt")
            app.screen.query_one(Input).value = "nobody"
            await pilot.press("enter")  # refused, the prompt stays
            await until(lambda: "e-mail address" in prompt_error(app), what="the refusal")
            app.screen.query_one(Input).value = "Vi@Example.com"
            await pilot.press("enter")
            with sqlite3.connect(served.hub.db) as con:
                sent = lambda: con.execute(  # noqa: E731
                    "SELECT meta FROM message WHERE conversation_id = ? AND meta LIKE ?",
                    (conv, "%transcript%"),
                ).fetchall()
                [(meta,)] = await until(sent, what="the hub queued the transcript")
            assert json.loads(meta)["transcript"]["to"] == "vi@example.com"
    finally:
        for v in (visitor, early):
            if v.connected:
                v.disconnect()
        client.close()
