"""The website chat in real Chromium: a customer's page (its own origin) embeds the widget
from a real hub process; agents answer through their hub clients (HubClient, as the TUI does).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from playwright.sync_api import expect
from servers.browser import own_chromium
from servers.site import Site
from waiting import wait_for

from unibox_tui.backends import chat as chat_backend
from unibox_tui.core.commands import registry
from unibox_tui.hub.chat_http import BURST
from unibox_tui.sync.client import HubClient

from .conftest import Served

MARKUP = "[bold red]hi[/] <img src=x onerror=alert(1)> &amp; \x1b]0;owned\x07 {{x}}"
SHOWN = 10_000  # ms Playwright's expect polls for a condition (a deadline, not a sleep)


# Its own Chromium: the async Pilot tests that run after this module need no running loop.
browser = pytest.fixture(scope="module")(own_chromium)


@pytest.fixture
def site(served: Served, team: Any) -> Iterator[Site]:
    s = Site(served.hub.url, team.chat)
    yield s
    s.close()


def open_widget(page: Any, site: Site) -> Any:
    page.goto(site.url)
    frame = page.frame_locator("iframe[data-unibox-chat]")
    frame.get_by_role("button", name="Open chat").click()
    expect(frame.get_by_role("textbox", name="Message")).to_be_visible(timeout=SHOWN)
    return frame


def say(frame: Any, text: str) -> None:
    frame.get_by_role("textbox", name="Message").fill(text)
    frame.get_by_role("button", name="Send").click()


def cached_chat(client: HubClient, text: str) -> tuple[str, str] | None:
    """(conversation id, body) of the chat message `text` in the agent's cache, once there."""
    client._kick.set()
    with client.ws.read() as conn:  # type: ignore[union-attr]
        row = conn.exec_driver_sql(
            "SELECT m.conversation_id, m.body FROM message m JOIN conversation c "
            "ON c.id = m.conversation_id WHERE c.channel_kind = 'chat' AND m.kind = 'incoming' "
            "AND m.body = ?",
            (text,),
        ).first()
    return (row[0], row[1]) if row else None


def reply(client: HubClient, conversation_id: str, text: str) -> None:
    registry.run(
        client.ws,  # type: ignore[arg-type]
        "reply",
        {"conversation_id": conversation_id, "text": text},
        actor=client.agent["id"],
    )


def bubbles(frame: Any) -> list[str]:
    return [t for t in frame.locator("#log li .text").all_inner_texts()]


def test_visitor_and_agent_talk_type_and_see_text_literally(
    served: Served, site: Site, page: Any
) -> None:
    ana = served.client("ana")
    signals: list[dict[str, Any]] = []
    ana.on_signals = signals.append
    try:
        frame = open_widget(page, site)
        say(frame, MARKUP)
        conv, body = wait_for(lambda: cached_chat(ana, MARKUP), what="ana's cache has the chat")
        assert body == MARKUP  # stored as typed
        # Shown literally in the widget: the same characters, no element made from them.
        expect(frame.locator("#log li.visitor .text").last).to_have_text(MARKUP, timeout=SHOWN)
        assert frame.locator("#log img").count() == 0
        # The agent answers; the widget shows it with the agent's name, literally.
        reply(ana, conv, "<i>Hello</i> [link=x]there[/link]")
        agent_bubble = frame.locator("#log li.agent .text").last
        expect(agent_bubble).to_have_text("<i>Hello</i> [link=x]there[/link]", timeout=SHOWN)
        expect(frame.locator("#log li.agent .meta").last).to_contain_text("Ana Lima")
        # Replying to an unassigned chat assigns it to the replier (routing): the header
        # names the agent now looking after the visitor.
        expect(frame.locator("#who")).to_have_text("Ana Lima")
        # Typing, both ways.
        ana.signal("typing", conversation_id=conv)
        expect(frame.locator("#typing")).to_have_text("Ana is typing…", timeout=SHOWN)
        frame.get_by_role("textbox", name="Message").press_sequentially("so")
        wait_for(
            lambda: any(
                (s.get("visitor") or {}).get("typing") and s["visitor"]["conversation_id"] == conv
                for s in signals
            ),
            what="ana heard the visitor typing",
        )
        seen = next(s["visitor"] for s in signals if (s.get("visitor") or {}).get("typing"))
        assert seen["page"] == site.url and seen["online"] is True
    finally:
        ana.close()


def visitor(url: str, channel: str, **auth: Any) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(
        url,
        namespaces=["/visitor"],
        transports=["websocket"],
        auth={"channel": channel, **auth},
        wait_timeout=5,
    )
    return client


