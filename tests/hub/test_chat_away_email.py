"""A visitor who left gets the agent's later answer by e-mail, end to end: nobody is
available, the widget (real Chromium) shows the away message, the visitor writes and leaves
their address, closes the page; the agent (a hub client) answers the chat as usual: the hub
sees the visitor has gone, so the reply goes out by the inbox's e-mail channel (here its
fallback address, relayed through a real aiosmtpd server) without the agent choosing it, the
thread says so, and the visitor's e-mail answer threads back into the same chat. Back on the
site, the visitor sees the answer in the widget, marked as sent by e-mail."""

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
from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.core.db import open_workspace
from unibox_tui.sync.client import HubClient

from .test_chat_widget import SHOWN, reply

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
        # Gone at once (the default waits 10 s: a visitor moving to another page is back).
        chat = cli(
            db, "channel", "add", "chat", "--inbox", "Support", "--name", "Website",
            "--left-after", "0",
        )  # fmt: skip
        hub = HubProcess(db, tmp_path / "hub.log", channels=True).start()
        site = Site(hub.url, chat)
        signals: list[dict[str, Any]] = []
        ana = HubClient(hub.url, token, directory=tmp_path / "ana", on_signals=signals.append)
        try:
            ana.open()
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
            page.close()  # the visitor leaves (their browser keeps who they are)

            def chat_conversation() -> str | None:
                ana._kick.set()
                with ana.ws.read() as conn:  # type: ignore[union-attr]
                    return conn.exec_driver_sql(
                        "SELECT id FROM conversation WHERE channel_kind = 'chat'"
                    ).scalar()

            conv = wait_for(chat_conversation, what="ana's cache has the chat")

            def left() -> bool:
                said = [x["visitor"] for x in signals if "visitor" in x]
                return bool(said) and said[-1] == {
                    **said[-1],
                    "conversation_id": conv,
                    "online": False,
                }

            wait_for(left, what="the hub told ana the visitor left")
            reply(ana, conv, "Yes: choose the new plan under Settings.")  # no channel chosen
            [sent] = wait_for(lambda: relay.messages, what="the relay got the e-mail reply")
            assert sent.rcpt_tos == ["vi@example.com"] and sent.mail_from == ADDRESS
            body = sent.message.get_body(("plain",)).get_content()
            assert "choose the new plan under Settings" in body
            ours = str(sent.message["Message-ID"])
            with sqlite3.connect(db) as con:  # the thread shows it went by e-mail, and why
                [(channel,)] = con.execute(
                    "SELECT channel_id FROM message WHERE body LIKE 'Yes: choose%'"
                ).fetchall()
                [line] = con.execute(
                    "SELECT body FROM message WHERE kind = 'activity' AND body LIKE '%had left%'"
                ).fetchall()
            assert channel == fallback
            assert line == (
                "The visitor had left the chat: Ana Lima's reply went to vi@example.com by e-mail",
            )

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

            # The visitor comes back to the site: the widget shows the answer sent by e-mail
            # and their e-mail answer, in the chat.
            back = page.context.new_page()
            back.goto(site.url)
            frame = back.frame_locator("iframe[data-unibox-chat]")
            frame.get_by_role("button", name="Open chat").click()
            answer_bubble = frame.locator("#log li.agent").filter(has_text="choose the new plan")
            expect(answer_bubble.locator(".meta")).to_contain_text("sent by e-mail", timeout=SHOWN)
            expect(frame.locator("#log li.visitor").last).to_contain_text("Done, thanks!")
        finally:
            ana.close()
            site.close()
            hub.close()
