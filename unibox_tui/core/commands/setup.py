"""Workspace setup: agents, teams, inboxes, channels, snippets.

Changing agents, teams, inboxes, access and channels needs an admin (`actor`, checked by
_base.require_admin); `actor=None` is the system (setup scripts, the engine). The rest of
the administration (editing, deactivating, removing, access lists, `init`) is in admin.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlmodel import select

from ..db import Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import (
    AVAILABILITY,
    CHANNEL_KINDS,
    INBOX_ACCESS,
    ROLES,
    Agent,
    Channel,
    Inbox,
    InboxAccess,
    Snippet,
    SyncState,
    Team,
    TeamMember,
)
from ..validate import HANDLE, require_choice
from ._base import (
    active_agent,
    agent_ref,
    inbox_ref,
    name_taken,
    require_admin,
    require_text,
    team_ref,
)
from .pipelines import first_stage

# Words in a key that would hold a secret; settings hold only where a secret comes from
# (keys ending in _source or _env).
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "credential")


def check_handle(handle: str) -> str:
    handle = handle.strip().lstrip("@").lower()
    if not HANDLE.match(handle):
        raise InvalidRequest(f"handle {handle!r} may hold only a-z, 0-9, _, . and -")
    return handle


def check_email(email: str | None) -> str | None:
    """An agent's e-mail address: optional, but an address when given."""
    if email is None or not email.strip():
        return None
    email = email.strip()
    if "@" not in email or any(c.isspace() for c in email):
        raise InvalidRequest(f"{email!r} is not an e-mail address")
    return email


def create_agent(
    ws: Workspace,
    name: str,
    handle: str,
    email: str | None = None,
    availability: str = "available",
    *,
    role: str = "agent",
    actor: str | None = None,
    id: str | None = None,
) -> str:
    handle = check_handle(handle)
    require_choice(availability, AVAILABILITY, "availability")
    require_choice(role, ROLES, "role")
    email = check_email(email)
    with ws.write() as tx:
        require_admin(tx, actor, "add agents")
        if tx.find(Agent, handle=handle):
            raise InvalidRequest(f"handle @{handle} is taken")
        agent = Agent(
            id=id or new_id(tx.now), name=require_text(name, "name").strip(), handle=handle
        )
        agent.email, agent.availability, agent.role = email, availability, role
        tx.stamp(agent)
        return agent.id


def set_availability(
    ws: Workspace, agent: str, availability: str, *, actor: str | None = None
) -> bool:
    """An agent sets their own availability; an admin anyone's. False if unchanged."""
    require_choice(availability, AVAILABILITY, "availability")
    with ws.write() as tx:
        row = agent_ref(tx, agent)
        if actor is not None and active_agent(tx, actor).id != row.id:
            require_admin(tx, actor, "change another agent's availability")
        if row.availability == availability:
            return False
        row.availability = availability
        tx.stamp(row)
        return True


def create_team(
    ws: Workspace,
    name: str,
    members: Iterable[str] = (),
    *,
    actor: str | None = None,
    id: str | None = None,
) -> str:
    with ws.write() as tx:
        require_admin(tx, actor, "add teams")
        name = require_text(name, "team name").strip()
        if name_taken(tx, Team, name):
            raise InvalidRequest(f"team {name!r} exists")
        team = Team(id=id or new_id(tx.now), name=name)
        tx.stamp(team)
        for ref in dict.fromkeys(agent_ref(tx, ref).id for ref in members):
            tx.stamp(TeamMember(team_id=team.id, agent_id=ref))
        return team.id


def add_team_member(ws: Workspace, team: str, agent: str, *, actor: str | None = None) -> None:
    with ws.write() as tx:
        require_admin(tx, actor, "change teams")
        t, a = team_ref(tx, team), agent_ref(tx, agent)
        if not tx.find(TeamMember, team_id=t.id, agent_id=a.id):
            tx.stamp(TeamMember(team_id=t.id, agent_id=a.id))


def create_inbox(
    ws: Workspace,
    name: str,
    access: str = "everyone",
    agents: Iterable[str] = (),
    teams: Iterable[str] = (),
    *,
    actor: str | None = None,
    id: str | None = None,
) -> str:
    """A new inbox; tickets from it start in the workspace's first pipeline and stage."""
    require_choice(access, INBOX_ACCESS, "access")
    with ws.write() as tx:
        require_admin(tx, actor, "add inboxes")
        name = require_text(name, "inbox name").strip()
        if name_taken(tx, Inbox, name):
            raise InvalidRequest(f"inbox {name!r} exists")
        inbox = Inbox(id=id or new_id(tx.now), name=name, access=access)
        inbox.default_pipeline_id, inbox.default_stage_id = first_stage(tx)
        tx.stamp(inbox)
        for ref in agents:
            grant = InboxAccess(
                id=new_id(tx.now), inbox_id=inbox.id, agent_id=agent_ref(tx, ref).id
            )
            tx.stamp(grant)
        for ref in teams:
            grant = InboxAccess(id=new_id(tx.now), inbox_id=inbox.id, team_id=team_ref(tx, ref).id)
            tx.stamp(grant)
        return inbox.id


