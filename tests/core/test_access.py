"""Access on every read: one rule (core/access.py) decides what an agent sees and acts in.

The team fixture: Support (everyone) and Sales (listed: ana + the "Sales team" = cy). Bo is
on neither list, so Sales does not exist for him; an admin who is not listed reads Sales but
cannot act in it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING, for_agent
from unibox_tui.core.errors import NoAccess, NotFound

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def _set(team: Team, handle: str, **columns: object) -> None:
    """Change an agent's role/active flag (the admin commands are tested on their own)."""
    with team.ws.write() as tx:
        for column, value in columns.items():
            tx.session.connection().exec_driver_sql(
                f"UPDATE agent SET {column} = ? WHERE handle = ?", (value, handle)
            )


@pytest.fixture
def world(team: Team) -> dict[str, str]:
    """A Support conversation and a Sales conversation from the same customer, with an
    attachment on the Sales one."""
    support = team.start("Where is my parcel?", subject="Parcel late", at=later(1))
    sales = cmd.ingest(
        team.ws,
        team.incoming(
            "Quote for 500 seats, budget 90k",
            channel=team.sales_email,
            subject="BigCo seats quote",
            at=later(2),
            attachments=[
                cmd.IncomingAttachment(
                    filename="quote.pdf", content_type="application/pdf", size=4, data=b"%PDF"
                )
            ],
        ),
    ).conversation_id
    return {"support": support, "sales": sales}


def _reader(team: Team, agent_id: str):  # type: ignore[no-untyped-def]
    return q.reader(team.ws, agent_id)


def test_the_rule(team: Team) -> None:
    with team.ws.read() as conn:
        ana, bo, cy = (for_agent(conn, a) for a in (team.ana, team.bo, team.cy))
    assert ana.can_see(team.sales) and ana.can_act(team.sales)
    assert cy.can_see(team.sales) and cy.can_act(team.sales)  # through the Sales team
    assert not bo.can_see(team.sales) and not bo.can_act(team.sales)
    assert bo.can_see(team.support) and bo.can_act(team.support)
    assert bo.hidden == 1 and ana.hidden == 0
    _set(team, "bo", role="admin")
    with team.ws.read() as conn:
        admin = for_agent(conn, team.bo)
    assert admin.can_see(team.sales) and not admin.can_act(team.sales)
    _set(team, "bo", role="agent", active=0)
    with team.ws.read() as conn:
        gone = for_agent(conn, team.bo)
    assert not gone.can_see(team.support)


def test_views_counts_and_lists_leave_out_hidden_inboxes(team: Team, world: dict[str, str]) -> None:
    bo, ana = _reader(team, team.bo), _reader(team, team.ana)
    for key in ("open", "all", "unassigned", "kind:email"):
        with team.ws.read() as conn:
            seen_bo = [r.id for r in q.list_page(conn, q.view(key, access=bo)).rows]
            count_bo = q.count_on(conn, q.view(key, access=bo))
            seen_ana = [r.id for r in q.list_page(conn, q.view(key, access=ana)).rows]
        assert world["sales"] not in seen_bo and world["support"] in seen_bo, key
        assert count_bo == (1, 1), key
        assert set(world.values()) <= set(seen_ana), key
    with pytest.raises(NotFound, match="not found or no access"):
        q.view("inbox:Sales", ws=team.ws, access=bo)
    assert [i.name for i in q.visible_inboxes(team.ws, team.bo)] == ["Support"]
    # A filtered view keeps the access condition.
    with team.ws.read() as conn:
        unread = q.filtered(q.view("open", access=bo), "unread")
        assert [r.id for r in q.list_page(conn, unread).rows] == [world["support"]]


def test_thread_conversation_and_attachment_answer_not_found_or_no_access(
    team: Team, world: dict[str, str]
) -> None:
    bo = _reader(team, team.bo)
    for read in (
        lambda: q.conversation(team.ws, world["sales"], access=bo),
        lambda: q.thread(team.ws, world["sales"], access=bo),
    ):
        with pytest.raises(NotFound, match="not found or no access"):
            read()
    attachment = q.thread(team.ws, world["sales"], access=EVERYTHING)[0].attachments[0]
    with pytest.raises(NotFound, match="not found or no access"):
        q.attachment_bytes(team.ws, attachment.id, access=bo)
    assert q.attachment_bytes(team.ws, attachment.id, access=_reader(team, team.ana))[1] == b"%PDF"
    # The same words for an id that does not exist: the answer confirms nothing.
    with pytest.raises(NotFound, match="not found or no access"):
        q.conversation(team.ws, "no-such-id", access=bo)


def test_search_finds_only_visible_inboxes(team: Team, world: dict[str, str]) -> None:
    for words in ("budget", "BigCo", "Carla"):  # a message body, a subject, the contact
        bo_hits = {h.row.id for h in q.search(team.ws, words, access=_reader(team, team.bo))}
        ana_hits = {h.row.id for h in q.search(team.ws, words, access=_reader(team, team.ana))}
        assert world["sales"] not in bo_hits, words
        assert world["sales"] in ana_hits, words
    assert {h.row.id for h in q.search(team.ws, "parcel", access=_reader(team, team.bo))} == {
        world["support"]
    }


