"""Chatflows in the real widget, in real Chromium: the opening shows as soon as a chatflow
targets the page (before the visitor writes, nothing stored yet), its options are buttons, a
bad answer is asked again, the bot hands over to an agent whose reply shows in the widget;
the targeting shows a chatflow on its page and not on another; an idle bot conversation
times out (abandoned, closed) and the visitor can start a new one, which opens again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from servers.browser import own_chromium
from servers.site import Site
from waiting import wait_for

from unibox_tui.core import clock
from unibox_tui.core import commands as cmd
from unibox_tui.core.commands.bots import expire_bot_sessions
from unibox_tui.core.db import open_workspace
from unibox_tui.sync.client import HubClient

from .conftest import Served
from .test_chat_widget import SHOWN, bubbles, reply, say

browser = pytest.fixture(scope="module")(own_chromium)

BOT = """
type = "bot"
bot_name = "Unibot"
welcome = "Hi! I can help you find the right person."
session_timeout_minutes = 5

[target]
url_contains = "/pricing"

[[steps]]
id = "topic"
type = "question"
text = "What can we help you with?"
options = ["Billing", "Something else"]
save_as = "topic"

[[steps]]
type = "branch"
on = "topic"
cases = [{ equals = "Billing", goto = "email" }]
otherwise = "handoff"

[[steps]]
id = "email"
type = "question"
text = "What is your e-mail address?"
validate = "email"
property = "email"

[[steps]]
type = "ticket"
title = "Billing question from {{answers.email}}"

