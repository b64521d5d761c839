"""A chatflow bot on the website chat, on a real hub with a real socket.io visitor: the
chatflow the channel's targeting picks answers the visitor's first message with its opening,
re-asks a bad answer, opens a ticket and hands over to an agent; ingest's routing stays out
of it (the chatflow decides who gets the conversation)."""

from __future__ import annotations

from typing import Any

import socketio
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace

from .conftest import Served

BOT = """
type = "bot"
bot_name = "Unibot"
welcome = "Hi! I can help."

[target]
url_contains = "/help"

[[steps]]
id = "email"
type = "question"
text = "Your e-mail?"
validate = "email"
property = "email"

[[steps]]
type = "ticket"
title = "Chat: {{answers.email}}"

[[steps]]
type = "handoff"
to = "agent:bo"
text = "Passing you to Bo."
"""


def test_a_bot_answers_the_widget_and_hands_over(served: Served, team: Any) -> None:
    with open_workspace(served.hub.db) as ws:
        cmd.save_chatflow(ws, "Help bot", BOT, channel=team.chat, actor="ana")
        cmd.set_routing(ws, "Support", rules="round-robin", agents=["cy"], actor="ana")
    visitor = socketio.Client(reconnection=False)
    auth = {"channel": team.chat, "context": {"page": "https://shop.example/help/returns"}}
    visitor.connect(
        served.hub.url,
        namespaces=["/visitor"],
        transports=["websocket"],
        auth=auth,
        wait_timeout=5,
    )
    try:

        def send(n: int, text: str) -> str:
            sent = visitor.call(
                "send", {"client_id": f"bot-test-{n:04d}", "text": text}, namespace="/visitor"
            )
            assert sent.get("ok"), sent
            return str(sent["conversation_id"])

        def seen() -> list[tuple[str, str, str]]:
            view = visitor.call("sync", {"since": 0}, namespace="/visitor")
            return [(m["from"], m.get("author", ""), m["text"]) for m in view["messages"]]

        conv = send(1, "hello")
        again = ("agent", "Unibot", "That doesn't look like an e-mail address. Your e-mail?")
        wait_for(lambda: len(seen()) >= 4, what="the bot's opening and question")
        # The opening reads before the visitor's first message, as the widget showed it;
        # "hello" answered its question, badly.
        assert seen() == [
            ("agent", "Unibot", "Hi! I can help."),
            ("agent", "Unibot", "Your e-mail?"),
            ("visitor", "", "hello"),
            again,
        ]
        with open_workspace(served.hub.db) as ws:  # not routed to cy at arrival
            assert q.conversation(ws, conv, access=EVERYTHING).assignee_id is None
        send(2, "carla at example")
        wait_for(lambda: len(seen()) >= 6, what="the bad answer asked again")
        assert seen()[-2:] == [("visitor", "", "carla at example"), again]
        send(3, "carla@example.org")
        wait_for(
            lambda: seen()[-1] == ("agent", "Unibot", "Passing you to Bo."),
            what="the hand-over message",
        )
        with open_workspace(served.hub.db) as ws:
            row = q.conversation(ws, conv, access=EVERYTHING)
            assert row.assignee_id == team.bo and row.ticket_id is not None
    finally:
        visitor.disconnect()
