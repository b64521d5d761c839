"""Messenger and WhatsApp in the agent's TUI (Pilot): hostile customer names from webhooks
shown literally, the closed window said in the composer, a template sent from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tui.tui_world import EVIL_NAME, screen_text, settle

from unibox_tui.app import UniboxApp
from unibox_tui.backends import meta
from unibox_tui.backends.messenger import MessengerChannel
from unibox_tui.backends.whatsapp import WhatsAppChannel
from unibox_tui.config import Config
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace

from .conftest import PSID, WA_ID, payload

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TEMPLATES = json.loads(payload("whatsapp_templates"))["data"]


def build(path: Path, monkeypatch) -> tuple[object, dict[str, str]]:  # type: ignore[no-untyped-def]
    for var in ("T_TOKEN", "T_SECRET", "T_VERIFY"):
        monkeypatch.setenv(var, "x")
    ws = open_workspace(path)
    cmd.create_agent(ws, "Ana Lima", "ana", role="admin")
    cmd.create_inbox(ws, "Support")
    sources = {"app_secret_source": "env:T_SECRET", "verify_token_source": "env:T_VERIFY"}
    from unibox_tui.backends.templates import from_graph

    wa = WhatsAppChannel.check_settings(
        {"phone_number_id": "1", "waba_id": "2", "token_source": "env:T_TOKEN", **sources,
         "templates": from_graph(TEMPLATES)}, None,
    )  # fmt: skip
    fb = MessengerChannel.check_settings(
        {"page_id": "3", "page_token_source": "env:T_TOKEN", **sources}, None
    )
    ids = {
        "whatsapp": cmd.add_channel(ws, "Support", "whatsapp", "WhatsApp", settings=wa),
        "messenger": cmd.add_channel(ws, "Support", "messenger", "Page", settings=fb),
    }
    rows = {r.id: r for r in q.channels(ws)}
    # Documented webhooks with a hostile profile name, parsed and stored as the hub does.
    evil = json.dumps(EVIL_NAME)[1:-1]  # as JSON escapes it
    old = int((NOW - timedelta(hours=30)).timestamp())
    body = payload(
        "whatsapp_text", waba_id="2", phone_number_id="1", wa_id=WA_ID, wamid="wamid.T1",
        time_s=old, text="[bold]hi[/bold] \\u001b[31mred", name=evil,
    )  # fmt: skip
    adapter = WhatsAppChannel.from_channel(rows[ids["whatsapp"]])
    events = adapter.parse(json.loads(body))
    meta.store(ws, events, adapter.enrich(events))
    body = payload("messenger_message", page_id="3", psid=PSID, time_ms=old * 1000)
    fb_adapter = MessengerChannel.from_channel(rows[ids["messenger"]])
    events = fb_adapter.parse(json.loads(body))
    for inc in events.incoming:
        inc.contact_name = EVIL_NAME  # what a profile fetch could return
    meta.store(ws, events)
    return ws, ids


async def test_hostile_names_literal_window_said_and_template_sent(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ws, _ids = build(tmp_path / "ws.db", monkeypatch)
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml", agent="ana"), now=lambda: NOW)
    async with app.run_test(size=(180, 48), notifications=True) as pilot:
        await settle(pilot)
        text = screen_text(app)
        # Markup shown, not applied; the escape sequences (a title change, colours) removed.
        assert text.count("[bold red]Mallory[/bold red] X evil") >= 2  # list row and thread
        assert "pwned" not in text
        # The WhatsApp conversation is the newest: open the composer on it.
        screen = app.screen
        while screen.thread_row is None or screen.thread_row.channel_kind != "whatsapp":
            await pilot.press("j")
            await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        head = screen_text(app)
        assert "24 h window closed Mar 02 04:00 UTC · templates only: ctrl+n" in head
        await pilot.press(*"hello")
        await pilot.press("ctrl+s")  # refused: the window closed; said why
        await settle(pilot)
        toast = " ".join(screen_text(app).split())  # a toast wraps its words over lines
        assert "reply window of this channel closed" in toast.replace(" │ ", " ")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press(*"ticket", "enter")
        await settle(pilot)
        await pilot.press(*"Sheena", "enter")
        await settle(pilot)
        await pilot.press(*"#123", "enter")
        await settle(pilot)
    conv = screen.thread_row.id
    sent = [m for m in q.thread(ws, conv, access=EVERYTHING) if m.kind == "outgoing"]
    assert [m.body for m in sent] == [
        "Hi Sheena, your ticket #123 has an update. Reply to continue."
    ]
    with ws.read() as conn:
        stored = conn.exec_driver_sql("SELECT meta FROM message WHERE kind = 'outgoing'").scalar()
    assert json.loads(stored)["template"] == {
        "name": "ticket_update",
        "language": "en_US",
        "params": ["Sheena", "#123"],
    }
    ws.close()
