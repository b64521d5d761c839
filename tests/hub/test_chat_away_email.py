"""A visitor who left gets the agent's later answer by e-mail, end to end: nobody is
available, the widget (real Chromium) shows the away message, the visitor writes and leaves
their address, closes the page; the agent (a hub client) answers the chat "via e-mail": the
reply goes out by the inbox's e-mail channel (here its fallback address, relayed through a
real aiosmtpd server), and the visitor's e-mail answer threads back into the same chat."""

from __future__ import annotations

import smtplib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from servers.browser import own_chromium
from servers.hub import HubProcess, free_port
from servers.site import Site
from servers.smtp import SmtpServer
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core.commands import registry
from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.core.db import open_workspace
from unibox_tui.sync.client import HubClient

from .test_chat_widget import SHOWN

browser = pytest.fixture(scope="module")(own_chromium)
ADDRESS = "support@hub.example"


def cli(db: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_visitor_who_left_gets_the_answer_by_email_and_answers_back(
    tmp_path: Path, page: Any
) -> None:
    db = tmp_path / "ws.db"
    ws = open_workspace(db)
    cmd.create_agent(ws, "Ana Lima", "ana", "ana@acme.example")
    cmd.set_agent(ws, "ana", role="admin", actor=None)
    cmd.set_availability(ws, "ana", "away")  # nobody is available: the away message
    ws.set_setting("default_agent", "ana")
    token = issue_token(ws, "ana")
    ws.close()
    receiver = free_port()
    with SmtpServer() as relay:
        fallback = cli(
            db, "channel", "add", "fallback", "--inbox", "Support", "--address", ADDRESS,
            "--listen", f"127.0.0.1:{receiver}", "--smtp-host", "127.0.0.1",
            "--smtp-port", str(relay.port), "--smtp-security", "none", "--as", "ana",
        )  # fmt: skip
        chat = cli(db, "channel", "add", "chat", "--inbox", "Support", "--name", "Website")
        hub = HubProcess(db, tmp_path / "hub.log", channels=True).start()
        site = Site(hub.url, chat)
        ana = HubClient(hub.url, token, directory=tmp_path / "ana")
        try:
            page.goto(site.url)
            frame = page.frame_locator("iframe[data-unibox-chat]")
            frame.get_by_role("button", name="Open chat").click()
            expect(frame.locator("#log li.system")).to_contain_text(
                "Nobody is available", timeout=SHOWN
            )
            frame.get_by_role("textbox", name="Message").fill("Can I change my plan?")
            frame.get_by_role("button", name="Send").click()
            expect(frame.locator("#log li.visitor .meta").last).to_contain_text(
                "Sent", timeout=SHOWN
            )
            frame.get_by_label("Your e-mail").fill("Vi@Example.com")
            frame.get_by_role("button", name="Save e-mail").click()
            expect(frame.locator("#log")).to_contain_text("we will answer at vi@example.com")
            page.context.close()  # the visitor leaves

            ana.open()

            def chat_conversation() -> str | None:
                ana._kick.set()
                with ana.ws.read() as conn:  # type: ignore[union-attr]
                    return conn.exec_driver_sql(
                        "SELECT id FROM conversation WHERE channel_kind = 'chat'"
                    ).scalar()

            conv = wait_for(chat_conversation, what="ana's cache has the chat")
            registry.run(
                ana.ws,  # type: ignore[arg-type]
                "reply",
                {
                    "conversation_id": conv,
                    "text": "Yes: choose the new plan under Settings.",
                    "via_channel_id": fallback,
                },
                actor=ana.agent["id"],
            )
            [sent] = wait_for(lambda: relay.messages, what="the relay got the e-mail reply")
            assert sent.rcpt_tos == ["vi@example.com"] and sent.mail_from == ADDRESS
            body = sent.message.get_body(("plain",)).get_content()
            assert "choose the new plan under Settings" in body
            ours = str(sent.message["Message-ID"])

            # The visitor answers the e-mail: it lands in the same chat conversation.
            # Raw: our Message-ID is longer than a header line, and the e-mail package would
            # fold it as an encoded word, which no mail client does to a message id.
            answer = (
                "From: Vi <vi@example.com>\r\n"
                f"To: {ADDRESS}\r\n"
                f"Subject: Re: {sent.message['Subject']}\r\n"
                "Message-ID: <vi-answer-1@example.com>\r\n"
                f"In-Reply-To: {ours}\r\nReferences: {ours}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\nDone, thanks!\r\n"
            ).encode()
            with smtplib.SMTP("127.0.0.1", receiver, timeout=10) as smtp:
                smtp.sendmail("vi@example.com", [ADDRESS], answer)
            with sqlite3.connect(db) as con:
                threaded = con.execute(
                    "SELECT conversation_id FROM message WHERE body LIKE 'Done, thanks!%'"
                ).fetchall()
            assert threaded == [(conv,)]
        finally:
            ana.close()
            site.close()
            hub.close()
