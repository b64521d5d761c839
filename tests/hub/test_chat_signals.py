"""Chat visitors' signals to agents (hub/server.py `tell_agents`): sent in turns, several in
one `signals` event, each conversation's newest state, and only to the agents who may see
the chat's inbox as the rules are now. The agents here are raw socket.io clients, to see the
events as they travel (HubClient hands each signal of a batch on by itself)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import socketio
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core.db import open_workspace
from unibox_tui.core.ids import new_id
from unibox_tui.hub.protocol import PROTOCOL
from unibox_tui.sync.client import HubClient

from .conftest import Served


def agent_socket(url: str, token: str) -> tuple[socketio.Client, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    client = socketio.Client(reconnection=False)
    client.on("signals", events.append)
    client.connect(
        url,
        transports=["websocket"],
        auth={"token": token, "protocol": PROTOCOL, "client_id": f"raw-{new_id()}"},
        wait_timeout=5,
    )
    return client, events


def visitor(url: str, channel: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(
        url,
        namespaces=["/visitor"],
        transports=["websocket"],
        auth={"channel": channel},
        wait_timeout=5,
    )
    return client


def heard(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each signal of the events, batches unpacked, in order."""
    return [s for e in list(events) for s in (e["batch"] if "batch" in e else [e])]


def visitors_heard(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s["visitor"] for s in heard(events) if "visitor" in s]


def send(guest: socketio.Client, text: str) -> str:
    answer = guest.call("send", {"client_id": new_id(), "text": text}, namespace="/visitor")
    assert answer.get("ok"), answer
    return str(answer["conversation_id"])


def open_at_once(guests: list[socketio.Client]) -> list[str]:
    """Each visitor opens a chat ("hello"), all at the same moment; their conversations."""
    started = threading.Barrier(len(guests))
    convs: list[str] = []

    def write(guest: socketio.Client) -> None:
        started.wait(10)
        convs.append(send(guest, "hello"))

    threads = [threading.Thread(target=write, args=(g,)) for g in guests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return convs


def test_visitors_opening_chats_at_once_reach_an_agent_together(served: Served, team: Any) -> None:
    bo, events = agent_socket(served.hub.url, served.tokens["bo"])
    guests = [visitor(served.hub.url, team.chat) for _ in range(12)]
    try:
        convs = open_at_once(guests)
        assert len(convs) == len(guests)
        wait_for(
            lambda: set(convs) <= {v["conversation_id"] for v in visitors_heard(events)},
            what="bo heard every new chat's visitor on the page",
        )
        said = visitors_heard(events)
        assert all(v["online"] for v in said)
        # Told together: fewer events than chats (one each before), and within an event each
        # conversation once, with its newest state.
        assert len(events) < len(guests)
        for event in events:
            named = [s["visitor"]["conversation_id"] for s in heard([event]) if "visitor" in s]
            assert len(named) == len(set(named))
    finally:
        for g in guests:
            g.disconnect()
        bo.disconnect()


def test_a_hub_client_hands_on_each_signal_of_a_batch(served: Served, team: Any) -> None:
    ana = HubClient(served.hub.url, served.tokens["ana"], directory=served.tmp / "ana")
    said: list[dict[str, Any]] = []
    ana.on_signals = said.append
    ana.open()
    guests = [visitor(served.hub.url, team.chat) for _ in range(6)]
    try:
        convs = [send(g, "hi") for g in guests]
        wait_for(
            lambda: set(convs) <= {s["visitor"]["conversation_id"] for s in said if "visitor" in s},
            what="ana's app heard each visitor",
        )
        assert not any("batch" in s for s in said)
    finally:
        for g in guests:
            g.disconnect()
        ana.close()


def test_a_hub_client_hands_on_a_batch_in_one_call(served: Served, team: Any) -> None:
    """With `on_signal_batch` (the TUI's: its callback waits on the UI thread) the signals
    the hub sent together come in one call, each as it would have come alone."""
    ana = HubClient(served.hub.url, served.tokens["ana"], directory=served.tmp / "ana")
    calls: list[list[dict[str, Any]]] = []
    ana.on_signal_batch = calls.append
    ana.open()
    guests = [visitor(served.hub.url, team.chat) for _ in range(12)]
    try:
        convs = open_at_once(guests)
        said = lambda: [s for call in calls for s in call]  # noqa: E731
        wait_for(
            lambda: (
                set(convs) <= {s["visitor"]["conversation_id"] for s in said() if "visitor" in s}
            ),
            what="ana's app heard each visitor",
        )
        assert not any("batch" in s for s in said())
        assert any(len(call) > 1 for call in calls), "no batch came in one call"
    finally:
        for g in guests:
            g.disconnect()
        ana.close()


def test_signals_follow_a_change_of_access_at_once(
    served: Served, team: Any, tmp_path: Path
) -> None:
    """The hub keeps agents' access rules between changes of the tables they come from: a
    member removed from the team that gives a listed inbox hears its chats no more, from
    the next signal on; an agent who never could see it hears nothing of it."""
    ws = open_workspace(tmp_path / "ws.db")  # an admin's CLI on the hub's file
    try:
        sales_chat = cmd.add_channel(ws, "Sales", "chat", "Sales chat")
        cy, cy_events = agent_socket(served.hub.url, served.tokens["cy"])
        bo, bo_events = agent_socket(served.hub.url, served.tokens["bo"])
        sales_guest = visitor(served.hub.url, sales_chat)
        support_guests: list[socketio.Client] = []

        def fence() -> str:
            """A Support chat both hear: what was signalled before it has arrived."""
            support_guests.append(visitor(served.hub.url, team.chat))
            conv = send(support_guests[-1], "fence")
            for events in (cy_events, bo_events):
                wait_for(
                    lambda ev=events: conv in {v["conversation_id"] for v in visitors_heard(ev)},
                    what="the fence's signal arrived",
                )
            return conv

        try:
            sales = send(sales_guest, "a question about pricing")
            fence()
            assert sales in {v["conversation_id"] for v in visitors_heard(cy_events)}
            assert sales not in {v["conversation_id"] for v in visitors_heard(bo_events)}
            cmd.set_team_members(ws, "Sales team", remove=["cy"], actor=None)
            before = len(heard(cy_events))
            sales_guest.call("typing", {"typing": True}, namespace="/visitor")
            fence()
            after = [v["conversation_id"] for v in visitors_heard(cy_events[before:])]
            assert sales not in after
            assert sales not in {v["conversation_id"] for v in visitors_heard(bo_events)}
        finally:
            sales_guest.disconnect()
            for g in support_guests:
                g.disconnect()
            cy.disconnect()
            bo.disconnect()
    finally:
        ws.close()
