"""Running a workspace: init, agents (roles, deactivation, the last-admin rule), teams,
inboxes and their access lists, snippets, pipelines; only admins change the workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Team
from unibox_tui.core import access
from unibox_tui.core import admin_queries as aq
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import Workspace
from unibox_tui.core.errors import InvalidRequest, NoAccess, NotFound
from unibox_tui.core.me import current_agent

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


@pytest.fixture
def admin(team: Team) -> Team:
    """The team workspace with Ana as its (only) admin."""
    cmd.set_agent(team.ws, "ana", role="admin")
    return team


def agent(ws: Workspace, handle: str) -> aq.AgentInfo:
    return next(a for a in aq.agents(ws) if a.handle == handle)


def inbox(ws: Workspace, name: str) -> aq.InboxInfo:
    return next(i for i in aq.inboxes(ws) if i.name == name)


def one_change(ws: Workspace, run: Callable[[], object]) -> object:
    before = ws.change_seq()
    result = run()
    assert ws.change_seq() == before + 1  # one command, one change number
    return result


def unchanged(ws: Workspace, run: Callable[[], object], error: type, match: str) -> None:
    before = ws.change_seq()
    with pytest.raises(error, match=match):
        run()
    assert ws.change_seq() == before  # refused whole: nothing written


# ---------------------------------------------------------------------------------- init


def test_init_makes_the_first_admin_and_the_support_inbox(ws: Workspace) -> None:
    assert not aq.workspace_has_agents(ws)
    result = one_change(ws, lambda: cmd.init_workspace(ws, "Ana Lima", "@Ana", "ana@acme.example"))
    assert isinstance(result, cmd.InitResult) and result.inbox_created
    [ana] = aq.agents(ws)
    assert (ana.name, ana.handle, ana.email, ana.role, ana.active) == (
        "Ana Lima",
        "ana",
        "ana@acme.example",
        "admin",
        True,
    )
    [support] = aq.inboxes(ws)
    assert (support.name, support.access, support.default_pipeline, support.default_stage) == (
        "Support",
        "everyone",
        "Support",
        "New",
    )
    # The first agent is who acts when nobody is named (so `conversations reply` works).
    me, warning = current_agent(ws)
    assert me is not None and me.id == result.agent_id and warning is None
    unchanged(
        ws,
        lambda: cmd.init_workspace(ws, "Bo", "bo", None),
        InvalidRequest,
        "set up already \\(1 agents\\)",
    )


def test_init_keeps_an_inbox_a_channel_created_first_and_checks_its_input(
    ws: Workspace,
) -> None:
    cmd.create_inbox(ws, "Help desk")
    unchanged(ws, lambda: cmd.init_workspace(ws, "Ana", "a b", None), InvalidRequest, "handle")
    unchanged(ws, lambda: cmd.init_workspace(ws, "", "ana", None), InvalidRequest, "name is empty")
    unchanged(
        ws, lambda: cmd.init_workspace(ws, "Ana", "ana", "nope"), InvalidRequest, "not an e-mail"
    )
    result = cmd.init_workspace(ws, "Ana", "ana", None, inbox="help DESK")
    assert not result.inbox_created and [i.name for i in aq.inboxes(ws)] == ["Help desk"]


def test_a_new_workspace_has_the_default_pipeline(ws: Workspace) -> None:
    [support] = aq.pipelines(ws)
    assert (support.name, support.stages) == (
        "Support",
        ["New", "Waiting on contact", "Waiting on us", "Closed"],
    )


# ---------------------------------------------------------------------------------- roles


def test_only_admins_change_the_workspace(admin: Team) -> None:
    ws = admin.ws
    conv = admin.start()
    refused = {
        "add agents": lambda: cmd.create_agent(ws, "Dee", "dee", actor="bo"),
        "change agents": lambda: cmd.set_agent(ws, "cy", name="C", actor="bo"),
        "change roles": lambda: cmd.set_agent(ws, "bo", role="admin", actor="bo"),
        "deactivate agents": lambda: cmd.deactivate_agent(ws, "cy", actor="bo"),
        "add teams": lambda: cmd.create_team(ws, "Night", actor="bo"),
        "change teams": lambda: cmd.set_team_members(ws, "Tier 1", add=["cy"], actor="bo"),
        "remove teams": lambda: cmd.remove_team(ws, "Tier 1", actor="bo"),
        "add inboxes": lambda: cmd.create_inbox(ws, "VIP", actor="bo"),
        "rename inboxes": lambda: cmd.rename_inbox(ws, "Support", "Help", actor="bo"),
        "change inbox access": lambda: cmd.set_inbox_access(
            ws, "Sales", add_agents=["bo"], actor="bo"
        ),
        "remove inboxes": lambda: cmd.remove_inbox(ws, "Sales", move_to="Support", actor="bo"),
        "add channels": lambda: cmd.add_channel(ws, "Support", "chat", "Chat 2", actor="bo"),
        "change channels": lambda: cmd.update_channel(ws, admin.chat, name="X", actor="bo"),
        "enable or disable channels": lambda: cmd.set_channel_enabled(
            ws, admin.chat, False, actor="bo"
        ),
        "remove channels": lambda: cmd.remove_channel(ws, admin.chat, actor="bo"),
        "add pipelines": lambda: cmd.create_pipeline(ws, "Sales", ["New"], actor="bo"),
        "change pipelines": lambda: cmd.set_stages(ws, "Support", ["New"], actor="bo"),
        "remove pipelines": lambda: cmd.remove_pipeline(ws, "Support", actor="bo"),
        "change inboxes": lambda: cmd.set_inbox_pipeline(ws, "Support", "Support", actor="bo"),
    }
    for what, run in refused.items():
        unchanged(ws, run, NoAccess, f"only an admin can {what}; @bo is an agent")
    # The admin may; so may the system itself (no actor: setup scripts, the engine).
    assert cmd.set_channel_enabled(ws, admin.chat, False, actor="ana")
    assert cmd.set_channel_enabled(ws, admin.chat, True)
    # Conversation work is not administration: agents do it in inboxes they may use.
    cmd.comment(ws, conv, "on it", actor="bo")


def test_a_deactivated_admin_changes_nothing(admin: Team) -> None:
    cmd.set_agent(admin.ws, "bo", role="admin", actor="ana")
    cmd.deactivate_agent(admin.ws, "bo", actor="ana")
    unchanged(
        admin.ws,
        lambda: cmd.create_team(admin.ws, "Night", actor="bo"),
        NoAccess,
        "@bo is deactivated and cannot add teams",
    )


def test_agents_edit_themselves_but_not_their_role(admin: Team) -> None:
    ws = admin.ws
    assert one_change(ws, lambda: cmd.set_agent(ws, "bo", name="Bo C.", actor="bo"))
    assert cmd.set_agent(ws, "bo", email="bo@acme.example", availability="away", actor="bo")
    assert not cmd.set_agent(ws, "bo", availability="away", actor="bo")
    assert cmd.set_availability(ws, "bo", "available", actor="bo")
    unchanged(
        ws,
        lambda: cmd.set_availability(ws, "cy", "away", actor="bo"),
        NoAccess,
        "only an admin can change another agent's availability",
    )
    bo = agent(ws, "bo")
    assert (bo.name, bo.email, bo.availability, bo.role) == (
        "Bo C.",
        "bo@acme.example",
        "available",
        "agent",
    )
    assert cmd.set_agent(ws, "bo", email="", actor="ana") and agent(ws, "bo").email is None
    unchanged(ws, lambda: cmd.set_agent(ws, "bo", role="boss"), InvalidRequest, "role must be")
    unchanged(ws, lambda: cmd.set_agent(ws, "bo", email="x"), InvalidRequest, "not an e-mail")
    unchanged(ws, lambda: cmd.set_agent(ws, "zed", name="Z"), NotFound, "no agent 'zed'")


def test_the_last_active_admin_is_neither_demoted_nor_deactivated(admin: Team) -> None:
    ws = admin.ws
    unchanged(
        ws,
        lambda: cmd.set_agent(ws, "ana", role="agent", actor="ana"),
        InvalidRequest,
        "@ana is the last active admin and cannot be demoted",
    )
    unchanged(
        ws,
        lambda: cmd.deactivate_agent(ws, "ana", actor="ana"),
        InvalidRequest,
        "@ana is the last active admin and cannot be deactivated",
    )
    # A deactivated admin does not count: they cannot act.
    cmd.create_agent(ws, "Dee", "dee", role="admin", actor="ana")
    cmd.deactivate_agent(ws, "dee", actor="ana")
    unchanged(ws, lambda: cmd.deactivate_agent(ws, "ana"), InvalidRequest, "last active admin")
    # With a second active admin, either may step down.
    cmd.set_agent(ws, "bo", role="admin", actor="ana")
    assert cmd.set_agent(ws, "ana", role="agent", actor="ana")
    assert agent(ws, "ana").role == "agent"
    unchanged(ws, lambda: cmd.deactivate_agent(ws, "bo", actor="bo"), InvalidRequest, "last")


def test_deactivating_unassigns_open_work_and_keeps_history(admin: Team) -> None:
    ws = admin.ws
    first, second, done = (
        admin.start(),
        admin.start(who="dan@example.com"),
        admin.start(who="eve@example.com"),
    )
    for conv in (first, second, done):
        cmd.assign(ws, conv, "bo", actor="ana")
    cmd.comment(ws, first, "I'll call them", actor="bo")
    cmd.close(ws, done, actor="bo")
    result = one_change(ws, lambda: cmd.deactivate_agent(ws, "bo", actor="ana"))
    assert isinstance(result, cmd.Deactivated) and result.changed
    assert sorted(result.unassigned) == sorted([first, second])
    for conv in (first, second):
        row = q.conversation(ws, conv, access=EVERYTHING)
        assert row.assignee is None
        assert (
            q.thread(ws, conv, access=EVERYTHING)[-1].body == "Bo Chen was deactivated: unassigned"
        )
    assert (
        q.conversation(ws, done, access=EVERYTHING).assignee == "bo"
    )  # closed work keeps its record
    assert any(
        m.author == "Bo Chen" for m in q.thread(ws, first, access=EVERYTHING)
    )  # their comment stays
    bo = agent(ws, "bo")
    assert (bo.active, bo.role) == (False, "agent")
    assert cmd.deactivate_agent(ws, "bo", actor="ana") == cmd.Deactivated(False)
    # A deactivated agent sees nothing and acts nowhere.
    with ws.read() as conn:
        assert access.for_agent(conn, bo.id).see == frozenset()
    with pytest.raises(NoAccess):
        cmd.comment(ws, first, "still here?", actor="bo")
    assert cmd.activate_agent(ws, "bo", actor="ana") and agent(ws, "bo").active
    assert not cmd.activate_agent(ws, "bo", actor="ana")


def test_deactivating_the_default_agent_makes_the_admin_who_did_it_the_default(
    admin: Team,
) -> None:
    ws = admin.ws  # the default agent is Ana (the fixture's setting)
    cmd.set_agent(ws, "bo", role="admin", actor="ana")
    cmd.deactivate_agent(ws, "ana", actor="bo")
    me, _ = current_agent(ws)
    assert me is not None and me.handle == "bo"
    cmd.deactivate_agent(ws, "cy", actor="bo")  # not the default: it stays
    assert current_agent(ws)[0].handle == "bo"  # type: ignore[union-attr]


def test_agent_add_checks_its_input(admin: Team) -> None:
    ws = admin.ws
    dee = one_change(
        ws, lambda: cmd.create_agent(ws, "Dee Ray", "Dee", "dee@acme.example", actor="ana")
    )
    assert agent(ws, "dee").id == dee and agent(ws, "dee").role == "agent"
    unchanged(ws, lambda: cmd.create_agent(ws, "D2", "dee", actor="ana"), InvalidRequest, "taken")
    unchanged(
        ws, lambda: cmd.create_agent(ws, "D3", "d3", role="owner"), InvalidRequest, "role must be"
    )
    unchanged(ws, lambda: cmd.create_agent(ws, "D4", "d 4"), InvalidRequest, "handle 'd 4'")


# ---------------------------------------------------------------------------------- teams


def test_teams_add_members_and_remove(admin: Team) -> None:
    ws = admin.ws
    one_change(ws, lambda: cmd.create_team(ws, "Night shift", ["bo"], actor="ana"))
    unchanged(ws, lambda: cmd.create_team(ws, "night SHIFT"), InvalidRequest, "exists")
    assert one_change(
        ws,
        lambda: cmd.set_team_members(
            ws, "night shift", add=["cy", "ana"], remove=["bo"], actor="ana"
        ),
    )
    assert not cmd.set_team_members(ws, "Night shift", add=["cy"], remove=["bo"], actor="ana")
    unchanged(
        ws,
        lambda: cmd.set_team_members(ws, "Night shift", add=["bo"], remove=["bo"]),
        InvalidRequest,
        "both added and removed",
    )
    night = next(t for t in aq.teams(ws) if t.name == "Night shift")
    assert night.members == ["ana", "cy"]
    # A team that inboxes list and conversations are assigned to.
    cmd.set_inbox_access(ws, "Sales", add_teams=["Night shift"], actor="ana")
    conv = admin.start()
    cmd.assign_team(ws, conv, "Night shift", actor="ana")
    one_change(ws, lambda: cmd.remove_team(ws, "Night shift", actor="ana"))
    assert "Night shift" not in [t.name for t in aq.teams(ws)]
    assert inbox(ws, "Sales").teams == ["Sales team"]
    assert q.conversation(ws, conv, access=EVERYTHING).team is None
    assert "Night shift" not in agent(ws, "cy").teams
    unchanged(ws, lambda: cmd.remove_team(ws, "Night shift"), NotFound, "no team")


# ---------------------------------------------------------------------------------- inboxes


def test_inbox_add_rename_and_access(admin: Team) -> None:
    ws = admin.ws
    one_change(ws, lambda: cmd.create_inbox(ws, "VIP", access="listed", actor="ana"))
    vip = inbox(ws, "VIP")
    assert (vip.access, vip.agents, vip.teams, vip.default_pipeline) == (
        "listed",
        [],
        [],
        "Support",
    )
    unchanged(ws, lambda: cmd.create_inbox(ws, "vip"), InvalidRequest, "exists")
    unchanged(ws, lambda: cmd.create_inbox(ws, "X", access="some"), InvalidRequest, "access")
    assert one_change(
        ws,
        lambda: cmd.set_inbox_access(
            ws, "vip", add_agents=["bo"], add_teams=["Tier 1"], actor="ana"
        ),
    )
    assert not cmd.set_inbox_access(ws, "VIP", add_agents=["bo"], actor="ana")
    with ws.read() as conn:
        assert access.for_agent(conn, admin.cy).can_see(vip.id) is False
        assert access.for_agent(conn, admin.bo).can_act(vip.id) is True
    assert cmd.set_inbox_access(ws, "VIP", remove_teams=["Tier 1"], mode="everyone", actor="ana")
    vip = inbox(ws, "VIP")
    assert (vip.access, vip.agents, vip.teams) == ("everyone", ["bo"], [])
    with ws.read() as conn:
        assert access.for_agent(conn, admin.cy).can_act(vip.id) is True
    assert one_change(ws, lambda: cmd.rename_inbox(ws, "VIP", "Key accounts", actor="ana"))
    assert not cmd.rename_inbox(ws, "Key accounts", "Key accounts", actor="ana")
    unchanged(ws, lambda: cmd.rename_inbox(ws, "Key accounts", "sales"), InvalidRequest, "exists")
    assert inbox(ws, "Key accounts").id == vip.id


def test_update_inbox_is_applied_whole_or_refused_whole(admin: Team) -> None:
    ws = admin.ws
    cmd.create_pipeline(ws, "Sales", ["Lead", "Won"], actor="ana")
    unchanged(
        ws,
        lambda: cmd.update_inbox(
            ws, "Sales", name="support", mode="everyone", add_agents=["bo"], actor="ana"
        ),
        InvalidRequest,
        "inbox 'support' exists",
    )
    sales = inbox(ws, "Sales")
    assert (sales.access, sales.agents) == ("listed", ["ana"])  # nothing of it was applied
    assert one_change(
        ws,
        lambda: cmd.update_inbox(
            ws,
            "Sales",
            name="Deals",
            add_agents=["bo"],
            remove_teams=["Sales team"],
            pipeline="Sales",
            stage="Won",
            actor="ana",
        ),
    )
    deals = inbox(ws, "Deals")
    assert (deals.agents, deals.teams, deals.default_pipeline, deals.default_stage) == (
        ["ana", "bo"],
        [],
        "Sales",
        "Won",
    )
    assert not cmd.update_inbox(ws, "Deals", name="Deals", pipeline="Sales", stage="Won")


def test_inbox_remove_is_refused_while_it_holds_conversations(admin: Team) -> None:
    ws = admin.ws
    conv = admin.start(channel=admin.sales_email)
    unchanged(
        ws,
        lambda: cmd.remove_inbox(ws, "Sales", actor="ana"),
        InvalidRequest,
        "holds 1 conversations and 1 channels; move them with --move-to OTHER",
    )
    unchanged(
        ws,
        lambda: cmd.remove_inbox(ws, "Sales", move_to="sales"),
        InvalidRequest,
        "names the inbox being removed",
    )
    assert (
        one_change(ws, lambda: cmd.remove_inbox(ws, "Sales", move_to="Support", actor="ana")) == 1
    )
    assert q.conversation(ws, conv, access=EVERYTHING).inbox == "Support"
    assert [i.name for i in aq.inboxes(ws)] == ["Support"]
    assert "Sales mail" in [c.name for c in inbox(ws, "Support").channels]
    cmd.create_inbox(ws, "Empty")
    one_change(ws, lambda: cmd.remove_inbox(ws, "Empty", actor="ana"))


def test_moved_work_leaves_assignees_who_may_not_act_in_the_new_inbox(admin: Team) -> None:
    ws = admin.ws
    cys, anas = (
        admin.start(channel=admin.sales_email),
        admin.start(channel=admin.sales_email, who="dan@example.com"),
    )
    cmd.assign(ws, cys, "cy", actor="ana")  # Cy may act in Sales through the Sales team
    cmd.assign(ws, anas, "ana", actor="ana")
    cmd.create_inbox(ws, "VIP", access="listed", agents=["ana"], actor="ana")
    assert cmd.remove_inbox(ws, "Sales", move_to="VIP", actor="ana") == 2
    assert q.conversation(ws, cys, access=EVERYTHING).assignee is None
    assert (
        q.thread(ws, cys, access=EVERYTHING)[-1].body == "Cy Park has no access to VIP: unassigned"
    )
    assert q.conversation(ws, anas, access=EVERYTHING).assignee == "ana"
    # Taking access away works the same way.
    cmd.set_inbox_access(ws, "VIP", add_agents=["bo"], actor="ana")
    cmd.assign(ws, anas, "bo", actor="ana")
    assert cmd.set_inbox_access(ws, "VIP", remove_agents=["bo"], actor="ana")
    assert q.conversation(ws, anas, access=EVERYTHING).assignee is None


# ---------------------------------------------------------------------------------- snippets


def test_snippets_any_active_agent(admin: Team) -> None:
    ws = admin.ws
    one_change(
        ws, lambda: cmd.save_snippet(ws, "thanks", "Thanks, {{contact.first_name}}!", actor="bo")
    )
    cmd.save_snippet(ws, "thanks", "Many thanks!", actor="cy")
    assert [(s.name, s.body) for s in q.snippets(ws)] == [("thanks", "Many thanks!")]
    unchanged(ws, lambda: cmd.save_snippet(ws, "x", "  ", actor="bo"), InvalidRequest, "empty")
    unchanged(ws, lambda: cmd.delete_snippet(ws, "nope", actor="bo"), InvalidRequest, "no snippet")
    one_change(ws, lambda: cmd.delete_snippet(ws, "thanks", actor="bo"))
    assert q.snippets(ws) == []


# ---------------------------------------------------------------------------------- pipelines


def test_pipelines_add_stages_remove(admin: Team) -> None:
    ws = admin.ws
    one_change(
        ws, lambda: cmd.create_pipeline(ws, "Sales", ["New", "Qualified", "Won"], actor="ana")
    )
    unchanged(ws, lambda: cmd.create_pipeline(ws, "sales", ["New"]), InvalidRequest, "exists")
    unchanged(ws, lambda: cmd.create_pipeline(ws, "B", []), InvalidRequest, "at least one stage")
    unchanged(ws, lambda: cmd.create_pipeline(ws, "B", ["a", "A"]), InvalidRequest, "twice")
    assert [(p.name, p.stages) for p in aq.pipelines(ws)] == [
        ("Support", ["New", "Waiting on contact", "Waiting on us", "Closed"]),
        ("Sales", ["New", "Qualified", "Won"]),
    ]
    # Tickets from Sales start in the Sales pipeline at Qualified.
    assert one_change(
        ws, lambda: cmd.set_inbox_pipeline(ws, "Sales", "sales", "qualified", actor="ana")
    )
    assert inbox(ws, "Sales").default_stage == "Qualified"
    unchanged(
        ws,
        lambda: cmd.set_inbox_pipeline(ws, "Sales", "Sales", "Lost"),
        InvalidRequest,
        "pipeline 'Sales' has no stage 'Lost'; its stages: New, Qualified, Won",
    )
    # Replacing stages keeps those that stay; an inbox whose start stage went starts first.
    assert one_change(ws, lambda: cmd.set_stages(ws, "Sales", ["Lead", "Won", "Lost"], actor="ana"))
    assert not cmd.set_stages(ws, "Sales", ["Lead", "Won", "Lost"], actor="ana")
    assert (inbox(ws, "Sales").default_pipeline, inbox(ws, "Sales").default_stage) == (
        "Sales",
        "Lead",
    )
    unchanged(
        ws,
        lambda: cmd.remove_pipeline(ws, "Sales", actor="ana"),
        InvalidRequest,
        "inbox 'Sales' starts tickets in 'Sales'",
    )
    cmd.set_inbox_pipeline(ws, "Sales", "Support", actor="ana")
    one_change(ws, lambda: cmd.remove_pipeline(ws, "Sales", actor="ana"))
    unchanged(ws, lambda: cmd.remove_pipeline(ws, "Support"), InvalidRequest, "only pipeline")
    unchanged(ws, lambda: cmd.remove_pipeline(ws, "Nope"), NotFound, "no pipeline 'Nope'")


def test_a_ticket_starts_where_its_inbox_says(admin: Team) -> None:
    ws = admin.ws
    cmd.create_pipeline(ws, "Sales", ["Lead", "Won"], actor="ana")
    cmd.set_inbox_pipeline(ws, "Sales", "Sales", "Won", actor="ana")
    sold = cmd.create_ticket(
        ws, actor="ana", conversation_id=admin.start(channel=admin.sales_email)
    )
    t = q.ticket(ws, sold)
    assert (t.pipeline, t.stage) == ("Sales", "Won")
    helped = cmd.create_ticket(ws, actor="ana", conversation_id=admin.start())
    assert (q.ticket(ws, helped).pipeline, q.ticket(ws, helped).stage) == ("Support", "New")
    # Asked for explicitly: checked, and a pipeline alone starts at its first stage.
    alone = cmd.create_ticket(ws, actor="ana", title="Audit", pipeline="sales")
    assert (q.ticket(ws, alone).pipeline, q.ticket(ws, alone).stage) == ("Sales", "Lead")
    with pytest.raises(NotFound, match="no pipeline 'Billing'; there are: Support, Sales"):
        cmd.create_ticket(ws, actor="ana", title="x", pipeline="Billing")
    assert cmd.update_ticket(ws, helped, actor="ana", pipeline="Sales")
    assert (q.ticket(ws, helped).pipeline, q.ticket(ws, helped).stage) == ("Sales", "Lead")


def test_the_demo_has_pipelines_and_its_tickets_use_them(tmp_path: Path) -> None:
    from unibox_tui.core.db import open_workspace
    from unibox_tui.core.demo import build_demo

    build_demo(tmp_path / "demo.db", conversations=300, seed=3)
    with open_workspace(tmp_path / "demo.db") as ws:
        pipes = {p.name: p.stages for p in aq.pipelines(ws)}
        assert pipes["Support"] == ["New", "Waiting on contact", "Waiting on us", "Closed"]
        assert {(i.name, i.default_pipeline) for i in aq.inboxes(ws)} == {
            ("Support", "Support"),
            ("Sales", "Sales"),
        }
        with ws.read() as conn:
            used = conn.exec_driver_sql("SELECT DISTINCT pipeline, stage FROM ticket").all()
        assert used and all(stage in pipes[pipeline] for pipeline, stage in used)
        assert agent(ws, "ana").role == "admin"
