"""The fallback address against a real hub process: mail forwarded to the hub over real SMTP
(smtplib to the hub's own receiver) lands in the inbox attributed to the original sender
with its CC kept; the agent's reply goes out through the relay (the real aiosmtpd server in
tests/servers/smtp.py) and the customer's answer threads back. Mail we do not take is
refused with an SMTP code and stores nothing."""

from __future__ import annotations

import os
import smtplib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers.hub import HubProcess, free_port
from servers.mail import make_mail
from servers.smtp import SmtpServer
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace

UNIBOX = [sys.executable, "-m", "unibox_tui"]
ADDRESS = "support@hub.example"


@dataclass
class Fallback:
    hub: HubProcess
    relay: SmtpServer
    port: int  # the hub's SMTP receiver
    channel: str
    form: str
    db: Path

    def send(self, raw: bytes, to: str = ADDRESS, sender: str = "boss@acme.example") -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
            smtp.sendmail(sender, [to], raw)

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db) as con:
            return con.execute(sql, params).fetchall()

    def counts(self) -> tuple[int, ...]:
        """Contacts, conversations and what people wrote (not activity lines: a reply to an
        unassigned conversation now also writes "X took this by replying")."""
        return tuple(
            self.rows(f"SELECT count(*) FROM {t}")[0][0]
            for t in ("contact", "conversation", "message WHERE kind != 'activity'")
        )


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UNIBOX, *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


@pytest.fixture
def fallback(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Fallback]:
    db = tmp_path / "ws.db"
    ws = open_workspace(db)
    cmd.create_agent(ws, "Ana Lima", "ana", "ana@acme.example")
    cmd.set_agent(ws, "ana", role="admin", actor=None)
    ws.set_setting("default_agent", "ana")
    ws.close()
    port = free_port()
    added = cli(
        db, "channel", "add", "fallback", "--inbox", "Support", "--address", ADDRESS,
        "--listen", f"127.0.0.1:{port}", "--smtp-host", "127.0.0.1",
        "--smtp-port", str(smtp_server.port), "--smtp-security", "none",
        "--company", "Acme", "--max-message-mb", "0.2", "--as", "ana",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    channel = added.stdout.strip()
    form = cli(db, "channel", "add", "form", "--inbox", "Support", "--name", "Contact us")
    assert form.returncode == 0, form.stderr
    assert "no e-mail channel" not in form.stderr  # the fallback address answers forms
    hub = HubProcess(db, tmp_path / "hub.log", channels=True).start()
    try:

        def listening() -> bool:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
                    return smtp.noop()[0] == 250
            except OSError:
                return False

        wait_for(listening, what="the hub's SMTP receiver answered")
        yield Fallback(hub, smtp_server, port, channel, form.stdout.strip(), db)
    finally:
        hub.close()


FORWARD = (
    "Hi team, see below.\n\n"
    "---------- Forwarded message ---------\n"
    "From: Dana Ortiz <dana@customer.example>\n"
    "Date: Mon, 2 Nov 2026 at 09:00\n"
    "Subject: Broken kettle\n\n"
    "My kettle arrived broken. [bold red]Help[/]\n"
)


def test_forwarded_mail_lands_with_the_original_sender_and_the_reply_threads(
    fallback: Fallback,
) -> None:
    mail = make_mail(
        sender="Boss <boss@acme.example>",
        to=ADDRESS,
        cc="Lee <lee@customer.example>",
        subject="Fwd: Broken kettle",
        body=FORWARD,
        message_id="<fwd1@acme.example>",
    )
    fallback.send(mail)
    rows = fallback.rows(
        "SELECT c.id, c.channel_kind, ct.name, m.body, c.meta, m.meta FROM conversation c "
        "JOIN contact ct ON ct.id = c.contact_id JOIN message m ON m.conversation_id = c.id"
    )
    # 250 came after the mail was stored: it is there now, not eventually.
    [(conv, kind, name, body, meta, message_meta)] = rows
    assert (kind, name) == ("fallback", "Dana Ortiz")
    [(identity,)] = fallback.rows("SELECT value FROM contact_identity WHERE kind = 'email'")
    assert identity == "dana@customer.example"
    assert "[bold red]Help[/]" in body
    assert "lee@customer.example" in meta  # CC kept: our reply goes to them too
    assert '"forwarded_by": "boss@acme.example"' in message_meta

    fallback.send(mail)  # the forwarder's server retries: stored once
    assert fallback.counts() == (1, 1, 1)

    ws = open_workspace(fallback.db)
    try:
        cmd.reply(ws, conv, "A new kettle is on its way.", actor="ana")
    finally:
        ws.close()
    wait_for(lambda: fallback.relay.messages, what="the relay got the reply")
    [sent] = fallback.relay.messages
    assert set(sent.rcpt_tos) == {"dana@customer.example", "lee@customer.example"}
    assert sent.mail_from == ADDRESS
    assert sent.message["In-Reply-To"] == "<fwd1@acme.example>"
    assert "Acme" in str(sent.message["From"])
    ours = str(sent.message["Message-ID"])

    wait_for(
        lambda: (
            fallback.rows("SELECT delivery_state FROM message WHERE kind = 'outgoing'")
            == [("sent",)]
        ),
        what="the reply is marked sent",
    )
    answer = make_mail(
        sender="Dana Ortiz <dana@customer.example>",
        to=ADDRESS,
        subject="Re: Broken kettle",
        body="Thanks!",
        message_id="<answer1@customer.example>",
        in_reply_to=ours,
        references=ours,
    )
    fallback.send(answer)
    assert fallback.rows("SELECT DISTINCT conversation_id FROM message") == [(conv,)]
    assert fallback.counts() == (1, 1, 3)


def test_a_form_is_answered_through_the_fallback_address(fallback: Fallback) -> None:
    ws = open_workspace(fallback.db)
    try:
        sub = cmd.submit_form(
            ws, fallback.form, {"email": "eve@customer.example", "message": "Hi"}, "f-1"
        )
        cmd.reply(ws, sub.conversation_id, "Hello Eve", actor="ana")
    finally:
        ws.close()
    wait_for(lambda: fallback.relay.messages, what="the relay got the form's answer")
    [sent] = fallback.relay.messages
    assert sent.rcpt_tos == ["eve@customer.example"] and sent.mail_from == ADDRESS


def test_mail_we_do_not_take_is_refused_and_nothing_is_stored(fallback: Fallback) -> None:
    before = fallback.counts()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        fallback.send(make_mail(to="nobody@hub.example"), to="nobody@hub.example")
    assert refused.value.recipients["nobody@hub.example"][0] == 550

    big = make_mail(to=ADDRESS, body="x" * 400_000)
    with pytest.raises(smtplib.SMTPException) as too_big:
        fallback.send(big)
    assert getattr(too_big.value, "smtp_code", None) == 552

    with pytest.raises(smtplib.SMTPDataError) as no_from:
        fallback.send(b"Subject: hello\r\n\r\nno sender here\r\n")
    assert no_from.value.smtp_code == 550
    assert fallback.counts() == before


def test_channel_embed_shows_the_forwarding_address(fallback: Fallback) -> None:
    shown = cli(fallback.db, "channel", "embed", fallback.channel, "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"address": "support@hub.example"' in shown.stdout
    assert f"127.0.0.1:{fallback.port}" in shown.stdout
