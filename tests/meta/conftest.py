"""A real hub process with a Messenger and a WhatsApp channel, talking to a fake Graph API
(tests/servers/graph.py), and Meta's documented webhook payloads (tests/fixtures/meta/)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers.graph import FakeGraph
from servers.hub import HubProcess

from unibox_tui.backends.meta import sign
from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"
SECRETS = {
    "MSG_PAGE_TOKEN": "page-token-1",
    "MSG_APP_SECRET": "messenger-app-secret",
    "MSG_VERIFY": "verify-messenger-42",
    "WA_TOKEN": "wa-token-1",
    "WA_APP_SECRET": "whatsapp-app-secret",
    "WA_VERIFY": "verify-whatsapp-42",
}
PSID = "1254459154682919"
WA_ID = "16505551234"


def payload(fixture: str, /, **values: Any) -> bytes:
    """A documented payload with its placeholders filled (`PAGE_ID="1"` -> `<PAGE_ID>`)."""
    text = (FIXTURES / f"{fixture}.json").read_text()
    for key, value in values.items():
        text = text.replace(f"<{key.upper()}>", str(value))
    assert "<" not in text.replace("\\u003c", ""), f"unfilled placeholder in {fixture}: {text}"
    json.loads(text)  # still JSON
    return text.encode()


def ms(hours_ago: float = 0) -> int:
    return int((time.time() - hours_ago * 3600) * 1000)


def cli(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", "--db", str(db), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ},
        timeout=120,
    )


@dataclass
class World:
    graph: FakeGraph
    hub: HubProcess
    db: Path
    messenger: str
    whatsapp: str

    def url(self, kind: str, channel: str | None = None) -> str:
        return f"{self.hub.url}/webhooks/{kind}/{channel or getattr(self, kind)}"

    def post(
        self,
        kind: str,
        body: bytes,
        *,
        signature: str | None = "valid",
        channel: str | None = None,
    ) -> int:
        secret = SECRETS["MSG_APP_SECRET" if kind == "messenger" else "WA_APP_SECRET"]
        request = urllib.request.Request(self.url(kind, channel), data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        if signature == "valid":
            request.add_header("X-Hub-Signature-256", sign(secret, body))
        elif signature is not None:
            request.add_header("X-Hub-Signature-256", signature)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    def get(self, kind: str, query: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"{self.url(kind)}?{query}", timeout=10) as answer:
                return int(answer.status), answer.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as con:
            return con.execute(sql, params).fetchall()

    def messages(self, channel: str, kind: str | None = None) -> list[tuple[Any, ...]]:
        """(kind, body, external_id, delivery_state, delivery_error, conversation_id)."""
        sql = (
            "SELECT kind, body, external_id, delivery_state, delivery_error, conversation_id "
            "FROM message WHERE channel_id = ?"
        )
        if kind:
            return self.rows(sql + " AND kind = ? ORDER BY rid", channel, kind)
        return self.rows(sql + " ORDER BY rid", channel)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(self.db, *args)


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    server = FakeGraph().start()
    yield server
    server.stop()


@pytest.fixture
def make_world(
    graph: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., World]]:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    hubs: list[HubProcess] = []

    def make(*, human_agent_tag: bool = False, default_chatflow: bool = False) -> World:
        """`default_chatflow`: keep the Page's default chatflow (a welcome sent to every new
        conversation) enabled; off by default so tests count only the replies they send."""
        db = tmp_path / "ws.db"
        ws = open_workspace(db)
        cmd.create_agent(ws, "Ana Lima", "ana", "ana@acme.example", role="admin")
        ws.set_setting("default_agent", "ana")
        ws.close()
        args = [
            "channel", "add", "messenger", "--inbox", "Support", "--page-id", graph.page_id,
            "--page-token-env", "MSG_PAGE_TOKEN", "--app-secret-env", "MSG_APP_SECRET",
            "--verify-token-env", "MSG_VERIFY", "--graph-url", graph.url,
        ]  # fmt: skip
        if human_agent_tag:
            args.append("--human-agent-tag")
        added = cli(db, *args, "--as", "ana")
        assert added.returncode == 0, added.stderr
        messenger = added.stdout.strip()
        if not default_chatflow:
            flow = f"Messenger {graph.page_id} live chat"
            off = cli(db, "chatflow", "disable", flow, "--as", "ana")
            assert off.returncode == 0, off.stderr
        added = cli(
            db, "channel", "add", "whatsapp", "--inbox", "Support",
            "--phone-number-id", graph.phone_number_id, "--waba-id", graph.waba_id,
            "--token-env", "WA_TOKEN", "--app-secret-env", "WA_APP_SECRET",
            "--verify-token-env", "WA_VERIFY", "--graph-url", graph.url, "--as", "ana",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        whatsapp = added.stdout.strip()
        hub = HubProcess(db, tmp_path / "hub.log", channels=True).start()
        hubs.append(hub)
        return World(graph, hub, db, messenger, whatsapp)

    yield make
    for hub in hubs:
        hub.close()
