"""The engine inside the TUI: `unibox` delivers what the agent types, and snoozes wake up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from servers.mail import make_mail
from test_email_engine import Desk, desk  # noqa: F401  (the fixture)
from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.engine import Engine


def test_run_once_wakes_snoozes_that_ended(tmp_path: Path) -> None:
    with open_workspace(tmp_path / "w.db") as ws:
        cmd.create_agent(ws, "Ana", "ana")
        cmd.create_inbox(ws, "Support")
        chat = cmd.add_channel(ws, "Support", "chat", "Chat")
        now = datetime.now(UTC)
        conv = cmd.ingest(ws, cmd.Incoming(chat, "chat", "v1", "Vi", "hi", now)).conversation_id
        cmd.snooze(ws, conv, now + timedelta(hours=1), actor="ana")
        with Engine(ws) as engine:
            asyncio.run(engine.run_once())
        assert q.conversation(ws, conv, access=EVERYTHING).status == "snoozed"
        with Engine(ws, now=lambda: now + timedelta(hours=2)) as engine:
            asyncio.run(engine.run_once())
        assert q.conversation(ws, conv, access=EVERYTHING).status == "open"


async def test_reply_typed_in_the_app_is_delivered_by_its_engine(desk: Desk) -> None:  # noqa: F811
    desk.box.append(make_mail(message_id="<tui1@customer.example>", subject="Where is my parcel"))
    await asyncio.to_thread(desk.once)
    [conv] = [r.id for r in q.list_conversations(desk.ws, q.view("open", access=EVERYTHING)).rows]
    app = UniboxApp(desk.ws, Config(path=Path("/nonexistent/config.toml")), engine=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.press(*"On its way today")
        await pilot.press("ctrl+s")
        await until(lambda: desk.smtp.messages, what="the SMTP server got the reply")
    assert len(desk.smtp.messages) == 1
    sent = desk.smtp.messages[0]
    assert sent.rcpt_tos == ["jane@customer.example"]
    assert "On its way today" in sent.message.get_body(("plain",)).get_content()
    assert sent.message["In-Reply-To"] == "<tui1@customer.example>"
    last = q.thread(desk.ws, conv, access=EVERYTHING)[-1]
    assert (last.kind, last.delivery_state) == ("outgoing", "sent")


async def test_new_mail_shows_in_the_open_list_without_waiting_for_a_poll(
    desk: Desk,  # noqa: F811
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """The engine tells the app it stored mail: the list shows it at once. With the poll
    pushed out of reach, only that path can show it."""
    import unibox_tui.app as app_module

    monkeypatch.setattr(app_module, "POLL_SECONDS", 3600.0)
    app = UniboxApp(desk.ws, Config(path=Path("/nonexistent/config.toml")), engine=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await until(lambda: app.engine is not None, what="the app's engine started")
        desk.box.append(make_mail(message_id="<live1@customer.example>", subject="Fresh mail"))

        def listed() -> bool:
            row = app.screen.conv_list.row_at(0)  # type: ignore[attr-defined]
            return row is not None and row.subject == "Fresh mail"

        await until(listed, what="the new mail is at the top of the open list")
