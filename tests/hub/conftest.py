"""A team workspace served by a real hub process, and agents' clients connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers.hub import HubProcess

from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.sync.client import HubClient


@dataclass
class Served:
    hub: HubProcess
    tokens: dict[str, str]  # handle -> token
    tmp: Path

    def client(self, handle: str, name: str | None = None) -> HubClient:
        """A connected client for @handle with its own cache directory (`name` keeps a
        cache across clients, as one machine restarting the app would)."""
        c = HubClient(
            self.hub.url, self.tokens[handle], directory=self.tmp / f"cache-{name or handle}"
        )
        c.open()
        assert c.wait_synced(30), "the first sync did not finish"
        return c


@pytest.fixture
def served(team, tmp_path: Path) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    from unibox_tui.core import commands as cmd

    cmd.set_agent(team.ws, "ana", role="admin", actor=None)  # ana runs the team
    tokens = {h: issue_token(team.ws, h) for h in ("ana", "bo", "cy")}
    team.ws.close()
    hub = HubProcess(tmp_path / "ws.db", tmp_path / "hub.log").start()
    try:
        yield Served(hub, tokens, tmp_path)
    finally:
        hub.close()
