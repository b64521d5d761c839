"""The list's orders (core/list_order.py): oldest waiting first, the customer's last message,
ticket priority; `customer_at` kept by what comes in, by merging and by migration 0028; every
read that depends on the order (pages, positions, cursors, select all) agrees with it."""

from __future__ import annotations

import json
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Team, db_args, later
from unibox_tui.cli import main
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.core.errors import InvalidRequest

pytestmark = pytest.mark.both_databases

DATA = Path(__file__).parent.parent / "data"


def world(team: Team) -> dict[str, str]:
    """Six open conversations whose orders all differ (times in minutes after T0):

    A  customer 1, answered (at 40)            no ticket
    B  customer 2, again at 30: waiting        no ticket
    C  customer 5: waiting                     urgent ticket
    D  customer 10: waiting                    low ticket
    E  customer 20, a note at 50: waiting      no ticket (a note is not activity)
    F  customer 3, answered (at 45)            high ticket
    """
    ws = team.ws

    def start(name: str, minute: int) -> str:
        return team.start(f"{name} first", who=f"{name.lower()}@x.io", name=name, at=later(minute))

    c = {
        name: start(name, minute)
        for name, minute in zip("ABCDEF", (1, 2, 5, 10, 20, 3), strict=True)
    }
    cmd.ingest(ws, team.incoming("B again", who="b@x.io", name="B", at=later(30)))
    cmd.reply(ws, c["A"], "answer to A", actor="ana", now=later(40))
    cmd.reply(ws, c["F"], "answer to F", actor="ana", now=later(45))
    cmd.comment(ws, c["E"], "a note on E", actor="ana", now=later(50))
    for name, priority in (("C", "urgent"), ("D", "low"), ("F", "high")):
        cmd.create_ticket(ws, actor="ana", conversation_id=c[name], priority=priority)
    return c


def in_order(team: Team, c: dict[str, str], order: str, view: str = "open") -> str:
    v = q.sorted_by(q.view(view, access=EVERYTHING), order)
    names = {cid: name for name, cid in c.items()}
    with team.ws.read() as conn:
        return "".join(names[r.id] for r in q.rows_at(conn, v, 0, 50))


def test_each_order_sorts_the_view(team: Team) -> None:
    c = world(team)
    assert in_order(team, c, "newest") == "FABEDC"  # the default: latest activity
    # Waiting for us, longest first; then the answered ones, by their customer's last word.
    assert in_order(team, c, "waiting") == "CDEBAF"
    assert in_order(team, c, "customer") == "BEDCFA"
    # Urgent, high, low; then no ticket, newest activity first.
    assert in_order(team, c, "priority") == "CFDABE"


def test_customer_at_follows_the_customer_not_replies_notes_or_old_mail(team: Team) -> None:
    c = world(team)
    row = q.conversation(team.ws, c["B"], access=EVERYTHING)
    assert row.customer_at == later(30)
    a = q.conversation(team.ws, c["A"], access=EVERYTHING)
    assert (a.customer_at, a.last_message_at) == (later(1), later(40))  # the reply moved one
    # An older message of the thread arriving late (an initial sync) does not move it back.
    cmd.ingest(team.ws, team.incoming("B from before", who="b@x.io", name="B", at=later(25)))
    assert q.conversation(team.ws, c["B"], access=EVERYTHING).customer_at == later(30)


def test_merging_keeps_the_later_customer_message(team: Team) -> None:
    c = world(team)
    cmd.merge_conversations(team.ws, c["A"], c["B"], actor="ana")
    assert q.conversation(team.ws, c["A"], access=EVERYTHING).customer_at == later(30)


@pytest.mark.parametrize("order", ["newest", "waiting", "customer", "priority"])
def test_pages_positions_cursors_and_select_all_agree_with_the_order(
    team: Team, order: str
) -> None:
    c = world(team)
    c["G"] = team.start("G", who="g@x.io", name="G", at=later(5))  # ties C's time: rid decides
    v = q.sorted_by(q.view("open", access=EVERYTHING), order)
    with team.ws.read() as conn:
        whole = [r.id for r in q.rows_at(conn, v, 0, 50)]
        assert len(whole) == 7
        # Pages of two, by offset (the list widget) and by cursor (the CLI).
        assert [r.id for n in range(0, 7, 2) for r in q.rows_at(conn, v, n, 2)] == whole
        walked, cursor = [], None
        while True:
            page = q.list_page(conn, v, after=cursor, limit=2)
            walked += [r.id for r in page.rows]
            if (cursor := page.next_cursor) is None:
                break
        assert walked == whole
        # Each row's position (opening it from search moves the cursor there).
        for i, row in enumerate(q.rows_at(conn, v, 0, 50)):
            assert q.index_of(conn, v, row) == i
        assert q.ids_in_view(conn, v, 3) == whole[:3]
        rows = q.rows_at(conn, v, 0, 50)
    # The widget's own comparison (is a changed row above the cached ones?) agrees too.
    assert all(v.order.precedes(a, b) for a, b in pairwise(rows))
    assert not any(v.order.precedes(b, a) for a, b in pairwise(rows))


