"""Routing new conversations (core/routing.py): rules, availability, presence, business
hours, round robin's fairness and cap, contact owner fallback, tickets by rule, the reply
that assigns, the activity lines that say why, and the CLI."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Team
from tests.core.test_cli import unibox
from tests.core.test_cli_admin import db as admin_db
from tests.core.test_cli_admin import ok, refused, seq
from unibox_tui.core import access, hours, routing
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.core.errors import InvalidRequest
from unibox_tui.core.presence import Presence

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

MON = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 in Lisbon (winter: UTC+0)


def arrive(team: Team, who: str, at: datetime = MON, **kw: object) -> str:
    """A new conversation from `who`, arriving at `at` (routing runs at that moment)."""
    inc = team.incoming("Help", who=who, at=at, **kw)  # type: ignore[arg-type]
    return cmd.ingest(team.ws, inc, now=at).conversation_id


def assignee(team: Team, conv: str) -> str | None:
    with team.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT a.handle FROM conversation c LEFT JOIN agent a ON a.id = c.assignee_id "
            "WHERE c.id = ?",
            (conv,),
        ).scalar()


def lines(team: Team, conv: str) -> list[str]:
    return [m.body for m in q.thread(team.ws, conv, access=EVERYTHING) if m.kind == "activity"]


def notes(team: Team, handle: str) -> list[tuple[str, str]]:
    with team.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT n.kind, n.text FROM notification n JOIN agent a ON a.id = n.agent_id "
            "WHERE a.handle = ? ORDER BY n.rowid",
            (handle,),
        ).all()


def test_off_by_default_no_line_and_nobody_assigned(team: Team) -> None:
    conv = arrive(team, "a@x.example")
    assert assignee(team, conv) is None and lines(team, conv) == []


def test_round_robin_among_available_team_members_says_why(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="round-robin", teams=["Tier 1"])
    convs = [arrive(team, f"c{i}@x.example") for i in range(4)]
    assert [assignee(team, c) for c in convs] == ["ana", "bo", "ana", "bo"]
    assert lines(team, convs[1]) == [
        "Assigned to Bo Chen: round robin among available members of Tier 1"
    ]
    assert ("assigned", "Routed to you: Order late") in notes(team, "bo")


def test_away_agents_are_skipped_unless_any_availability(team: Team) -> None:
    # The pool is everyone who may act in Support: ana, bo and cy (away).
    cmd.set_routing(team.ws, "Support", rules="round-robin")
    got = {assignee(team, arrive(team, f"c{i}@x.example")) for i in range(6)}
    assert got == {"ana", "bo"}
    cmd.set_routing(team.ws, "Support", only_available=False)
    got = {assignee(team, arrive(team, f"d{i}@x.example")) for i in range(6)}
    assert got == {"ana", "bo", "cy"}


def test_a_rule_that_finds_nobody_leaves_it_unassigned_and_says_so(team: Team) -> None:
    cmd.set_routing(team.ws, "Sales", rules="round-robin", teams=["Sales team"])
    conv = arrive(team, "s@x.example", channel=team.sales_email)
    assert assignee(team, conv) is None
    assert lines(team, conv) == ["Left unassigned: no available member of Sales team"]


def test_round_robin_is_fair_over_1000_conversations_and_survives_a_restart(
    team: Team, tmp_path: Path
) -> None:
    for handle in ("dee", "eve", "fay"):
        cmd.create_agent(team.ws, handle.title(), handle)
    cmd.set_routing(team.ws, "Support", rules="round-robin")
    items = [team.incoming("Hi", who=f"p{i}@x.example", at=MON) for i in range(1000)]
    results = cmd.ingest_many(team.ws, items, now=MON)
    counts = Counter(assignee(team, r.conversation_id) for r in results)
    assert set(counts) == {"ana", "bo", "dee", "eve", "fay"}  # cy is away
    assert max(counts.values()) - min(counts.values()) <= 1
    last = assignee(team, results[-1].conversation_id)
    # The turn goes round in the order of the agents' ids (ids made in the same millisecond
    # are not in creation order: the handles' order would make this test flaky).
    with team.ws.read() as conn:
        order = [
            handle
            for (handle,) in conn.exec_driver_sql(
                "SELECT handle FROM agent WHERE handle != 'cy' ORDER BY id"
            ).all()
        ]
    path = team.ws.path
    team.ws.close()
    with open_workspace(path) as ws:  # a restart: the turn is where it was
        conv = cmd.ingest(ws, team.incoming("Hi", who="after@x.example", at=MON), now=MON)
        with ws.read() as conn:
            got = conn.exec_driver_sql(
                "SELECT a.handle FROM conversation c JOIN agent a ON a.id = c.assignee_id "
                "WHERE c.id = ?",
                (conv.conversation_id,),
            ).scalar()
    assert got == order[(order.index(last) + 1) % len(order)]


def test_cap_on_open_conversations_is_respected(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="round-robin", teams=["Tier 1"], cap=2)
    convs = [arrive(team, f"c{i}@x.example") for i in range(5)]
    assert Counter(assignee(team, c) for c in convs[:4]) == {"ana": 2, "bo": 2}
    assert assignee(team, convs[4]) is None
    assert lines(team, convs[4]) == [
        "Left unassigned: no available member of Tier 1 under the cap of 2"
    ]
    cmd.close(team.ws, convs[1], actor="bo")  # Bo has room again
    assert assignee(team, arrive(team, "x@x.example")) == "bo"
    cmd.set_routing(team.ws, "Support", no_cap=True)
    assert assignee(team, arrive(team, "y@x.example")) is not None


def test_contact_owner_first_then_fallback_with_a_notification(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="owner,round-robin", teams=["Tier 1"])
    first = arrive(team, "vip@x.example")
    contact = q.conversation(team.ws, first, access=EVERYTHING).contact_id
    cmd.update_contact(team.ws, contact, owner="bo", actor="ana")
    cmd.close(team.ws, first, actor="ana")
    second = arrive(team, "vip@x.example", subject="Another thing")
    assert assignee(team, second) == "bo"
    assert lines(team, second)[-1] == "Assigned to Bo Chen: contact owner"
    cmd.set_availability(team.ws, "bo", "away")
    cmd.close(team.ws, second, actor="bo")
    third = arrive(team, "vip@x.example", subject="Third")
    assert assignee(team, third) == "ana"
    assert lines(team, third)[-1] == (
        "Assigned to Ana Lima: round robin among available members of Tier 1 "
        "(contact owner Bo Chen is away)"
    )
    assert notes(team, "bo")[-1] == (
        "new_conversation",
        "Your contact wrote while you were away: Third; assigned to Ana Lima",
    )


def test_owner_only_rule_with_the_owner_away_leaves_it_unassigned(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="owner")
    first = arrive(team, "vip@x.example")
    contact = q.conversation(team.ws, first, access=EVERYTHING).contact_id
    cmd.update_contact(team.ws, contact, owner="cy", actor="ana")  # cy is away
    cmd.close(team.ws, first, actor="ana")
    again = arrive(team, "vip@x.example", subject="Again")
    assert assignee(team, again) is None
    assert lines(team, again)[-1] == "Left unassigned: contact owner Cy Park is away"
    assert notes(team, "cy")[-1][0] == "new_conversation"


def test_on_a_hub_an_agent_with_no_app_counts_as_away_after_the_grace(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="round-robin", teams=["Tier 1"])
    presence = Presence(timedelta(minutes=2), started=MON)
    team.ws.presence = presence
    presence.connected(team.ana)
    presence.connected(team.bo)
    presence.disconnected(team.bo, now=MON)
    # Bo left a minute ago: still within the grace, still routed to.
    got = [
        assignee(team, arrive(team, f"c{i}@x.example", MON + timedelta(minutes=1)))
        for i in range(2)
    ]
    assert sorted(got) == ["ana", "bo"]
    later = MON + timedelta(minutes=3)
    got = [assignee(team, arrive(team, f"d{i}@x.example", later)) for i in range(3)]
    assert got == ["ana", "ana", "ana"]
    presence.connected(team.bo)  # back
    assert presence.last_seen(team.bo) is None
    got = [assignee(team, arrive(team, f"e{i}@x.example", later)) for i in range(2)]
    assert sorted(got) == ["ana", "bo"]


def test_business_hours_time_zone_boundary_dst_and_holidays(team: Team) -> None:
    cmd.set_inbox_hours(
        team.ws, "Support", tz="Europe/Lisbon", week={"mon": ["09:00-17:00"]},
        holidays=["2026-12-28"],
    )  # fmt: skip
    cmd.set_routing(team.ws, "Support", rules="round-robin", teams=["Tier 1"])
    open_now = routing.inbox_open_now
    winter = datetime(2026, 11, 2, tzinfo=UTC)  # Lisbon = UTC in winter
    assert not open_now(team.ws, team.support, winter.replace(hour=8, minute=59))
    assert open_now(team.ws, team.support, winter.replace(hour=9))
    assert open_now(team.ws, team.support, winter.replace(hour=16, minute=59))
    assert not open_now(team.ws, team.support, winter.replace(hour=17))
    # DST: Lisbon moved to UTC+1 on 29 March 2026, so Monday 30 March opens at 08:00 UTC.
    summer = datetime(2026, 3, 30, tzinfo=UTC)
    assert not open_now(team.ws, team.support, summer.replace(hour=7, minute=59))
    assert open_now(team.ws, team.support, summer.replace(hour=8))
    assert not open_now(team.ws, team.support, summer.replace(hour=16))
    # The Sunday before the change: 2026-03-29 is closed all day anyway.
    assert not open_now(team.ws, team.support, datetime(2026, 3, 29, 10, tzinfo=UTC))
    assert not open_now(team.ws, team.support, datetime(2026, 12, 28, 10, tzinfo=UTC))  # holiday
    # A zone where the UTC date is already Monday but it is still Sunday evening locally.
    cmd.set_inbox_hours(team.ws, "Support", tz="America/New_York")
    assert not open_now(team.ws, team.support, datetime(2026, 11, 2, 2, tzinfo=UTC))  # Sun 21:00
    assert open_now(team.ws, team.support, datetime(2026, 11, 2, 14, tzinfo=UTC))  # Mon 09:00
    # Outside the hours routing leaves it unassigned and says why.
    conv = arrive(team, "late@x.example", datetime(2026, 11, 2, 23, tzinfo=UTC))
    assert assignee(team, conv) is None
    assert lines(team, conv) == ["Left unassigned: outside Support's business hours"]
    assert assignee(team, arrive(team, "day@x.example", datetime(2026, 11, 2, 15, tzinfo=UTC)))
    # No hours: always open.
    assert open_now(team.ws, team.sales, winter)


def test_hours_input_is_checked() -> None:
    with pytest.raises(InvalidRequest, match="unknown time zone"):
        hours.make("Mars/Olympus", {}, [])
    with pytest.raises(InvalidRequest, match="not a span"):
        hours.make("UTC", {"mon": ["17:00-09:00"]}, [])
    with pytest.raises(InvalidRequest, match="not a date"):
        hours.make("UTC", {}, ["25/12/2026"])
    with pytest.raises(InvalidRequest, match="unknown day"):
        hours.make("UTC", {"monday": ["09:00-17:00"]}, [])
    assert hours.make("UTC", {"sun": ["00:00-24:00"]}, []).open_at(
        datetime(2026, 11, 1, 23, 59, tzinfo=UTC)
    )


def test_a_channel_overrides_its_inbox_and_opens_tickets(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="round-robin", teams=["Tier 1"])
    cmd.set_routing(
        team.ws, "Support", channel="Support chat", agents=["bo"], teams=[], tickets=True
    )
    conv = arrive(team, "v1", kind="chat", channel=team.chat)
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.assignee == "bo"
    assert lines(team, conv)[0] == "Assigned to Bo Chen: round robin among available agents Bo Chen"
    with team.ws.read() as conn:
        ticket = conn.exec_driver_sql(
            "SELECT t.pipeline, t.stage, a.handle FROM ticket t JOIN agent a ON a.id = t.owner_id "
            "JOIN conversation c ON c.ticket_id = t.id WHERE c.id = ?",
            (conv,),
        ).one()
    assert tuple(ticket) == ("Support", "New", "bo")
    assert "Unibox created ticket" in lines(team, conv)[-1]
    # The e-mail channel still routes as the inbox does, without tickets.
    mail = arrive(team, "m@x.example")
    assert q.conversation(team.ws, mail, access=EVERYTHING).ticket_id is None
    # The ticket's owner follows the conversation's assignee.
    cmd.assign(team.ws, conv, "ana", actor="ana")
    with team.ws.read() as conn:
        owner = conn.exec_driver_sql(
            "SELECT a.handle FROM ticket t JOIN agent a ON a.id = t.owner_id "
            "JOIN conversation c ON c.ticket_id = t.id WHERE c.id = ?",
            (conv,),
        ).scalar()
    assert owner == "ana"
    cmd.set_routing(team.ws, "Support", channel="Support chat", inherit=True)
    views = cmd.show_routing(team.ws, "Support", "Support chat")
    assert views[0].own is False and views[0].tickets is True


def test_tickets_by_rule_outside_hours_have_no_owner(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="round-robin", tickets=True)
    cmd.set_inbox_hours(team.ws, "Support", tz="UTC", week={"tue": ["09:00-17:00"]})
    conv = arrive(team, "n@x.example")  # a Monday: closed
    with team.ws.read() as conn:
        owner = conn.exec_driver_sql(
            "SELECT t.owner_id FROM ticket t JOIN conversation c ON c.ticket_id = t.id "
            "WHERE c.id = ?",
            (conv,),
        ).one()
    assert owner[0] is None


def test_replying_to_an_unassigned_conversation_assigns_the_replier(team: Team) -> None:
    conv = arrive(team, "r@x.example")
    cmd.create_ticket(team.ws, actor="ana", conversation_id=conv)
    cmd.reply(team.ws, conv, "On it", actor="bo", now=MON + timedelta(minutes=1))
    assert assignee(team, conv) == "bo"
    assert "Bo Chen took this by replying" in lines(team, conv)
    with team.ws.read() as conn:
        owner = conn.exec_driver_sql(
            "SELECT a.handle FROM ticket t JOIN agent a ON a.id = t.owner_id "
            "JOIN conversation c ON c.ticket_id = t.id WHERE c.id = ?",
            (conv,),
        ).scalar()
    assert owner == "bo"
    cmd.reply(team.ws, conv, "Still on it", actor="ana", now=MON + timedelta(minutes=2))
    assert assignee(team, conv) == "bo"  # an assigned conversation stays with its assignee


def test_history_and_quiet_mail_are_not_routed(team: Team) -> None:
    cmd.set_routing(team.ws, "Support", rules="round-robin")
    old = team.incoming("Old", who="o@x.example", at=MON - timedelta(days=30))
    assert assignee(team, cmd.ingest(team.ws, old, now=MON).conversation_id) is None
    auto = team.incoming(
        "Out of office", who="ooo@x.example", at=MON, flags=frozenset({"auto_reply"})
    )
    assert assignee(team, cmd.ingest(team.ws, auto, now=MON).conversation_id) is None
    later = team.incoming("Bot first", who="b@x.example", at=MON, route=False)
    conv = cmd.ingest(team.ws, later, now=MON).conversation_id
    assert assignee(team, conv) is None
    # ...until the channel routes it itself (a chatflow handing over).
    with team.ws.write(MON) as tx:
        d = routing.route_new_conversation(tx, conv)
    assert d.rule == "round_robin" and assignee(team, conv) == d.assignee_name.split()[0].lower()


def test_the_sql_access_rule_agrees_with_for_agent(team: Team) -> None:
    cmd.create_agent(team.ws, "Dee", "dee", role="admin")  # an admin not listed in Sales
    with team.ws.read() as conn:
        agents = conn.exec_driver_sql("SELECT id FROM agent").scalars().all()
        for inbox in (team.support, team.sales):
            by_sql = set(
                conn.exec_driver_sql(
                    f"SELECT a.id FROM agent a WHERE {access.ACTS_IN}", (inbox, inbox)
                ).scalars()
            )
            by_rule = {a for a in agents if access.for_agent(conn, a).can_act(inbox)}
            assert by_sql == by_rule


def test_bad_routing_input_changes_nothing(team: Team) -> None:
    before = team.ws.change_seq()
    with pytest.raises(InvalidRequest, match="unknown routing rule"):
        cmd.set_routing(team.ws, "Support", rules="random")
    with pytest.raises(InvalidRequest, match="--cap"):
        cmd.set_routing(team.ws, "Support", cap=0)
    with pytest.raises(InvalidRequest, match="no channel"):
        cmd.set_routing(team.ws, "Support", channel="Nope", rules="off")
    assert team.ws.change_seq() == before


def test_removing_a_channel_or_inbox_takes_its_routing_along(team: Team) -> None:
    cmd.set_routing(team.ws, "Sales", rules="round-robin")
    cmd.set_routing(team.ws, "Sales", channel="Sales mail", tickets=True)
    cmd.remove_channel(team.ws, team.sales_email)
    cmd.remove_inbox(team.ws, "Sales")
    with team.ws.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM routing_rule").scalar() == 0


# ---------------------------------------------------------------------------------- CLI


db = admin_db  # the fixture: a workspace made by `unibox init` (Ana, admin) with Bo


def test_cli_routing_and_hours_json(db: str) -> None:
    ok("team", "add", "Tier 1", "--member", "ana", "--member", "bo", "--db", db)
    data = ok(
        "routing", "set", "Support", "--rule", "owner,round-robin", "--teams", "Tier 1",
        "--cap", "5", "--db", db,
    )  # fmt: skip
    inbox = data["routing"][0]
    assert data["changed"] is True
    assert (inbox["rules"], inbox["teams"], inbox["cap"], inbox["only_available"]) == (
        ["owner", "round_robin"],
        ["Tier 1"],
        5,
        True,
    )
    assert inbox["summary"] == (
        "contact owner, then round robin among Tier 1; only available agents; at most 5 open each"
    )
    again = ok("routing", "set", "Support", "--cap", "5", "--db", db)
    assert again["changed"] is False
    hours_out = ok(
        "inbox", "hours", "Support", "--tz", "Europe/Lisbon", "--weekdays", "09:00-17:00",
        "--sat", "10:00-13:00", "--holiday", "2026-12-25", "--db", db,
    )  # fmt: skip
    assert hours_out["hours"]["tz"] == "Europe/Lisbon"
    assert hours_out["hours"]["week"]["sat"] == [["10:00", "13:00"]]
    assert hours_out["hours"]["holidays"] == ["2026-12-25"]
    assert "sun" not in hours_out["hours"]["week"]
    shown = ok("routing", "show", "Support", "--db", db)["routing"][0]
    assert shown["hours_text"].startswith("Europe/Lisbon: mon 09:00-17:00")
    before = seq(db)
    refused("inbox", "hours", "Support", "--tz", "Nowhere/Land", "--db", db, match="time zone")
    refused("routing", "set", "Support", "--rule", "random", "--db", db, match="unknown routing")
    refused("routing", "set", "Support", "--agents", "zed", "--db", db, match="no agent")
    refused("routing", "set", "Support", "--rule", "off", "--as", "bo", "--db", db, match="admin")
    assert seq(db) == before
    text = unibox("routing", "show", "Support", "--db", db)
    assert text.returncode == 0 and text.stdout.splitlines()[0].startswith("Support: contact owner")


@pytest.mark.parametrize("stage", [None, "Investigating"])
def test_tickets_by_rule_start_where_a_hand_made_ticket_would(
    team: Team, stage: str | None
) -> None:
    cmd.create_pipeline(team.ws, "Billing", ["Triage", "Investigating"])
    cmd.set_inbox_pipeline(team.ws, "Support", "Billing", stage)
    by_hand = arrive(team, "h@x.example")
    cmd.create_ticket(team.ws, actor="ana", conversation_id=by_hand)
    cmd.set_routing(team.ws, "Support", tickets=True)
    by_rule = arrive(team, "r@x.example", subject="")
    with team.ws.read() as conn:
        places = conn.exec_driver_sql(
            "SELECT c.id, t.pipeline, t.stage, t.title, t.number FROM conversation c "
            "JOIN ticket t ON t.id = c.ticket_id WHERE c.id IN (?, ?)",
            (by_hand, by_rule),
        ).all()
    found = {row[0]: tuple(row[1:]) for row in places}
    assert found[by_rule][:2] == found[by_hand][:2] == ("Billing", stage or "Triage")
    assert found[by_rule][2] == "Help"  # no subject: the first line
    assert lines(team, by_rule) == [f"Unibox created ticket #{found[by_rule][3]}"]