def test_a_visitor_cannot_read_or_write_another_visitors_conversation(
    served: Served, team: Any
) -> None:
    first = visitor(served.hub.url, team.chat)
    second = visitor(served.hub.url, team.chat)
    try:
        sent = first.call(
            "send", {"client_id": "first-00001", "text": "my secret order 42"}, namespace="/visitor"
        )
        theirs = sent["conversation_id"]
        refused = second.call("sync", {"since": 0, "conversation_id": theirs}, namespace="/visitor")
        assert refused == {"error": "no such conversation"}
        refused = second.call(
            "send",
            {"client_id": "second-0001", "text": "hi", "conversation_id": theirs},
            namespace="/visitor",
        )
        assert refused == {"error": "no such conversation"}
        own = second.call("sync", {"since": 0}, namespace="/visitor")
        assert own["conversation"] is None and own["messages"] == []
        # A token made up by the visitor is not theirs: the hub gives a new visitor.
        hello = first.call("hello", {}, namespace="/visitor")
        forged = visitor(served.hub.url, team.chat, token=hello["token"][:-3] + "xyz")
        try:
            view = forged.call("sync", {"since": 0}, namespace="/visitor")
            assert view["messages"] == []
        finally:
            forged.disconnect()
    finally:
        first.disconnect()
        second.disconnect()


def test_a_forged_identity_hash_is_refused(served: Served, team: Any, page: Any) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        visitor(served.hub.url, team.chat, user={"id": "user-42", "hash": "0" * 64})
    site = Site(served.hub.url, team.chat, user={"id": "user-42", "hash": "0" * 64})
    try:
        page.goto(site.url)
        frame = page.frame_locator("iframe[data-unibox-chat]")
        frame.get_by_role("button", name="Open chat").click()
        expect(frame.locator("#notice")).to_contain_text(
            "identity hash does not match", timeout=SHOWN
        )
    finally:
        site.close()


def test_a_verified_user_keeps_their_history_across_devices(
    served: Served, team: Any, browser: Any
) -> None:
    from unibox_tui.core.db import open_workspace
    from unibox_tui.core.workspace_key import workspace_key

    ws = open_workspace(served.tmp / "ws.db")
    try:
        secret = chat_backend.channel_secret(workspace_key(ws), team.chat)
    finally:
        ws.close()
    user = {"id": "user-42", "hash": chat_backend.identity_hash(secret, "user-42")}
    site = Site(served.hub.url, team.chat, user=user)
    try:
        for device, text in (("laptop", "from my laptop"), ("phone", "")):
            context = browser.new_context()
            try:
                frame = open_widget(context.new_page(), site)
                if text:
                    say(frame, text)
                (
                    expect(frame.locator("#log li.visitor .text").first).to_have_text(
                        "from my laptop", timeout=SHOWN
                    ),
                    device,
                )
            finally:
                context.close()
    finally:
        site.close()


def test_a_flood_is_rate_limited_with_a_visible_message(site: Site, page: Any) -> None:
    frame = open_widget(page, site)
    # A script in the page floods: all at once, faster than any allowance refills.
    frame.locator("#composer").evaluate(
        """(form, count) => { const box = form.querySelector('#text');
           for (let n = 0; n < count; n++) { box.value = 'spam ' + n; form.requestSubmit(); } }""",
        BURST * 2,
    )
    expect(frame.locator("#notice")).to_have_text(
        re.compile("sending messages too fast"), timeout=SHOWN
    )
    expect(frame.locator("#log li.failed").first).to_contain_text("Not sent")


def test_the_widget_reconnects_after_a_hub_restart_and_nothing_is_lost_or_doubled(
    served: Served, site: Site, page: Any
) -> None:
    ana = served.client("ana")
    try:
        frame = open_widget(page, site)
        say(frame, "before the restart")
        conv, _ = wait_for(lambda: cached_chat(ana, "before the restart"), what="ana has the chat")
        reply(ana, conv, "answer before")
        expect(frame.locator("#log li.agent .text").last).to_have_text(
            "answer before", timeout=SHOWN
        )
        served.hub.stop()
        expect(frame.locator("#notice")).to_have_text("Reconnecting…", timeout=SHOWN)
        say(frame, "while the hub was down")
        expect(frame.locator("#log li.visitor .meta").last).to_have_text("Sending…")
        served.hub.start()
        expect(frame.locator("#log li.visitor .meta").last).not_to_have_text(
            "Sending…", timeout=30_000
        )
        wait_for(
            lambda: cached_chat(ana, "while the hub was down"),
            what="ana's client got the message sent while the hub was down",
        )
        reply(ana, conv, "answer after")
        expect(frame.locator("#log li.agent .text").last).to_have_text(
            "answer after", timeout=30_000
        )
        assert bubbles(frame) == [
            "Hi! Ask us anything: we usually answer within a few minutes.",
            "before the restart",
            "answer before",
            "while the hub was down",
            "answer after",
        ]
        with ana.ws.read() as conn:  # type: ignore[union-attr]
            count = conn.exec_driver_sql(
                "SELECT count(*) FROM message WHERE conversation_id = ? AND kind = 'incoming'",
                (conv,),
            ).scalar_one()
        assert count == 2
    finally:
        ana.close()


