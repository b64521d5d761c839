"""New conversations in watched views become notifications: decided in core
(commands.note_watched_arrivals), so the TUI and a hub run the same rule."""

from __future__ import annotations

from tests.conftest import Team
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING


def newest_rid(team: Team) -> int:
    with team.ws.read() as conn:
        return q.max_conversation_rid(conn)


def new_conversation_notes(team: Team, agent_id: str) -> list[q.NotificationRow]:
    return [n for n in q.notifications(team.ws, agent_id) if n.kind == "new_conversation"]


def test_arrivals_in_watched_views_are_noted_once_and_only_where_the_agent_may_see(
    team: Team,
) -> None:
    team.start("Hello", who="old@example.com", subject="Before")
    start = newest_rid(team)
    support = team.start("Where is it?", subject="Order late")
    sales = team.start(
        "Prices?", channel=team.sales_email, who="d@example.com", name="Dee", subject="Quote"
    )
    watch = [q.view("unassigned", access=EVERYTHING), q.view("open", access=EVERYTHING)]

    # bo may not see the Sales inbox: only the Support arrival, once, labelled by the first
    # watched view that holds it.
    got = cmd.note_watched_arrivals(team.ws, "bo", watch, start)
    assert got.cursor == newest_rid(team)
    assert got.found == {support: "Carla Souza: Order late · in Unassigned"}
    assert got.noted == 1
    [note] = new_conversation_notes(team, team.bo)
    assert (note.conversation_id, note.text) == (support, "Carla Souza: Order late · in Unassigned")

    # ana is on Sales: both, oldest first; looking again from the same cursor notes nothing.
    got = cmd.note_watched_arrivals(team.ws, team.ana, watch, start)
    assert list(got.found) == [support, sales] and got.noted == 2
    assert cmd.note_watched_arrivals(team.ws, "ana", watch, start).noted == 0
    assert len(new_conversation_notes(team, team.ana)) == 2
    nothing_new = cmd.note_watched_arrivals(team.ws, "ana", watch, got.cursor)
    assert (nothing_new.cursor, nothing_new.found, nothing_new.noted) == (got.cursor, {}, 0)

    # A view the arrival is not in: nothing. No agent: texts for a toast, nothing written.
    assert (
        cmd.note_watched_arrivals(team.ws, "cy", [q.view("closed", access=EVERYTHING)], start).found
        == {}
    )
    seq = team.ws.change_seq()
    anon = cmd.note_watched_arrivals(team.ws, None, watch, start)
    assert set(anon.found) == {support, sales} and anon.noted == 0
    assert team.ws.change_seq() == seq
