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


SILENT_FIRST = """
type = "bot"
bot_name = "Unibot"
welcome = "Hello!"

[target]
url_contains = "/plans"

[[steps]]
type = "set_property"
property = "company"
value = "Came from the plans page"

[[steps]]
type = "ticket"
title = "Plans chat"

[[steps]]
type = "message"
text = "A ticket is open for you."

[[steps]]
id = "email"
type = "question"
text = "Your e-mail?"
validate = "email"
property = "email"

[[steps]]
type = "handoff"
to = "agent:bo"
text = "Passing you to Bo."
"""

HANDOFF_FIRST = """
type = "bot"
bot_name = "Unibot"
welcome = "Hello!"

[target]
url_contains = "/contact"

[[steps]]
type = "handoff"
to = "agent:bo"
text = "Bo will answer you here."
"""


def test_an_opening_runs_through_silent_steps_to_the_first_question(
    served: Served, team: Any
) -> None:
    """A contact property, a ticket and a hand-off before the first question do not stop the
    opening: the widget shows the question (or the hand-off's line), and the visitor's first
    message answers the question they saw."""
    with open_workspace(served.hub.db) as ws:
        cmd.save_chatflow(ws, "Plans bot", SILENT_FIRST, channel=team.chat, actor="ana")
        cmd.save_chatflow(ws, "Contact bot", HANDOFF_FIRST, channel=team.chat, actor="ana")

    def connect(page: str) -> socketio.Client:
        visitor = socketio.Client(reconnection=False)
        visitor.connect(
            served.hub.url,
            namespaces=["/visitor"],
            transports=["websocket"],
            auth={"channel": team.chat, "context": {"page": page}},
            wait_timeout=5,
        )
        return visitor

    def opening(visitor: socketio.Client) -> list[str]:
        hello = visitor.call("hello", {}, namespace="/visitor")
        return [m["text"] for m in hello["opening"]["messages"]]

    def send(visitor: socketio.Client, client_id: str, text: str) -> str:
        sent = visitor.call("send", {"client_id": client_id, "text": text}, namespace="/visitor")
        assert sent.get("ok"), sent
        return str(sent["conversation_id"])

    def seen(visitor: socketio.Client) -> list[str]:
        return [
            m["text"] for m in visitor.call("sync", {"since": 0}, namespace="/visitor")["messages"]
        ]

    plans, contact = connect("https://shop.example/plans"), connect("https://shop.example/contact")
    try:
        shown = opening(plans)
        assert shown == ["Hello!", "A ticket is open for you.", "Your e-mail?"]
        assert opening(contact) == ["Hello!", "Bo will answer you here."]

        conv = send(plans, "plans-0001", "carla@example.org")  # answers the question it saw
        wait_for(lambda: len(seen(plans)) >= 5, what="the bot's answer")
        assert seen(plans) == [*shown, "carla@example.org", "Passing you to Bo."]
        with open_workspace(served.hub.db) as ws:
            row = q.conversation(ws, conv, access=EVERYTHING)
            assert row.assignee_id == team.bo and row.ticket_id is not None
            person = q.contact(ws, row.contact_id, access=EVERYTHING)
            assert person.company == "Came from the plans page"
            assert ("email", "carla@example.org") in person.identities

        other = send(contact, "contact-0001", "Is anyone there?")
        wait_for(lambda: len(seen(contact)) >= 3, what="the opening stored with the first message")
        assert seen(contact) == ["Hello!", "Bo will answer you here.", "Is anyone there?"]
        with open_workspace(served.hub.db) as ws:
            assert q.conversation(ws, other, access=EVERYTHING).assignee_id == team.bo
    finally:
        plans.disconnect()
        contact.disconnect()