[[steps]]
id = "handoff"
type = "handoff"
to = "agent:bo"
text = "Thanks! Passing you to Bo."
"""
OPENING = ["Hi! I can help you find the right person.", "What can we help you with?"]
ASK_EMAIL = "What is your e-mail address?"
CHANNEL_WELCOME = "Hi! Ask us anything: we usually answer within a few minutes."


@pytest.fixture
def site(served: Served, team: Any) -> Iterator[Site]:
    with open_workspace(served.hub.db) as ws:
        cmd.save_chatflow(ws, "Pricing bot", BOT, channel=team.chat, actor="ana")
    s = Site(served.hub.url, team.chat)
    yield s
    s.close()


def rows(served: Served, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(served.hub.db) as con:
        return con.execute(sql, params).fetchall()


def has_conversation(client: HubClient, conversation_id: str) -> bool:
    client._kick.set()
    with client.ws.read() as conn:  # type: ignore[union-attr]
        found = conn.exec_driver_sql(
            "SELECT 1 FROM conversation WHERE id = ?", (conversation_id,)
        ).first()
    return found is not None


def open_on(page: Any, url: str) -> Any:
    page.goto(url)
    frame = page.frame_locator("iframe[data-unibox-chat]")
    frame.get_by_role("button", name="Open chat").click()
    expect(frame.get_by_role("textbox", name="Message")).to_be_visible(timeout=SHOWN)
    return frame


def test_the_bot_opens_before_the_visitor_writes_and_hands_over_to_an_agent(
    served: Served, site: Site, page: Any, team: Any
) -> None:
    frame = open_on(page, site.url)
    # The opening, with the question's options as buttons, before the visitor wrote.
    expect(frame.get_by_role("button", name="Billing")).to_be_visible(timeout=SHOWN)
    assert bubbles(frame) == OPENING
    expect(frame.locator("#who")).to_have_text("Unibot")
    assert rows(served, "SELECT count(*) FROM conversation") == [(0,)]  # nothing stored yet

    frame.get_by_role("button", name="Billing").click()  # the answer continues the session
    expect(frame.locator("#log li.agent .text").last).to_have_text(ASK_EMAIL, timeout=SHOWN)
    assert bubbles(frame) == [*OPENING, "Billing", ASK_EMAIL]
    assert frame.get_by_role("button", name="Billing").count() == 0  # answered: gone

    say(frame, "carla at example")  # not an address: asked again
    again = "That doesn't look like an e-mail address. " + ASK_EMAIL
    expect(frame.locator("#log li.agent .text").last).to_have_text(again, timeout=SHOWN)

    say(frame, "carla@example.org")
    expect(frame.locator("#log li.agent .text").last).to_have_text(
        "Thanks! Passing you to Bo.", timeout=SHOWN
    )
    expect(frame.locator("#who")).to_have_text("Bo Chen", timeout=SHOWN)  # bot -> agent
    [(conv, assignee, ticket)] = rows(served, "SELECT id, assignee_id, ticket_id FROM conversation")
    assert assignee == team.bo and ticket is not None
    # The bot's turns are stored in the order the visitor saw them.
    stored = rows(
        served,
        "SELECT body FROM message WHERE conversation_id = ? AND kind != 'activity' "
        "ORDER BY created_at, rid",
        conv,
    )
    assert [b for (b,) in stored] == [
        *OPENING,
        "Billing",
        ASK_EMAIL,
        "carla at example",
        again,
        "carla@example.org",
        "Thanks! Passing you to Bo.",
    ]

    bo = served.client("bo")
    try:
        wait_for(lambda: has_conversation(bo, conv), what="bo's cache has the chat")
        reply(bo, conv, "Hi Carla, Bo here: let's sort out the invoice.")
        expect(frame.locator("#log li.agent .text").last).to_have_text(
            "Hi Carla, Bo here: let's sort out the invoice.", timeout=SHOWN
        )
        expect(frame.locator("#log li.agent .meta").last).to_contain_text("Bo Chen")
    finally:
        bo.close()


def test_a_chatflow_shows_on_the_pages_it_targets_only(
    served: Served, site: Site, browser: Any
) -> None:
    for url, wanted in (
        (site.url, OPENING),  # /shop/pricing?plan=pro: targeted
        (site.url.replace("/pricing?plan=pro", "/about"), [CHANNEL_WELCOME]),
    ):
        context = browser.new_context()
        try:
            frame = open_on(context.new_page(), url)
            expect(frame.locator("#log li.agent .text").last).to_have_text(
                wanted[-1], timeout=SHOWN
            )
            assert bubbles(frame) == wanted, url
            assert frame.locator("#log .quick button").count() == (2 if wanted == OPENING else 0)
        finally:
            context.close()
    # Another page's visitor writes: a plain live chat, no bot session.
    context = browser.new_context()
    try:
        frame = open_on(context.new_page(), site.url.replace("/pricing?plan=pro", "/about"))
        say(frame, "just a question")
        expect(frame.locator("#log li.visitor .meta").last).to_contain_text("Sent", timeout=SHOWN)
        assert rows(served, "SELECT count(*) FROM bot_session") == [(0,)]
        assert [b for (b,) in rows(served, "SELECT body FROM message")] == ["just a question"]
    finally:
        context.close()


def test_an_idle_bot_conversation_times_out_and_a_new_one_opens_again(
    served: Served, site: Site, page: Any
) -> None:
    frame = open_on(page, site.url)
    frame.get_by_role("button", name="Billing").click()
    expect(frame.locator("#log li.agent .text").last).to_have_text(ASK_EMAIL, timeout=SHOWN)
    # The visitor says nothing more. The engine's tick (here: run once, 6 minutes on) ends
    # the session after the chatflow's 5 minutes: abandoned, and the conversation closes.
    with open_workspace(served.hub.db) as ws:
        ended = expire_bot_sessions(ws, clock.utcnow() + timedelta(minutes=6))
    assert len(ended) == 1
    assert rows(served, "SELECT status, waiting_step FROM bot_session") == [("abandoned", None)]
    new = frame.get_by_role("button", name="Start a new conversation")
    expect(new).to_be_visible(timeout=SHOWN)  # the hub poked the widget: it ended
    new.click()
    # A new conversation starts with the chatflow's opening again, its buttons live.
    expect(frame.get_by_role("button", name="Billing")).to_be_visible(timeout=SHOWN)
    assert bubbles(frame) == OPENING
    frame.get_by_role("button", name="Something else").click()
    expect(frame.locator("#log li.agent .text").last).to_have_text(
        "Thanks! Passing you to Bo.", timeout=SHOWN
    )
    assert bubbles(frame) == [*OPENING, "Something else", "Thanks! Passing you to Bo."]
    assert sorted(rows(served, "SELECT status FROM bot_session")) == [
        ("abandoned",),
        ("handed_off",),
    ]
