"""Who may see and act in which inbox: the one rule (DESIGN.md, "Rules that keep it safe").

Every query and every command asks this module; nothing else decides access.

- An inbox with access `everyone`: every active agent sees it and acts in it.
- An inbox with access `listed`: the agents listed directly or through one of their teams
  see it and act in it. An admin who is not listed sees it (reads) but cannot act in it.
- A deactivated agent sees nothing and acts nowhere.
- No agent at all (`None`: the channel engine, a workspace with no agents yet) is the system
  itself and sees everything.

`for_agent` takes any connection with `exec_driver_sql(sql, params)` (the read pool's
sqlite3 connection or a write transaction's SQLAlchemy connection), so reads and commands
apply the same rule from the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class _Conn(Protocol):
    def exec_driver_sql(self, sql: str, params: Any = ...) -> Any: ...


@dataclass(frozen=True)
class Access:
    """What one agent may see and act in. `None` for a set means every inbox."""

    agent_id: str | None
    role: str
    see: frozenset[str] | None
    act: frozenset[str] | None
    hidden: int = 0  # inboxes this agent cannot see (for "+2 in other inboxes" style notes)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" or self.agent_id is None

    @property
    def sees_all(self) -> bool:
        return self.see is None

    def can_see(self, inbox_id: str) -> bool:
        return self.see is None or inbox_id in self.see

    def can_act(self, inbox_id: str) -> bool:
        return self.act is None or inbox_id in self.act

    def where(self, column: str = "c.inbox_id") -> tuple[str, tuple[str, ...]]:
        """An SQL condition (and its parameters) that keeps rows of visible inboxes only."""
        if self.see is None:
            return "1", ()
        if not self.see:
            return "0", ()
        ids = tuple(sorted(self.see))
        return f"{column} IN ({','.join('?' * len(ids))})", ids


# The same rule as SQL, for a query that asks it of many agents at once (routing's pool):
# agent row `a` may act in the inbox bound twice as `?, ?`. Kept next to `for_agent`, which
# asks it of one agent for every inbox; tests/core/test_routing.py checks they agree.
ACTS_IN = (
    "(a.active = 1 AND ((SELECT access FROM inbox WHERE id = ?) = 'everyone' OR EXISTS ("
    "SELECT 1 FROM inbox_access g WHERE g.inbox_id = ? AND (g.agent_id = a.id OR "
    "g.team_id IN (SELECT team_id FROM team_member WHERE agent_id = a.id)))))"
)

EVERYTHING = Access(agent_id=None, role="admin", see=None, act=None)

# The tables `for_agent` reads: while none of them changed (rows, or tombstones of them),
# an agent's access is what it was (the hub keeps its agents' rules between pokes).
TABLES = frozenset({"agent", "inbox", "inbox_access", "team_member"})


def for_agent(conn: _Conn, agent_id: str | None) -> Access:
    """The access of `agent_id` (None: the system, which sees everything)."""
    if agent_id is None:
        return EVERYTHING
    row = conn.exec_driver_sql("SELECT role, active FROM agent WHERE id = ?", (agent_id,)).first()
    if row is None or not row[1]:
        total = conn.exec_driver_sql("SELECT count(*) FROM inbox").scalar()
        return Access(agent_id, row[0] if row else "agent", frozenset(), frozenset(), int(total))
    role = row[0]
    inboxes = conn.exec_driver_sql(
        """SELECT i.id, i.access = 'everyone' OR EXISTS (
             SELECT 1 FROM inbox_access g WHERE g.inbox_id = i.id AND (g.agent_id = ? OR
             g.team_id IN (SELECT team_id FROM team_member WHERE agent_id = ?)))
           FROM inbox i""",
        (agent_id, agent_id),
    ).all()
    act = frozenset(i for i, ok in inboxes if ok)
    everything = len(act) == len(inboxes)
    if role == "admin":
        see = None
        hidden = 0
    else:
        see = None if everything else act
        hidden = len(inboxes) - len(act)
    return Access(agent_id, role, see, None if everything else act, hidden)
