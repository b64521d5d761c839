"""A form submission end to end: `unibox channel add form`, a submission, the agent's reply
delivered over real SMTP by the inbox's e-mail channel, and the customer's e-mail answer
(real Dovecot) threading back onto the form's conversation."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, Desk, make_desk

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING


@pytest.fixture
def desk(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server)
    yield d
    d.ws.close()


def test_form_submission_reply_by_email_and_the_answer_threads_back(desk: Desk) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "unibox_tui", "channel", "add", "form", "--db", str(desk.path),
         "--inbox", "Support", "--name", "Contact us", "--field", "name:text",
         "--field", "email:email:required", "--field", "message:long:required"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    form = added.stdout.strip()
    assert "no e-mail channel" not in added.stderr  # Support has one

    sub = cmd.submit_form(
        desk.ws,
        form,
        {"name": "Dana Ortiz", "email": "dana@customer.example", "message": "Where is it?"},
        "web-1",
    )
    cmd.reply(desk.ws, sub.conversation_id, "It ships today.", actor="ana")
    report = desk.once()
    assert report.delivery.sent == 1 and report.ok
    [sent] = desk.smtp.messages
    assert sent.rcpt_tos == ["dana@customer.example"]
    assert sent.message["Subject"] == "Re: Contact us"
    assert sent.message["From"] == "Ana Lima from Acme <support@example.com>"
    assert sent.message["In-Reply-To"] is None  # a form has no Message-ID to answer
    our_id = str(sent.message["Message-ID"])

    # As a mail client writes it (make_mail would fold the long id into an encoded word).
    answer = (
        "From: Dana Ortiz <dana@customer.example>\r\nTo: support@example.com\r\n"
        f"Subject: Re: Contact us\r\nDate: {format_datetime(datetime.now(UTC) + timedelta(seconds=2))}\r\n"
        f"Message-ID: <answer1@customer.example>\r\nIn-Reply-To: {our_id}\r\n"
        f"References: {our_id}\r\n\r\nThanks, it arrived.\r\n"
    )
    desk.box.append(answer.encode())
    assert desk.once().channels[0].new == 1
    kinds = [m.kind for m in q.thread(desk.ws, sub.conversation_id, access=EVERYTHING)]
    # The ticket's line, then Ana took the unassigned conversation by replying.
    assert kinds == ["incoming", "activity", "activity", "outgoing", "incoming"]
    row = q.conversation(desk.ws, sub.conversation_id, access=EVERYTHING)
    assert row.channel_kind == "form" and row.ticket_id == sub.ticket_id and row.waiting
    assert len(desk.conversations()) == 1