def test_a_cursor_from_another_order_is_refused(team: Team) -> None:
    world(team)
    waiting = q.sorted_by(q.view("open", access=EVERYTHING), "waiting")
    with team.ws.read() as conn:
        newest_cursor = q.list_page(conn, q.view("open", access=EVERYTHING), limit=2).next_cursor
        assert newest_cursor is not None
        with pytest.raises(InvalidRequest, match="same --sort"):
            q.list_page(conn, waiting, after=newest_cursor, limit=2)
        with pytest.raises(InvalidRequest, match="same --sort"):
            q.list_page(conn, waiting, after="waiting:999999", limit=2)
    with pytest.raises(InvalidRequest, match="unknown sort 'oldest'"):
        q.sorted_by(waiting, "oldest")


def test_filters_keep_the_order(team: Team) -> None:
    c = world(team)
    v = q.filtered(q.sorted_by(q.view("open", access=EVERYTHING), "priority"), "ticket")
    names = {cid: name for name, cid in c.items()}
    with team.ws.read() as conn:
        assert "".join(names[r.id] for r in q.rows_at(conn, v, 0, 50)) == "CFD"


def test_cli_lists_in_an_order_and_pages_on(team: Team, ws_target: Path | str) -> None:
    c = world(team)
    names = {cid: name for name, cid in c.items()}
    runner = CliRunner()

    def listed(*extra: str) -> dict:
        args = ["conversations", "list", *db_args(ws_target), "--json", "--limit", "3", *extra]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    first = listed("--sort", "waiting")
    assert first["sort"] == "waiting" and first["total"] == 6
    assert "".join(names[r["id"]] for r in first["conversations"]) == "CDE"
    second = listed("--sort", "waiting", "--after", first["next_cursor"])
    assert "".join(names[r["id"]] for r in second["conversations"]) == "BAF"
    assert second["next_cursor"] is None
    wrong = runner.invoke(
        main, ["conversations", "list", *db_args(ws_target), "--after", first["next_cursor"]]
    )
    assert wrong.exit_code != 0 and "bad cursor" in wrong.output and "Traceback" not in wrong.output


def test_migration_fills_customer_at_from_stored_messages(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(DATA / "workspace_0001.db", path)
    ws: Workspace
    with open_workspace(path) as ws:
        thread = q.thread(ws, "c1", access=EVERYTHING)
        customer = [m.created_at for m in thread if m.kind == "incoming"]
        assert customer and q.conversation(ws, "c1", access=EVERYTHING).customer_at == max(customer)


def test_reopening_gives_a_waiting_customer_their_place_back(team: Team) -> None:
    """Closing clears `waiting`; reopening (by hand, or the undo of a close) used to leave it
    cleared, so a customer still owed an answer fell out of "oldest waiting first"."""
    c = world(team)
    for name in ("C", "A"):  # C waits for us; A was answered
        cmd.close(team.ws, c[name], actor="ana", now=later(60))
        assert not q.conversation(team.ws, c[name], access=EVERYTHING).waiting
        cmd.reopen(team.ws, c[name], actor="ana", now=later(61))
    assert q.conversation(team.ws, c["C"], access=EVERYTHING).waiting
    assert not q.conversation(team.ws, c["A"], access=EVERYTHING).waiting
    assert in_order(team, c, "waiting") == "CDEBAF"


def test_a_transcript_or_a_forward_is_no_answer_when_reopening(team: Team) -> None:
    """The walk-through's chat: closing it e-mailed the visitor its transcript (an outgoing
    message), and reopening counted that as the answer: the visitor lost their ↩ again."""
    chat = team.start("Is anyone there?", channel=team.chat, kind="chat", who="v9", subject="")
    cmd.email_transcript(team.ws, chat, "v9@example.com", actor="ana", now=later(10))
    cmd.forward(team.ws, chat, to=["ops@acme.example"], actor="ana", now=later(11))
    cmd.close(team.ws, chat, actor="ana", now=later(12))
    cmd.reopen(team.ws, chat, actor="ana", now=later(13))
    assert q.conversation(team.ws, chat, access=EVERYTHING).waiting
