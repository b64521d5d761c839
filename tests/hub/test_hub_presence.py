"""The hub records who has an app connected, and routing on its workspace asks it: driven
in-process through the hub's own disconnect handler, with real tokens."""

from __future__ import annotations

from datetime import timedelta

from tests.hub.test_hub_watcher import session_of
from unibox_tui.core import clock
from unibox_tui.core import commands as cmd
from unibox_tui.hub.server import Hub


async def test_an_agent_whose_app_left_is_away_for_routing_after_the_grace(team) -> None:  # type: ignore[no-untyped-def]
    hub = Hub(team.ws, run_engine=False)
    try:
        assert team.ws.presence is hub.presence
        # What on_connect records (every real-hub test connects through it), then the real
        # disconnect handler for Bo's only app.
        for handle in ("ana", "bo"):
            hub.sessions[f"sid-{handle}"] = session_of(team.ws, handle)
            hub.presence.connected(hub.sessions[f"sid-{handle}"].agent_id)
        assert hub.presence.is_connected(team.ana) and hub.presence.is_connected(team.bo)
        await hub.on_disconnect("sid-bo")
        assert not hub.presence.is_connected(team.bo)
        cmd.set_routing(team.ws, "Support", rules="round-robin", teams=["Tier 1"])
        later = clock.utcnow() + hub.presence.grace + timedelta(seconds=1)
        picks = []
        for i in range(3):
            inc = team.incoming("Hi", who=f"p{i}@x.example", at=later)
            conv = cmd.ingest(team.ws, inc, now=later).conversation_id
            picks.append(_assignee(team, conv))
        assert picks == [team.ana] * 3  # Bo's app left longer ago than the grace
    finally:
        hub.readers.shutdown(wait=True)
        hub.writer.shutdown(wait=True)


def _assignee(team, conv: str) -> str | None:  # type: ignore[no-untyped-def]
    with team.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT assignee_id FROM conversation WHERE id = ?", (conv,)
        ).scalar()


async def test_teammates_see_a_comment_being_written_as_a_comment_not_a_reply(team) -> None:  # type: ignore[no-untyped-def]
    # Found in a walk-through: writing an internal comment showed teammates "Ana is typing a
    # reply" (the hub kept only "typing"), and a sent reply still showed as being typed until
    # the signal expired; a reply being written still wins over viewing.
    hub = Hub(team.ws, run_engine=False)
    try:
        conv = cmd.ingest(team.ws, team.incoming("Hi", who="p@x.example")).conversation_id
        hub.sessions["sid-ana"] = ana = session_of(team.ws, "ana")
        hub.sessions["sid-bo"] = bo = session_of(team.ws, "bo")
        await hub.on_signal(ana, {"kind": "viewing", "conversation_id": conv})
        await hub.on_signal(ana, {"kind": "typing", "conversation_id": conv, "private": True})
        await hub.on_signal(bo, {"kind": "viewing", "conversation_id": conv})
        assert await hub.signals.live(conv) == {team.ana: "commenting", team.bo: "viewing"}
        await hub.on_signal(bo, {"kind": "typing", "conversation_id": conv})
        assert (await hub.signals.live(conv))[team.bo] == "typing"
        # Sent (or put away): at once no longer writing, still looking.
        await hub.on_signal(bo, {"kind": "idle", "conversation_id": conv})
        assert (await hub.signals.live(conv))[team.bo] == "viewing"
        await hub.on_signal(bo, {"kind": "typing", "conversation_id": conv})
        await hub.on_signal(ana, {"kind": "left", "conversation_id": conv})
        assert await hub.signals.live(conv) == {team.bo: "typing"}
    finally:
        hub.readers.shutdown(wait=True)
        hub.writer.shutdown(wait=True)