def test_search_limit_is_filled_from_visible_inboxes(team: Team) -> None:
    # Newer hidden matches must not take the slots of older visible ones.
    visible = [
        team.start("invoice", who=f"v{i}@x.io", subject=f"V{i}", at=later(i)) for i in range(3)
    ]
    for i in range(10):
        team.start(
            "invoice", channel=team.sales_email, who=f"s{i}@x.io", subject=f"S{i}", at=later(10 + i)
        )
    hits = q.search(team.ws, "invoice", access=_reader(team, team.bo), limit=3)
    assert {h.row.id for h in hits} == set(visible)


def test_contact_history_counts_hidden_conversations(team: Team, world: dict[str, str]) -> None:
    contact_id = q.conversation(team.ws, world["support"], access=EVERYTHING).contact_id
    bo = q.contact(team.ws, contact_id, access=_reader(team, team.bo))
    assert [c.id for c in bo.conversations] == [world["support"]] and bo.hidden == 1
    assert bo.to_json()["hidden_conversations"] == 1
    ana = q.contact(team.ws, contact_id, access=_reader(team, team.ana))
    assert {c.id for c in ana.conversations} == set(world.values()) and ana.hidden == 0


def test_notifications_about_a_conversation_that_became_hidden_disappear(
    team: Team, world: dict[str, str]
) -> None:
    cmd.comment(team.ws, world["support"], "@bo please check", actor="ana")
    assert len(q.notifications(team.ws, team.bo)) == 1
    cmd.move_inbox(team.ws, world["support"], "Sales", actor="ana")
    assert q.notifications(team.ws, team.bo) == []
    assert q.notifications_since(team.ws, team.bo, 0) == []


def test_an_admin_not_listed_reads_but_cannot_act(team: Team, world: dict[str, str]) -> None:
    _set(team, "bo", role="admin")
    admin = _reader(team, team.bo)
    assert q.thread(team.ws, world["sales"], access=admin)
    assert world["sales"] in {h.row.id for h in q.search(team.ws, "budget", access=admin)}
    for act in (
        lambda: cmd.reply(team.ws, world["sales"], "hi", actor="bo"),
        lambda: cmd.comment(team.ws, world["sales"], "note", actor="bo"),
        lambda: cmd.assign(team.ws, world["sales"], "bo", actor="bo"),
        lambda: cmd.close(team.ws, world["sales"], actor="bo"),
    ):
        with pytest.raises(NoAccess, match="can read inbox 'Sales' but not act in it"):
            act()
    assert cmd.mark_read(team.ws, world["sales"], actor="bo") is True  # reading is enough


def test_a_deactivated_agent_sees_and_does_nothing(team: Team, world: dict[str, str]) -> None:
    _set(team, "bo", active=0)
    gone = _reader(team, team.bo)
    with team.ws.read() as conn:
        assert q.count_on(conn, q.view("all", access=gone)) == (0, 0)
    with pytest.raises(NoAccess, match="deactivated"):
        cmd.comment(team.ws, world["support"], "hi", actor="bo")


def test_pickers_offer_only_agents_who_can_act_in_the_inbox(team: Team) -> None:
    assert [a.handle for a in q.agents_for_inbox(team.ws, team.sales)] == ["ana", "cy"]
    assert [a.handle for a in q.agents_for_inbox(team.ws, team.support)] == ["ana", "bo", "cy"]


def test_contact_changes_need_a_visible_conversation(team: Team, world: dict[str, str]) -> None:
    only_sales = cmd.ingest(
        team.ws, team.incoming("hello", channel=team.sales_email, who="dee@x.io", name="Dee")
    ).conversation_id
    contact_id = q.conversation(team.ws, only_sales, access=EVERYTHING).contact_id
    with pytest.raises(NotFound, match="not found or no access"):
        cmd.update_contact(team.ws, contact_id, notes="x", actor="bo")
    with pytest.raises(NotFound, match="not found or no access"):
        cmd.add_identity(team.ws, contact_id, "phone", "+15550100", actor="bo")
    cmd.update_contact(team.ws, contact_id, notes="VIP", actor="cy")


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args, "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_reads_as_the_acting_agent(team: Team, world: dict[str, str]) -> None:
    db = str(team.ws.path)
    listed = _cli(db, "conversations", "list", "--view", "all", "--json", "--as", "bo")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["total"] == 1 and [c["id"] for c in data["conversations"]] == [world["support"]]
    shown = _cli(db, "conversations", "show", world["sales"], "--as", "bo")
    assert shown.returncode == 1
    assert (
        shown.stderr
        == f"unibox: error: no conversation {world['sales']} (not found or no access)\n"
    )
    found = _cli(db, "search", "budget", "--json", "--as", "bo")
    assert found.returncode == 0 and json.loads(found.stdout)["results"] == []
    found = _cli(db, "search", "budget", "--json", "--as", "ana")
    assert [r["conversation"]["id"] for r in json.loads(found.stdout)["results"]] == [
        world["sales"]
    ]
