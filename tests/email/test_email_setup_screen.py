"""The first start's e-mail step against real servers: the form tests the IMAP login and the
SMTP connection (Dovecot, aiosmtpd), stores the typed password in the keyring and adds the
channel; a wrong password is one line in the form and adds nothing."""

from __future__ import annotations

import time
from pathlib import Path

from servers.fixtures import Mailbox, SmtpServer
from textual.widgets import Input, Select, Static

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace
from unibox_tui.screens.setup import EmailChannelScreen, SetupScreen


async def until(pilot, predicate, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        await pilot.pause(0.1)
    assert predicate()


async def test_setup_then_connect_the_team_address(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, memory_keyring
) -> None:
    ws = open_workspace(tmp_path / "w.db")
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml"))
    try:
        async with app.run_test(size=(100, 48)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, SetupScreen))
            await pilot.press(*"Ana", "ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, EmailChannelScreen))
            form = app.screen
            values = {
                "address": "support@example.com",
                "imap_host": mailbox.host,
                "imap_port": str(mailbox.port),
                "smtp_host": smtp_server.host,
                "smtp_port": str(smtp_server.port),
                "username": mailbox.user,
                "password": "wrong",
            }
            for name, value in values.items():
                form.query_one(f"#{name}", Input).value = value
            form.query_one("#security", Select).value = "none"
            await pilot.pause()
            await pilot.press("ctrl+s")
            error = form.query_one(".form-error", Static)
            await until(pilot, lambda: str(error.render()).strip() != "")
            assert isinstance(app.screen, EmailChannelScreen) and q.channels(ws) == []
            assert "wrong" not in str(error.render())  # never the password
            form.query_one("#password", Input).value = mailbox.password
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not isinstance(app.screen, EmailChannelScreen))
        [channel] = q.channels(ws)
        assert (channel.address, channel.inbox_name, channel.status) == (
            "support@example.com",
            "Support",
            "ok",
        )
        assert channel.settings["password_source"] == "keyring"
        assert mailbox.password in memory_keyring.store.values()
    finally:
        ws.close()
