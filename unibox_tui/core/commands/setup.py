"""Workspace setup: agents, teams, inboxes, channels, snippets."""

from __future__ import annotations

import json
import re
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
    Agent,
    Channel,
    Inbox,
    InboxAccess,
    Snippet,
    SyncState,
    Team,
    TeamMember,
)
from ..validate import require_choice
from ._base import agent_ref, inbox_ref, require_text, team_ref

HANDLE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")
# Words in a key that would hold a secret; settings hold only where a secret comes from
# (keys ending in _source or _env).
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "credential")


def create_agent(
    ws: Workspace,
    name: str,
    handle: str,
    email: str | None = None,
    availability: str = "available",
    *,
    id: str | None = None,
) -> str:
    handle = handle.lstrip("@").lower()
    if not HANDLE.match(handle):
        raise InvalidRequest(f"handle {handle!r} may hold only a-z, 0-9, _, . and -")
    require_choice(availability, AVAILABILITY, "availability")
    with ws.write() as tx:
        if tx.find(Agent, handle=handle):
            raise InvalidRequest(f"handle @{handle} is taken")
        agent = Agent(id=id or new_id(tx.now), name=require_text(name, "name"), handle=handle)
        agent.email, agent.availability = email, availability
        tx.stamp(agent)
        return agent.id


def set_availability(ws: Workspace, agent: str, availability: str) -> None:
    require_choice(availability, AVAILABILITY, "availability")
    with ws.write() as tx:
        row = agent_ref(tx, agent)
        row.availability = availability
        tx.stamp(row)


def create_team(
    ws: Workspace, name: str, members: Iterable[str] = (), *, id: str | None = None
) -> str:
    with ws.write() as tx:
        if tx.find(Team, name=name):
            raise InvalidRequest(f"team {name!r} exists")
        team = Team(id=id or new_id(tx.now), name=require_text(name, "team name"))
        tx.stamp(team)
        for ref in members:
            tx.stamp(TeamMember(team_id=team.id, agent_id=agent_ref(tx, ref).id))
        return team.id


def add_team_member(ws: Workspace, team: str, agent: str) -> None:
    with ws.write() as tx:
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
    id: str | None = None,
) -> str:
    require_choice(access, INBOX_ACCESS, "access")
    with ws.write() as tx:
        if tx.find(Inbox, name=name):
            raise InvalidRequest(f"inbox {name!r} exists")
        inbox = Inbox(id=id or new_id(tx.now), name=require_text(name, "inbox name"), access=access)
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
    id: str | None = None,
) -> str:
    require_choice(kind, CHANNEL_KINDS, "channel kind")
    encoded = _check_settings(settings or {})
    with ws.write() as tx:
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
) -> None:
    with ws.write() as tx:
        channel = tx.get(Channel, channel_id, "channel")
        if settings is not None:
            channel.settings = _check_settings(settings)
        if status is not None:
            channel.status = status
        if name is not None:
            channel.name = require_text(name, "channel name")
        tx.stamp(channel)


def set_channel_enabled(ws: Workspace, channel_id: str, enabled: bool) -> bool:
    """Enable or disable; returns whether anything changed."""
    with ws.write() as tx:
        channel = tx.get(Channel, channel_id, "channel")
        if channel.enabled == enabled:
            return False
        channel.enabled = enabled
        tx.stamp(channel)
        return True


def remove_channel(ws: Workspace, channel_id: str) -> None:
    """Remove a channel that has no conversations; otherwise disable it (history stays)."""
    with ws.write() as tx:
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
        tx.delete(channel)


def save_snippet(ws: Workspace, name: str, body: str, *, id: str | None = None) -> str:
    """Create a snippet, or replace the body of the one with that name."""
    with ws.write() as tx:
        snippet = tx.find(Snippet, name=name)
        if snippet is None:
            snippet = Snippet(
                id=id or new_id(tx.now), name=require_text(name, "snippet name"), body=""
            )
        snippet.body = require_text(body, "snippet body")
        tx.stamp(snippet)
        return snippet.id


def delete_snippet(ws: Workspace, name: str) -> None:
    with ws.write() as tx:
        snippet = tx.find(Snippet, name=name)
        if snippet is None:
            names = [s.name for s in tx.session.exec(select(Snippet)).all()]
            raise InvalidRequest(f"no snippet {name!r}; there are: {', '.join(names) or 'none'}")
        tx.delete(snippet)
