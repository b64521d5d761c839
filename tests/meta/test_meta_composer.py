"""Files in the TUI composer on Messenger and WhatsApp: attached with ctrl+l, a file the
channel refuses named with its limit before anything is queued, and the reply sent by the
app's own engine to the fake Graph API (real HTTP): on WhatsApp one image carries the text
as its caption; on Messenger the text goes first, then one message per file. The website
chat says in the composer that it takes no files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from servers.graph import FakeGraph
from textual.widgets import Input, Static
from tui.tui_world import screen_text, settle
from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.backends import meta
from unibox_tui.backends.messenger import MessengerChannel
from unibox_tui.backends.whatsapp import WhatsAppChannel
from unibox_tui.config import Config
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import Workspace, open_workspace

from .conftest import PSID, WA_ID, payload

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n a png of the new kettle"
PDF = b"%PDF-1.4 the invoice"


def desk(path: Path, graph: FakeGraph, monkeypatch: Any, wrote_at: datetime) -> Workspace:
    """Support with a WhatsApp number and a Messenger page on the fake Graph API, and a
    website chat; one customer on each, who wrote at `wrote_at` (WhatsApp newest)."""
    monkeypatch.setenv("WA_TOKEN", graph.wa_token)
    monkeypatch.setenv("PAGE_TOKEN", graph.page_token)
    monkeypatch.setenv("T_SECRET", "x")
    ws = open_workspace(path)
    cmd.create_agent(ws, "Ana Lima", "ana", role="admin")
    cmd.create_inbox(ws, "Support")
    common = {
        "app_secret_source": "env:T_SECRET",
        "verify_token_source": "env:T_SECRET",
        "graph_url": graph.url,
    }
    wa = WhatsAppChannel.check_settings(
        {"phone_number_id": graph.phone_number_id, "waba_id": graph.waba_id,
         "token_source": "env:WA_TOKEN", **common}, None,
    )  # fmt: skip
    fb = MessengerChannel.check_settings(
        {"page_id": graph.page_id, "page_token_source": "env:PAGE_TOKEN", **common}, None
    )
    chat = cmd.add_channel(ws, "Support", "chat", "Website chat")
    cmd.ingest(
        ws,
        cmd.Incoming(chat, "chat", "visitor:v1", "Vera", "Do you ship abroad?", wrote_at),
    )
    ids = {
        "messenger": cmd.add_channel(ws, "Support", "messenger", "Page", settings=fb),
        "whatsapp": cmd.add_channel(ws, "Support", "whatsapp", "WhatsApp", settings=wa),
    }
    rows = {r.id: r for r in q.channels(ws)}
    body = payload(
        "messenger_message",
        page_id=graph.page_id,
        psid=PSID,
        time_ms=int((wrote_at + timedelta(minutes=1)).timestamp() * 1000),
    )
    adapter: Any = MessengerChannel.from_channel(rows[ids["messenger"]])
    events = adapter.parse(json.loads(body))
    for inc in events.incoming:
        inc.contact_name = "Pat Page"
    meta.store(ws, events)
    body = payload(
        "whatsapp_text", waba_id=graph.waba_id, phone_number_id=graph.phone_number_id,
        wa_id=WA_ID, wamid="wamid.IN1", time_s=int((wrote_at + timedelta(minutes=2)).timestamp()),
        text="Is the kettle in stock?", name="Wanda",
    )  # fmt: skip
    adapter = WhatsAppChannel.from_channel(rows[ids["whatsapp"]])
    events = adapter.parse(json.loads(body))
    meta.store(ws, events, adapter.enrich(events))
    return ws


async def open_kind(pilot: Any, kind: str) -> None:
    """Move the list to the conversation on a channel of this kind and open the reply."""
    app = pilot.app
    for key in ("K", "J"):  # up to the top, then down (wherever the focus is)
        for _ in range(3):
            row = app.screen.thread_row
            if row is not None and row.channel_kind == kind:
                break
            await pilot.press(key)
            await settle(pilot)
    assert app.screen.thread_row.channel_kind == kind
    await pilot.press("r")
    await settle(pilot)


def flat(app: UniboxApp) -> str:
    return " ".join(screen_text(app).split())


def said(app: UniboxApp) -> str:
    """The composer's one line under the editor, when shown."""
    line = app.screen.query_one("#composer-error", Static)
    return str(line.content) if line.display else ""


def files_row(app: UniboxApp) -> str:
    line = app.screen.query_one("#composer-files", Static)
    return str(line.content) if line.display else ""


