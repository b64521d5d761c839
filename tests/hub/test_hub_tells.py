"""What agents push reaches the change listeners (the chat's `on_head`, which pokes the
visitors concerned) as soon as its group commits, not with the agents' next poke: driven
in-process through the hub's own push handler, on a real workspace."""

from __future__ import annotations

import asyncio

from tests.hub.test_hub_watcher import session_of
from unibox_tui.core import commands as cmd
from unibox_tui.core.ids import new_id
from unibox_tui.hub.server import Hub


async def test_a_push_is_told_to_the_change_listeners_before_the_agents_next_poke(team) -> None:  # type: ignore[no-untyped-def]
    conv = cmd.ingest(team.ws, team.incoming("Hi", who="carla@x.example")).conversation_id
    hub = Hub(team.ws, run_engine=False)
    before = hub.head = hub.poked = hub._heads_told = team.ws.change_seq()
    told: list[tuple[int, int, int]] = []
    heard = asyncio.Event()

    async def listener(previous: int, head: int) -> None:
        told.append((previous, head, hub.poked))
        heard.set()

    hub.on_head.append(listener)
    # The agents' next poke is far off (a poke just went out; the gap is an hour).
    hub._poked_at = asyncio.get_running_loop().time()
    hub.poke_gap = 3600.0
    try:
        reply = {"conversation_id": conv, "text": "On its way"}
        answer = await hub.on_push(
            session_of(team.ws, "bo"),
            {"mutations": [{"mutation_id": 1, "name": "reply", "args": reply, "id": new_id()}]},
        )
        seq = answer["answers"][0]["seq"]
        await asyncio.wait_for(heard.wait(), 10)
        # Told of the reply while the agents' poke still waits: nothing poked yet.
        assert told == [(before, seq, before)]
        # The poke that carries it later does not tell that range again.
        hub._heads_moved(before, seq)
        await asyncio.sleep(0.1)
        assert told == [(before, seq, before)]
    finally:
        hub._closing = True
        for task in (hub._applier, hub._heads_task):
            if task is not None and not task.done():
                task.cancel()
        hub.readers.shutdown(wait=True)
        hub.writer.shutdown(wait=True)