def _secret_keys(settings: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found += _secret_keys(value, f"{name}.")
        elif any(w in key.lower() for w in SECRET_WORDS) and not key.endswith(("_source", "_env")):
            found.append(name)
    return found


def _check_settings(settings: dict[str, Any]) -> str:
    leaked = _secret_keys(settings)
    if leaked:
        raise InvalidRequest(
            f"channel settings may not hold secrets ({', '.join(sorted(leaked))}); "
            "store them in the keyring or name an env var / file"
        )
    return json.dumps(settings, sort_keys=True)


def add_channel(
    ws: Workspace,
    inbox: str,
    kind: str,
    name: str,
    address: str | None = None,
    settings: dict[str, Any] | None = None,
    enabled: bool = True,
    *,
    actor: str | None = None,
    id: str | None = None,
) -> str:
    require_choice(kind, CHANNEL_KINDS, "channel kind")
    encoded = _check_settings(settings or {})
    with ws.write() as tx:
        require_admin(tx, actor, "add channels")
        target = inbox_ref(tx, inbox)
        channel = Channel(
            id=id or new_id(tx.now),
            inbox_id=target.id,
            kind=kind,
            name=require_text(name, "channel name"),
            address=address,
            enabled=enabled,
            settings=encoded,
        )
        tx.stamp(channel)
        return channel.id


def update_channel(
    ws: Workspace,
    channel_id: str,
    *,
    settings: dict[str, Any] | None = None,
    status: str | None = None,
    name: str | None = None,
    actor: str | None = None,
) -> None:
    with ws.write() as tx:
        require_admin(tx, actor, "change channels")
        channel = tx.get(Channel, channel_id, "channel")
        if settings is not None:
            channel.settings = _check_settings(settings)
        if status is not None:
            channel.status = status
        if name is not None:
            channel.name = require_text(name, "channel name")
        tx.stamp(channel)


def set_channel_enabled(
    ws: Workspace, channel_id: str, enabled: bool, *, actor: str | None = None
) -> bool:
    """Enable or disable; returns whether anything changed."""
    with ws.write() as tx:
        require_admin(tx, actor, "enable or disable channels")
        channel = tx.get(Channel, channel_id, "channel")
        if channel.enabled == enabled:
            return False
        channel.enabled = enabled
        tx.stamp(channel)
        return True


def remove_channel(ws: Workspace, channel_id: str, *, actor: str | None = None) -> None:
    """Remove a channel that has no conversations; otherwise disable it (history stays)."""
    with ws.write() as tx:
        require_admin(tx, actor, "remove channels")
        channel = tx.get(Channel, channel_id, "channel")
        used = tx.session.connection().exec_driver_sql(
            "SELECT 1 FROM conversation WHERE channel_id = ? UNION ALL "
            "SELECT 1 FROM message WHERE channel_id = ? UNION ALL "
            "SELECT 1 FROM outbox WHERE channel_id = ? LIMIT 1",
            (channel_id, channel_id, channel_id),
        )
        if used.first():
            raise InvalidRequest(
                f"channel {channel.name!r} has conversations or messages; disable it instead "
                f"(`unibox channel disable {channel_id}`) so history stays"
            )
        for state in tx.session.exec(select(SyncState).where(SyncState.channel_id == channel_id)):
            tx.delete(state)
        from .routing import forget_routing

        forget_routing(tx, channel_id=channel_id)
        tx.delete(channel)


def save_snippet(
    ws: Workspace, name: str, body: str, *, actor: str | None = None, id: str | None = None
) -> str:
    """Create a snippet, or replace the body of the one with that name (any agent may)."""
    with ws.write() as tx:
        if actor is not None:
            active_agent(tx, actor)
        name = require_text(name, "snippet name").strip()
        snippet = tx.find(Snippet, name=name)
        if snippet is None:
            snippet = Snippet(
                id=id or new_id(tx.now), name=require_text(name, "snippet name"), body=""
            )
        snippet.body = require_text(body, "snippet body")
        tx.stamp(snippet)
        return snippet.id


def delete_snippet(ws: Workspace, name: str, *, actor: str | None = None) -> None:
    with ws.write() as tx:
        if actor is not None:
            active_agent(tx, actor)
        snippet = tx.find(Snippet, name=name)
        if snippet is None:
            names = [s.name for s in tx.session.exec(select(Snippet)).all()]
            raise InvalidRequest(f"no snippet {name!r}; there are: {', '.join(names) or 'none'}")
        tx.delete(snippet)