def test_widget_is_usable_at_360_px_with_the_keyboard(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 640})
    try:
        page = context.new_page()
        page.goto(site.url)
        frame = page.frame_locator("iframe[data-unibox-chat]")
        launcher = frame.get_by_role("button", name="Open chat")
        expect(launcher).to_be_visible(timeout=SHOWN)
        launcher.focus()
        page.keyboard.press("Enter")
        box = frame.get_by_role("textbox", name="Message")
        expect(box).to_be_focused(timeout=SHOWN)
        page.keyboard.type("typed with keys")
        page.keyboard.press("Enter")
        expect(frame.locator("#log li.visitor .text").last).to_have_text(
            "typed with keys", timeout=SHOWN
        )
        iframe = page.locator("iframe[data-unibox-chat]").bounding_box()
        assert iframe is not None and iframe["width"] <= 360
        send = frame.get_by_role("button", name="Send").bounding_box()
        assert send is not None and send["x"] + send["width"] <= 360
        page.keyboard.press("Escape")
        expect(launcher).to_be_focused(timeout=SHOWN)
    finally:
        context.close()


def test_an_agent_typing_a_comment_is_not_shown_to_the_visitor(served: Served, team: Any) -> None:
    ana = served.client("ana")
    heard: list[dict[str, Any]] = []
    guest = visitor(served.hub.url, team.chat)
    guest.on("typing", heard.append, namespace="/visitor")
    try:
        sent = guest.call(
            "send", {"client_id": "typing-0001", "text": "hello"}, namespace="/visitor"
        )
        conv = sent["conversation_id"]
        wait_for(lambda: cached_chat(ana, "hello"), what="ana has the chat")
        ana.signal("typing", conversation_id=conv, private=True)  # a comment: not shown
        ana.signal("left", conversation_id=conv)  # then ana leaves: shown, in order
        wait_for(lambda: heard, what="the visitor heard ana leave")
        assert heard[0] == {"typing": False, "name": "Ana"}
        # A reply being typed shows; sent or put away ("idle"), it stops showing at once.
        ana.signal("typing", conversation_id=conv)
        ana.signal("idle", conversation_id=conv)
        wait_for(lambda: len(heard) >= 3, what="the visitor heard ana type, then stop")
        assert [h["typing"] for h in heard[1:3]] == [True, False]
    finally:
        guest.disconnect()
        ana.close()


def test_reconnecting_does_not_refill_a_flooders_allowance(served: Served, team: Any) -> None:
    guest = visitor(served.hub.url, team.chat)
    token = guest.call("hello", {}, namespace="/visitor")["token"]
    # Until the hub says no: on a loaded machine BURST + 1 sends may take long enough for
    # the allowance to refill one (a full run once saw the last of them accepted).
    for n in range(3 * BURST):
        answer = guest.call(
            "send", {"client_id": f"flood-{n:05d}", "text": "x"}, namespace="/visitor"
        )
        if answer.get("rate_limited"):
            break
    assert answer.get("rate_limited") is True and n >= BURST, (n, answer)
    guest.disconnect()
    again = visitor(served.hub.url, team.chat, token=token)  # the same visitor, back at once
    try:
        # A fresh allowance would take BURST messages; the kept one refills one per 1.5 s.
        answers = [
            again.call("send", {"client_id": f"again-{n:05d}", "text": "x"}, namespace="/visitor")
            for n in range(BURST)
        ]
        assert any(a.get("rate_limited") for a in answers)
    finally:
        again.disconnect()


def test_many_visitors_writing_at_once_are_each_stored_once(served: Served, team: Any) -> None:
    """The hub stores visitors' messages in batches (chat_http.Batcher): sends that arrive
    together are each answered with their own conversation, and the same message sent twice
    at once (a reconnecting widget resends it) is stored once."""
    import sqlite3
    import threading

    guests = [visitor(served.hub.url, team.chat) for _ in range(10)]
    answers: dict[int, list[dict[str, Any]]] = {n: [] for n in range(len(guests))}
    start = threading.Barrier(2 * len(guests))

    def write(n: int) -> None:
        start.wait(10)
        answer = guests[n].call(
            "send", {"client_id": f"together-{n:04d}", "text": f"hello {n}"}, namespace="/visitor"
        )
        answers[n].append(answer)

    threads = [threading.Thread(target=write, args=(n % len(guests),)) for n in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for first, again in answers.values():
            assert first.get("ok") and again.get("ok"), (first, again)
            assert first["id"] == again["id"]
            assert sorted([first["duplicate"], again["duplicate"]]) == [False, True]
        conversations = {a[0]["conversation_id"] for a in answers.values()}
        assert len(conversations) == len(guests)  # each visitor their own
        with sqlite3.connect(served.hub.db) as con:
            bodies = sorted(
                b for (b,) in con.execute("SELECT body FROM message WHERE kind = 'incoming'")
            )
        assert bodies == sorted(f"hello {n}" for n in range(len(guests)))
    finally:
        for g in guests:
            g.disconnect()
