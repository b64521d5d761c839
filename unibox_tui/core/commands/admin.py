"""Running a workspace: the first admin (`init`), editing and deactivating agents, team
members, inbox names and access lists, removing teams and inboxes.

Only admins do these (an agent may edit their own name, e-mail and availability). One rule
keeps a workspace manageable: it always has an active admin, so the last one can be neither
deactivated nor demoted. Creating agents, teams, inboxes and channels is in setup.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from sqlmodel import select

from .. import access, clock
from ..changes import resend_conversation
from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import (
    AVAILABILITY,
    INBOX_ACCESS,
    ROLES,
    Agent,
    Conversation,
    Inbox,
    InboxAccess,
    TeamMember,
)
from ..validate import require_choice
from ._base import (
    active_agent,
    activity,
    agent_ref,
    inbox_ref,
    name_taken,
    require_admin,
    require_text,
    team_ref,
)
from .pipelines import first_stage, start_tickets_at
from .setup import check_email, check_handle

DEFAULT_INBOX = "Support"


def check_admin(ws: Workspace, actor: str | None, what: str) -> None:
    """Refuse now, before slow work (connecting a channel), what the command would refuse."""
    with ws.write() as tx:
        require_admin(tx, actor, what)


# ---------------------------------------------------------------------------------- init


@dataclass
class InitResult:
    agent_id: str
    inbox_id: str
    inbox_created: bool


def init_workspace(
    ws: Workspace, name: str, handle: str, email: str | None, inbox: str = DEFAULT_INBOX
) -> InitResult:
    """Make an empty workspace usable: its first agent (an admin, and the workspace's default
    agent, so commands know who acts) and a first inbox that everyone may use. An inbox of
    that name that exists already (a channel added before `init`) is kept."""
    handle = check_handle(handle)
    email = check_email(email)
    name = require_text(name, "name").strip()
    inbox = require_text(inbox, "inbox name").strip()
    with ws.write() as tx:
        conn = tx.session.connection()
        existing = conn.exec_driver_sql("SELECT count(*) FROM agent").scalar_one()
        if existing:
            raise InvalidRequest(
                f"this workspace is set up already ({existing} agents); an admin adds more "
                "with `unibox agent add`"
            )
        agent = Agent(id=new_id(tx.now), name=name, handle=handle, email=email, role="admin")
        tx.stamp(agent)
        found = next(
            (i for i in tx.session.exec(select(Inbox)) if i.name.lower() == inbox.lower()), None
        )
        created = found is None
        if found is None:
            found = Inbox(id=new_id(tx.now), name=inbox, access="everyone")
            found.default_pipeline_id, found.default_stage_id = first_stage(tx)
            tx.stamp(found)
        _set(tx, "default_agent", agent.id)
        return InitResult(agent.id, found.id, created)


def _set(tx: Tx, key: str, value: object) -> None:
    tx.session.connection().exec_driver_sql(
        "INSERT INTO setting(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )


# ---------------------------------------------------------------------------------- agents


def _other_active_admins(tx: Tx, agent: Agent) -> int:
    return int(
        tx.session.connection()
        .exec_driver_sql(
            "SELECT count(*) FROM agent WHERE role = 'admin' AND active = 1 AND id != ?",
            (agent.id,),
        )
        .scalar_one()
    )


def _keep_an_admin(tx: Tx, agent: Agent, doing: str) -> None:
    if agent.role == "admin" and agent.active and not _other_active_admins(tx, agent):
        raise InvalidRequest(
            f"@{agent.handle} is the last active admin and cannot be {doing}; "
            "make another agent an admin first (`unibox agent set HANDLE --role admin`)"
        )


def set_agent(
    ws: Workspace,
    agent: str,
    *,
    name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    availability: str | None = None,
    meeting_link: str | None = None,
    actor: str | None = None,
) -> bool:
    """Change the given fields (`email=""` and `meeting_link=""` clear them). An agent may
    change their own name, e-mail, availability and meeting link; roles and other agents need
    an admin. False if unchanged."""
    if role is not None:
        require_choice(role, ROLES, "role")
    if availability is not None:
        require_choice(availability, AVAILABILITY, "availability")
    if name is not None:
        name = require_text(name, "name").strip()
    with ws.write() as tx:
        row = agent_ref(tx, agent)
        if actor is not None:
            me = active_agent(tx, actor)
            if me.id != row.id or (role is not None and role != row.role):
                require_admin(tx, actor, "change roles" if me.id == row.id else "change agents")
        before = (row.name, row.email, row.role, row.availability, row.meeting_link)
        if role is not None and role != row.role and role != "admin":
            _keep_an_admin(tx, row, "demoted")
        if name is not None:
            row.name = name
        if email is not None:
            row.email = check_email(email)
        if role is not None:
            row.role = role
        if availability is not None:
            row.availability = availability
        if meeting_link is not None:
            from .chatflows import meeting_link as checked_link

            row.meeting_link = checked_link(meeting_link)
        if (row.name, row.email, row.role, row.availability, row.meeting_link) == before:
            return False
        tx.stamp(row)
        return True


@dataclass
class Deactivated:
    changed: bool
    unassigned: list[str] = field(default_factory=list)  # conversation ids


def deactivate_agent(ws: Workspace, agent: str, *, actor: str | None = None) -> Deactivated:
    """The agent can no longer sign in or act; their history (messages, comments, tickets)
    stays theirs. Their open and snoozed conversations become unassigned, each with an
    activity line, so nothing waits on someone who is gone."""
    with ws.write() as tx:
        by = require_admin(tx, actor, "deactivate agents")
        row = agent_ref(tx, agent)
        if not row.active:
            return Deactivated(False)
        _keep_an_admin(tx, row, "deactivated")
        row.active = False
        tx.stamp(row)
        convs = tx.session.exec(
            select(Conversation).where(
                Conversation.assignee_id == row.id, Conversation.status != "closed"
            )
        ).all()
        for conv in convs:
            conv.assignee_id = None
            activity(tx, conv, f"{row.name} was deactivated: unassigned", by)
        _keep_an_active_default(tx, row, by)
        return Deactivated(True, [c.id for c in convs])


def _keep_an_active_default(tx: Tx, gone: Agent, by: Agent | None) -> None:
    """Scripts act as the workspace's default agent: when that is who was deactivated, the
    admin who did it (else another active admin) becomes the default."""
    conn = tx.session.connection()
    value = conn.exec_driver_sql("SELECT value FROM setting WHERE key = 'default_agent'").scalar()
    if value is None or json.loads(value) not in (gone.id, gone.handle):
        return
    successor = by.id if by is not None and by.id != gone.id else None
    if successor is None:
        successor = conn.exec_driver_sql(
            "SELECT id FROM agent WHERE role = 'admin' AND active = 1 AND id != ? ORDER BY id LIMIT 1",
            (gone.id,),
        ).scalar()
    if successor is not None:
        _set(tx, "default_agent", successor)


def activate_agent(ws: Workspace, agent: str, *, actor: str | None = None) -> bool:
    with ws.write() as tx:
        require_admin(tx, actor, "reactivate agents")
        row = agent_ref(tx, agent)
        if row.active:
            return False
        row.active = True
        tx.stamp(row)
        return True


# ---------------------------------------------------------------------------------- teams


def set_team_members(
    ws: Workspace,
    team: str,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    *,
    actor: str | None = None,
) -> bool:
    """Add and remove members in one change. False if nothing changed."""
    with ws.write() as tx:
        require_admin(tx, actor, "change teams")
        target = team_ref(tx, team)
        adding = [agent_ref(tx, ref) for ref in add]
        removing = [agent_ref(tx, ref) for ref in remove]
        both = {a.handle for a in adding} & {a.handle for a in removing}
        if both:
            raise InvalidRequest(f"@{sorted(both)[0]} is both added and removed")
        changed = False
        for agent in adding:
            if not tx.find(TeamMember, team_id=target.id, agent_id=agent.id):
                tx.stamp(TeamMember(team_id=target.id, agent_id=agent.id))
                changed = True
        for agent in removing:
            member = tx.find(TeamMember, team_id=target.id, agent_id=agent.id)
            if member is not None:
                tx.delete(member)
                changed = True
        if changed:
            tx.stamp(target)
        return changed


def remove_team(ws: Workspace, team: str, *, actor: str | None = None) -> None:
    """Remove a team: its members stay agents, inboxes stop listing it, and conversations
    assigned to it keep their agent but no longer the team."""
    with ws.write() as tx:
        require_admin(tx, actor, "remove teams")
        target = team_ref(tx, team)
        conn = tx.session.connection()
        conn.exec_driver_sql(
            "UPDATE conversation SET team_id = NULL, seq = ?, updated_at = ? WHERE team_id = ?",
            (tx.seq, clock.to_db(tx.now), target.id),
        )
        for inbox_id in conn.exec_driver_sql(
            "SELECT DISTINCT inbox_id FROM inbox_access WHERE team_id = ?", (target.id,)
        ).scalars():
            tx.stamp(tx.get(Inbox, inbox_id))
        for grant in tx.session.exec(select(InboxAccess).where(InboxAccess.team_id == target.id)):
            tx.delete(grant)
        for member in tx.session.exec(select(TeamMember).where(TeamMember.team_id == target.id)):
            tx.delete(member)
        tx.delete(target)


# ---------------------------------------------------------------------------------- inboxes


def rename_inbox(ws: Workspace, inbox: str, new_name: str, *, actor: str | None = None) -> bool:
    return update_inbox(ws, inbox, name=new_name, actor=actor)


def set_inbox_access(
    ws: Workspace,
    inbox: str,
    *,
    mode: str | None = None,
    add_agents: Iterable[str] = (),
    add_teams: Iterable[str] = (),
    remove_agents: Iterable[str] = (),
    remove_teams: Iterable[str] = (),
    actor: str | None = None,
) -> bool:
    """Who may use an inbox: `everyone`, or `listed` agents and teams (the list is kept while
    the mode is everyone, and applies again when it is listed). False if unchanged."""
    return update_inbox(
        ws,
        inbox,
        mode=mode,
        add_agents=add_agents,
        add_teams=add_teams,
        remove_agents=remove_agents,
        remove_teams=remove_teams,
        actor=actor,
    )


def update_inbox(
    ws: Workspace,
    inbox: str,
    *,
    name: str | None = None,
    mode: str | None = None,
    add_agents: Iterable[str] = (),
    add_teams: Iterable[str] = (),
    remove_agents: Iterable[str] = (),
    remove_teams: Iterable[str] = (),
    pipeline: str | None = None,
    stage: str | None = None,
    actor: str | None = None,
) -> bool:
    """Change an inbox's name, access and where its tickets start, in one change: applied
    whole or refused whole (the settings screen saves its inbox form with it). False if
    nothing changed."""
    if name is not None:
        name = require_text(name, "inbox name").strip()
    if mode is not None:
        require_choice(mode, INBOX_ACCESS, "access")
    with ws.write() as tx:
        what = "rename inboxes" if name is not None and mode is None else "change inbox access"
        by = require_admin(tx, actor, what if pipeline is None else "change inboxes")
        target = inbox_ref(tx, inbox)
        changed = False
        if name is not None and name != target.name:
            if name_taken(tx, Inbox, name, but=target.id):
                raise InvalidRequest(f"inbox {name!r} exists")
            target.name = name
            changed = True
        if mode is not None and mode != target.access:
            target.access = mode
            changed = True
        if _grants(tx, target, add_agents, add_teams, remove_agents, remove_teams) or (
            changed and target.access == "listed"
        ):
            changed = True
            tx.session.flush()
            _unassign_without_access(tx, target, by)  # who lost access lets go of its work
        if pipeline is not None:
            changed |= start_tickets_at(tx, target, pipeline, stage)
        if changed:
            tx.stamp(target)
        return changed


def _grants(
    tx: Tx,
    target: Inbox,
    add_agents: Iterable[str],
    add_teams: Iterable[str],
    remove_agents: Iterable[str],
    remove_teams: Iterable[str],
) -> bool:
    """Add and remove the agents and teams an inbox lists; whether any changed."""
    grants = list(tx.session.exec(select(InboxAccess).where(InboxAccess.inbox_id == target.id)))
    agents: dict[str, InboxAccess] = {g.agent_id: g for g in grants if g.agent_id}
    teams: dict[str, InboxAccess] = {g.team_id: g for g in grants if g.team_id}
    changed = False
    for ref in add_agents:
        agent = agent_ref(tx, ref)
        if agent.id not in agents:
            grant = InboxAccess(id=new_id(tx.now), inbox_id=target.id, agent_id=agent.id)
            tx.stamp(grant)
            agents[agent.id] = grant
            changed = True
    for ref in add_teams:
        team = team_ref(tx, ref)
        if team.id not in teams:
            grant = InboxAccess(id=new_id(tx.now), inbox_id=target.id, team_id=team.id)
            tx.stamp(grant)
            teams[team.id] = grant
            changed = True
    gone = [agents.pop(a.id) for a in map(partial(agent_ref, tx), remove_agents) if a.id in agents]
    gone += [teams.pop(t.id) for t in map(partial(team_ref, tx), remove_teams) if t.id in teams]
    for grant in gone:
        tx.delete(grant)
    changed |= bool(gone)
    return changed


def remove_inbox(
    ws: Workspace, inbox: str, *, move_to: str | None = None, actor: str | None = None
) -> int:
    """Remove an inbox. One that holds conversations or channels is refused unless
    `move_to` names another inbox, which then takes them all. Returns how many
    conversations moved."""
    with ws.write() as tx:
        by = require_admin(tx, actor, "remove inboxes")
        target = inbox_ref(tx, inbox)
        conn = tx.session.connection()
        held = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM conversation WHERE inbox_id = ?), "
            "(SELECT count(*) FROM channel WHERE inbox_id = ?)",
            (target.id, target.id),
        ).one()
        moved = 0
        if move_to is None:
            if held[0] or held[1]:
                raise InvalidRequest(
                    f"inbox {target.name!r} holds {held[0]} conversations and {held[1]} "
                    "channels; move them with --move-to OTHER (or remove its channels first)"
                )
        else:
            other = inbox_ref(tx, move_to)
            if other.id == target.id:
                raise InvalidRequest("--move-to names the inbox being removed; pick another")
            stamp = (other.id, tx.seq, clock.to_db(tx.now), target.id)
            moving = list(
                conn.exec_driver_sql(
                    "SELECT id FROM conversation WHERE inbox_id = ?", (target.id,)
                ).scalars()
            )
            moved = conn.exec_driver_sql(
                "UPDATE conversation SET inbox_id = ?, seq = ?, updated_at = ? WHERE inbox_id = ?",
                stamp,
            ).rowcount
            for cid in moving:  # agents of the receiving inbox get all of each conversation
                resend_conversation(conn.exec_driver_sql, cid, tx.seq)
            conn.exec_driver_sql(
                "UPDATE channel SET inbox_id = ?, seq = ?, updated_at = ? WHERE inbox_id = ?",
                stamp,
            )
            tx.stamp(other)
            _unassign_without_access(tx, other, by)
        for grant in tx.session.exec(select(InboxAccess).where(InboxAccess.inbox_id == target.id)):
            tx.delete(grant)
        from .routing import forget_routing

        forget_routing(tx, inbox_id=target.id)
        tx.delete(target)
        return moved


def _unassign_without_access(tx: Tx, inbox: Inbox, by: Agent | None) -> None:
    """Open work in `inbox` assigned to an agent who may not act there becomes unassigned
    (as when one conversation moves: conversations.move_inbox)."""
    conn = tx.session.connection()
    assignees = conn.exec_driver_sql(
        "SELECT DISTINCT assignee_id FROM conversation WHERE inbox_id = ? "
        "AND assignee_id IS NOT NULL AND status != 'closed'",
        (inbox.id,),
    ).scalars()
    for agent_id in list(assignees):
        if access.for_agent(conn, agent_id).can_act(inbox.id):
            continue
        agent = agent_ref(tx, agent_id)
        convs = tx.session.exec(
            select(Conversation).where(
                Conversation.inbox_id == inbox.id,
                Conversation.assignee_id == agent_id,
                Conversation.status != "closed",
            )
        ).all()
        for conv in convs:
            conv.assignee_id = None
            activity(tx, conv, f"{agent.name} has no access to {inbox.name}: unassigned", by)
