"""Reads for running a workspace: agents with their role and state, teams with members,
inboxes with access lists, channels and default pipeline, pipelines with stages, and an
agent's notifications with the comment that mentioned them.

What the admin CLI (cli_admin.py) prints and the settings screen shows. Small tables only,
except the per-inbox conversation count, which the inbox index answers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from . import clock, queries
from .db import Workspace

SEP = "\x1f"


def _split(value: str | None) -> list[str]:
    return value.split(SEP) if value else []


@dataclass
class AgentInfo:
    id: str
    name: str
    handle: str
    email: str | None
    availability: str
    role: str
    active: bool
    teams: list[str]
    meeting_link: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def agents(ws: Workspace) -> list[AgentInfo]:
    """Every agent, deactivated ones too (they keep their history), by name."""
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT a.id, a.name, a.handle, a.email, a.availability, a.role, a.active, "
            f"(SELECT group_concat(t.name, '{SEP}') FROM team_member m "
            " JOIN team t ON t.id = m.team_id WHERE m.agent_id = a.id), a.meeting_link "
            "FROM agent a ORDER BY a.name, a.handle"
        ).all()
    return [
        AgentInfo(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), sorted(_split(r[7])), r[8])
        for r in rows
    ]


@dataclass
class TeamInfo:
    id: str
    name: str
    members: list[str]  # handles

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def teams(ws: Workspace) -> list[TeamInfo]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT t.id, t.name, (SELECT group_concat(a.handle, '{SEP}') FROM team_member m "
            " JOIN agent a ON a.id = m.agent_id WHERE m.team_id = t.id) FROM team t ORDER BY t.name"
        ).all()
    return [TeamInfo(r[0], r[1], sorted(_split(r[2]))) for r in rows]


@dataclass
class ChannelInfo:
    id: str
    kind: str
    name: str
    address: str | None
    enabled: bool
    status: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InboxInfo:
    id: str
    name: str
    access: str  # everyone | listed
    agents: list[str]  # handles listed directly
    teams: list[str]  # team names listed
    channels: list[ChannelInfo]
    conversations: int
    default_pipeline: str | None
    default_stage: str | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = [c.to_json() for c in self.channels]
        return data


def inboxes(ws: Workspace) -> list[InboxInfo]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.id, i.name, i.access, "
            f"(SELECT group_concat(a.handle, '{SEP}') FROM inbox_access g "
            " JOIN agent a ON a.id = g.agent_id WHERE g.inbox_id = i.id), "
            f"(SELECT group_concat(t.name, '{SEP}') FROM inbox_access g "
            " JOIN team t ON t.id = g.team_id WHERE g.inbox_id = i.id), "
            "(SELECT count(*) FROM conversation c WHERE c.inbox_id = i.id), p.name, s.name "
            "FROM inbox i LEFT JOIN pipeline p ON p.id = i.default_pipeline_id "
            "LEFT JOIN pipeline_stage s ON s.id = i.default_stage_id ORDER BY i.name"
        ).all()
        channels: dict[str, list[ChannelInfo]] = {}
        for c in conn.exec_driver_sql(
            "SELECT inbox_id, id, kind, name, address, enabled, status FROM channel "
            "ORDER BY kind, name"
        ):
            channels.setdefault(c[0], []).append(
                ChannelInfo(c[1], c[2], c[3], c[4], bool(c[5]), c[6])
            )
    return [
        InboxInfo(
            r[0],
            r[1],
            r[2],
            sorted(_split(r[3])),
            sorted(_split(r[4])),
            channels.get(r[0], []),
            int(r[5]),
            r[6],
            r[7],
        )
        for r in rows
    ]


@dataclass
class PipelineInfo:
    id: str
    name: str
    stages: list[str]  # in order
    inboxes: list[str]  # inboxes whose tickets start here

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def pipelines(ws: Workspace) -> list[PipelineInfo]:
    """Pipelines in their order, each with its stages in order."""
    with ws.read() as conn:
        rows = conn.exec_driver_sql("SELECT id, name FROM pipeline ORDER BY position, name").all()
        stages: dict[str, list[str]] = {}
        for pid, name in conn.exec_driver_sql(
            "SELECT pipeline_id, name FROM pipeline_stage ORDER BY position"
        ):
            stages.setdefault(pid, []).append(name)
        users: dict[str, list[str]] = {}
        for pid, name in conn.exec_driver_sql(
            "SELECT default_pipeline_id, name FROM inbox WHERE default_pipeline_id IS NOT NULL "
            "ORDER BY name"
        ):
            users.setdefault(pid, []).append(name)
    return [PipelineInfo(r[0], r[1], stages.get(r[0], []), users.get(r[0], [])) for r in rows]


def inbox_start(ws: Workspace, inbox_id: str | None) -> tuple[str, str] | None:
    """Where a ticket from this inbox starts (pipeline, stage), when the inbox says."""
    if not inbox_id:
        return None
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT p.name, s.name FROM inbox i JOIN pipeline p ON p.id = i.default_pipeline_id "
            "LEFT JOIN pipeline_stage s ON s.id = i.default_stage_id WHERE i.id = ?",
            (inbox_id,),
        ).first()
    if row is None:
        return None
    return row[0], row[1] or ""


@dataclass
class NotificationInfo:
    id: str
    kind: str  # mention | assigned | new_conversation
    text: str
    comment: str | None  # the comment's text, for a mention
    conversation_id: str | None
    actor: str | None  # handle of who caused it
    created_at: datetime
    read: bool

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = clock.iso(self.created_at)
        return data


def notifications(
    ws: Workspace, agent_id: str, *, unread_only: bool = False, limit: int = 100
) -> list[NotificationInfo]:
    """The agent's notifications for the CLI: queries.notifications (the one reader, with the
    access rule), with the whole mentioning comment and the actor's handle."""
    rows = queries.notifications(
        ws, agent_id, unread_only=unread_only, limit=limit, comment_chars=None
    )
    return [
        NotificationInfo(
            n.id, n.kind, n.text, n.comment, n.conversation_id, n.actor_handle, n.created_at, n.read
        )
        for n in rows
    ]


def workspace_has_agents(ws: Workspace) -> bool:
    """False on a new workspace: the first start offers the setup screen / `unibox init`."""
    with ws.read() as conn:
        return conn.exec_driver_sql("SELECT 1 FROM agent LIMIT 1").first() is not None
