"""The hub's watcher, driven in-process on a real workspace (no socket needed for the race
it guards against)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.core.tokens import verify
from unibox_tui.hub.server import Hub, Session


def session_of(ws, handle: str) -> Session:  # type: ignore[no-untyped-def]
    token = issue_token(ws, handle)
    with ws.read() as conn:
        who = verify(conn, token)
    return Session(who.agent_id, who.handle, who.token_id, f"client-{handle}", "127.0.0.1")


async def test_a_session_that_connects_while_tokens_are_checked_is_not_ended(
    team, caplog: pytest.LogCaptureFixture
) -> None:
    """The watcher checks the tokens of the sessions it saw, off the event loop; an agent
    who connected meanwhile was ended as "revoked" because their token was not among those
    checked (1 in 50 agents connecting at once hit it in benchmarks/hub_team.py)."""
    hub = Hub(team.ws, run_engine=False)
    hub.sessions["sid-ana"] = session_of(team.ws, "ana")
    bo = session_of(team.ws, "bo")
    caplog.set_level(logging.INFO, logger="unibox.hub")
    try:
        check = asyncio.create_task(hub._end_revoked())
        await asyncio.sleep(0)  # the check is now waiting on its read in the reader pool
        hub.sessions["sid-bo"] = bo  # on_connect of @bo lands meanwhile
        await check
    finally:
        hub.readers.shutdown(wait=True)
        hub.writer.shutdown(wait=True)
    assert "revoked" not in caplog.text
    assert set(hub.sessions) == {"sid-ana", "sid-bo"}


async def test_the_hub_keeps_its_start_up_objects_out_of_full_collections(team) -> None:  # type: ignore[no-untyped-def]
    """A full collection walked every object of the hub process, start-up's included, and
    held a command's fan-out ~190 ms (benchmarks/hub_nodes.py): they are frozen once the
    hub has started, and given back when it stops."""
    import gc

    gc.unfreeze()
    hub = Hub(team.ws, run_engine=False)
    await hub.startup()
    try:
        assert gc.get_freeze_count() > 10_000
    finally:
        await hub.shutdown()
    assert gc.get_freeze_count() == 0
