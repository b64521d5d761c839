"""Who the current agent is: the one rule for the CLI and the TUI."""

from __future__ import annotations

from .db import Workspace
from .errors import NotFound
from .queries import AgentRow, agents


def current_agent(ws: Workspace, handle: str | None = None) -> AgentRow | None:
    """`handle` (from --as or config) if given, else the workspace's default agent, else the
    only agent. None when the workspace cannot tell (several agents, no default)."""
    everyone = agents(ws)
    wanted = (handle or ws.setting("default_agent") or "").lstrip("@").lower()
    if wanted:
        for agent in everyone:
            if wanted in (agent.handle, agent.id):
                return agent
        if handle:
            raise NotFound(f"no agent @{wanted} in this workspace; `unibox agents` lists them")
    return everyone[0] if len(everyone) == 1 else None
