"""Who the current agent is: the one rule for the CLI and the TUI."""

from __future__ import annotations

from .db import Workspace
from .errors import NotFound
from .queries import AgentRow, agents


def current_agent(
    ws: Workspace,
    explicit: str | None = None,
    configured: str | None = None,
    *,
    guess_first: bool = False,
) -> tuple[AgentRow | None, str | None]:
    """(the agent, a warning line or None).

    `explicit` (--as, or the app's `me`; id or handle) must exist. Else `configured` (the
    config's [agent] handle) if it is in this workspace, with a warning when it is not; then
    the workspace's default agent; then the only agent (or, with `guess_first`, the first:
    the TUI must show someone's inbox, a script must not act as a guess).
    """
    everyone = agents(ws)

    def find(ref: str) -> AgentRow | None:
        handle = ref.lstrip("@").lower()
        return next((a for a in everyone if ref == a.id or handle == a.handle), None)

    if explicit:
        found = find(explicit)
        if found is None:
            raise NotFound(f"no agent {explicit!r} in this workspace; `unibox agents` lists them")
        return found, None
    warning = None
    if configured:
        found = find(configured)
        if found:
            return found, None
        warning = f"config agent @{configured.lstrip('@')} is not in this workspace"
    default = ws.setting("default_agent")
    chosen = find(default) if isinstance(default, str) else None
    if chosen is None and (len(everyone) == 1 or (guess_first and everyone)):
        chosen = everyone[0]
    if warning and chosen:
        warning += f"; acting as @{chosen.handle}"
    return chosen, warning
