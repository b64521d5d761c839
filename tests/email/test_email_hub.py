"""A reply written in an agent's app while it was cut off from the hub: queued in the cache,
sent after the reconnect, applied once by the hub and delivered once over real SMTP by the
hub's e-mail channel (real Dovecot, real SMTP server, a real hub process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.hub import HubProcess
from servers.mail import make_mail
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, make_desk
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core.commands import registry
from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.sync.client import HubClient


def test_a_reply_queued_offline_is_applied_and_delivered_once(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)  # the hub process inherits it
    desk = make_desk(tmp_path, mailbox, smtp_server)
    cmd.create_agent(desk.ws, "Bo Chen", "bo", "bo@example.com")
    token = issue_token(desk.ws, "bo")
    desk.ws.close()
    mailbox.append(make_mail(message_id="<h1@customer.example>", subject="Broken kettle"))
    hub = HubProcess(desk.path, tmp_path / "hub.log", channels=True).start()
    bo = HubClient(hub.url, token, directory=tmp_path / "bo")
    try:
        bo.open()

        def conversation() -> str | None:
            bo._kick.set()
            with bo.ws.read() as conn:  # type: ignore[union-attr]
                row = conn.exec_driver_sql(
                    "SELECT id FROM conversation WHERE subject = 'Broken kettle'"
                ).first()
            return row[0] if row else None

        conv = wait_for(conversation, what="the hub synced the customer's mail to bo's cache")
        bo._sio.disconnect()  # the network drops
        wait_for(lambda: bo.state == "reconnecting", what="bo is cut off")
        registry.run(
            bo.ws,  # type: ignore[arg-type]
            "reply",
            {"conversation_id": conv, "text": "A new kettle is on its way."},
            actor=bo.agent["id"],
        )
        registry.run(bo.ws, "close", {"conversation_id": conv}, actor=bo.agent["id"])  # type: ignore[arg-type]
        assert bo.status().queued == 2
        assert not smtp_server.messages
        bo._sio.connect(hub.url, auth=bo._auth, transports=["websocket"])
        wait_for(lambda: bo.status().queued == 0, what="bo's queue went out")
        wait_for(lambda: smtp_server.messages, what="the hub's channel sent the reply")

        def sent_state() -> str | None:
            bo._kick.set()
            with bo.ws.read() as conn:  # type: ignore[union-attr]
                row = conn.exec_driver_sql(
                    "SELECT delivery_state FROM message WHERE conversation_id = ? AND kind = 'outgoing'",
                    (conv,),
                ).first()
            return row[0] if row and row[0] == "sent" else None

        wait_for(sent_state, what="bo's cache shows the reply as sent")
        with bo.ws.read() as conn:  # type: ignore[union-attr]
            outgoing = conn.exec_driver_sql(
                "SELECT count(*) FROM message WHERE conversation_id = ? AND kind = 'outgoing'",
                (conv,),
            ).scalar_one()
        assert outgoing == 1
        [sent] = smtp_server.messages
        assert sent.message["Subject"] == "Re: Broken kettle"
        assert "A new kettle is on its way." in sent.message.get_body(("plain",)).get_content()
    finally:
        bo.close()
        hub.close()
    assert len(smtp_server.messages) == 1