async def test_files_from_the_composer_go_out_on_whatsapp_and_messenger(
    tmp_path: Path, monkeypatch: Any, graph: FakeGraph
) -> None:
    ws = desk(tmp_path / "ws.db", graph, monkeypatch, datetime.now(UTC) - timedelta(minutes=30))
    (tmp_path / "kettle.png").write_bytes(PNG)
    (tmp_path / "invoice.pdf").write_bytes(PDF)
    (tmp_path / "funny.gif").write_bytes(b"GIF89a")
    monkeypatch.chdir(tmp_path)  # the path prompt starts in the current directory
    config = Config(path=tmp_path / "c.toml", agent="ana", undo_send_seconds=0)
    app = UniboxApp(ws, config, engine=True)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        # The website chat: no files, said in the composer with where files do go.
        await open_kind(pilot, "chat")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert said(app) == (
            "Live chat replies carry text only: files go with e-mail, Messenger and "
            "WhatsApp replies (ctrl+o continues by e-mail)."
        )
        await pilot.press("escape")
        # WhatsApp: a GIF is refused in the prompt, with what the channel takes.
        await open_kind(pilot, "whatsapp")
        hint = str(app.screen.query_one("#composer-hint", Static).content)
        assert hint.endswith("ctrl+l files · ctrl+n template")
        await pilot.press(*"In stock", "ctrl+l")
        await settle(pilot)
        await pilot.press(*"funny.gif", "enter")
        await settle(pilot)
        refused = str(app.screen.query_one("#prompt-error", Static).content)
        assert refused.startswith(
            "funny.gif is image/gif, which this channel does not send (it takes images: JPEG, "
            "PNG; videos: MP4, 3GPP;"
        )
        prompt = app.screen.query_one(Input)
        prompt.value = prompt.value.replace("funny.gif", "kettle.png")
        await pilot.press("enter")
        await settle(pilot)
        assert files_row(app) == "Files [1] kettle.png 32 B"
        # Checked again on send: a file grown since is refused there, in one line, and
        # nothing is queued.
        (tmp_path / "kettle.png").write_bytes(PNG + b"0" * (6 * 1024 * 1024))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert said(app) == "kettle.png is 6.0 MB: files of one reply may total 5.0 MB at most"
        assert sent(ws) == [] and graph.requests == []
        (tmp_path / "kettle.png").write_bytes(PNG)
        await pilot.press("ctrl+s")
        await until(lambda: graph.sent(), what="WhatsApp got the reply")
        # Messenger: the text, then the image and the PDF, each its own message.
        await open_kind(pilot, "messenger")
        await pilot.press(*"Here you are", "ctrl+l")
        await settle(pilot)
        await pilot.press(*"kettle.png", "enter")
        await settle(pilot)
        await pilot.press("ctrl+l")  # a file attached: the picker offers to add or remove
        await settle(pilot)
        await pilot.press("enter")  # Attach a file…
        await settle(pilot)
        await pilot.press(*"invoice.pdf", "enter")
        await settle(pilot)
        assert files_row(app) == "Files [1] kettle.png 32 B  [2] invoice.pdf 20 B"
        await pilot.press("ctrl+s")
        await until(lambda: len(graph.sent()) == 4, what="Messenger got the text and two files")
        await until(
            lambda: {m.delivery_state for m in sent(ws)} == {"sent"}, what="both replies sent"
        )
    whatsapp, text, image, pdf = (r.body for r in graph.sent())
    (wa_upload,) = graph.sent("/media")
    assert wa_upload.body["file"] == ("kettle.png", "image/png", PNG)
    assert whatsapp["type"] == "image"
    assert whatsapp["image"]["caption"] == "In stock"  # one image carries the text
    assert text["message"]["text"] == "Here you are"
    assert image["message"]["attachment"]["type"] == "image"
    assert pdf["message"]["attachment"]["type"] == "file"
    assert [u.body["filedata"][0] for u in graph.sent("/message_attachments")] == [
        "kettle.png",
        "invoice.pdf",
    ]
    assert sorted(a.filename for m in sent(ws) for a in m.attachments) == [
        "invoice.pdf",
        "kettle.png",
        "kettle.png",
    ]
    ws.close()


def sent(ws: Workspace) -> list[q.MessageRow]:
    out = []
    for row in q.list_conversations(ws, q.view("all", access=EVERYTHING)).rows:
        out += [m for m in q.thread(ws, row.id, access=EVERYTHING) if m.kind == "outgoing"]
    return out


def test_composer_with_a_file_on_whatsapp(
    snap_compare: Any, tmp_path: Path, monkeypatch: Any, graph: FakeGraph
) -> None:
    """The WhatsApp composer with a text and an attached image: its Files row and keys."""
    ws = desk(tmp_path / "ws.db", graph, monkeypatch, NOW - timedelta(hours=1))
    (tmp_path / "kettle.png").write_bytes(PNG)
    monkeypatch.chdir(tmp_path)
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml", agent="ana"), now=lambda: NOW)

    async def attach(pilot: Any) -> None:
        await settle(pilot)
        await open_kind(pilot, "whatsapp")
        # A blinking cursor would make the picture depend on the moment it is taken: off
        # before any key, so the editor never caches a line drawn in the cursor's off phase.
        editor = pilot.app.screen.composer.editor
        editor.cursor_blink = False
        await pilot.press(*"In stock", "ctrl+l")
        await settle(pilot)
        await pilot.press(*"kettle.png", "enter")
        await settle(pilot)
        await until(lambda: editor.has_focus, what="the editor has the focus back")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 32), run_before=attach)
    ws.close()
