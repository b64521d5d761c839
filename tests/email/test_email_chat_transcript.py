"""A chat's transcript by e-mail, end to end: a visitor on a customer's page (real Chromium)
chats while nobody is available, leaves an address in the away form, an agent answers and
closes, and the hub's e-mail channel sends the transcript to a real SMTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from servers.browser import own_chromium
from servers.fixtures import Mailbox
from servers.hub import HubProcess
from servers.site import Site
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, make_desk
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core.commands import registry
from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.sync.client import HubClient

browser = pytest.fixture(scope="module")(own_chromium)
SHOWN = 10_000


def test_the_transcript_of_a_closed_chat_reaches_the_visitor_by_email(
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    page: Any,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    desk = make_desk(tmp_path, mailbox, smtp_server)
    chat = cmd.add_channel(desk.ws, "Support", "chat", "Website", actor="ana")
    cmd.set_availability(desk.ws, "ana", "away")  # nobody is available: the away message
    token = issue_token(desk.ws, "ana")
    desk.ws.close()
    hub = HubProcess(desk.path, tmp_path / "hub.log", channels=True).start()
    site = Site(hub.url, chat)
    ana = HubClient(hub.url, token, directory=tmp_path / "ana")
    try:
        page.goto(site.url)
        frame = page.frame_locator("iframe[data-unibox-chat]")
        frame.get_by_role("button", name="Open chat").click()
        expect(frame.locator("#log li.system")).to_contain_text(
            "Nobody is available", timeout=SHOWN
        )
        frame.get_by_role("textbox", name="Message").fill("Where is my <parcel>?")
        frame.get_by_role("button", name="Send").click()
        expect(frame.locator("#log li.visitor .meta").last).to_contain_text("Sent", timeout=SHOWN)
        frame.get_by_label("Your e-mail").fill("Vi@Example.com")
        frame.get_by_role("button", name="Save e-mail").click()
        expect(frame.locator("#log")).to_contain_text("we will answer at vi@example.com")

        ana.open()

        def conversation() -> str | None:
            ana._kick.set()
            with ana.ws.read() as conn:  # type: ignore[union-attr]
                return conn.exec_driver_sql(
                    "SELECT id FROM conversation WHERE channel_kind = 'chat'"
                ).scalar()

        conv = wait_for(conversation, what="ana's cache has the chat")
        for name, args in (
            ("reply", {"conversation_id": conv, "text": "It leaves today."}),
            ("close", {"conversation_id": conv}),
        ):
            registry.run(ana.ws, name, args, actor=ana.agent["id"])  # type: ignore[arg-type]
        expect(frame.locator("#log li.agent .text").last).to_have_text(
            "It leaves today.", timeout=SHOWN
        )
        expect(frame.get_by_role("button", name="Start a new conversation")).to_be_visible(
            timeout=SHOWN
        )
        [mail] = wait_for(lambda: smtp_server.messages, what="the transcript was e-mailed")
        message = mail.message
        assert mail.rcpt_tos == ["vi@example.com"]
        assert "Transcript of your chat with Website" in message["Subject"]
        text = message.get_body(("plain",)).get_content()
        assert f"Started on the page: {site.url}" in text
        assert "Where is my <parcel>?" in text and "It leaves today." in text
    finally:
        ana.close()
        site.close()
        hub.close()
