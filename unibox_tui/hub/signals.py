"""The team's ephemeral signals: who is online or away, who views or types in which
conversation. Never in the change log (DESIGN.md).

`Signals` keeps them in this process's memory (one hub node). `RedisSignals` keeps them in
Redis keys with expiry (`unibox hub --redis`), so every node sees the agents connected to
the others:
- `PREFIX here`: a sorted set of "agent node" members scored with when they expire; each
  node renews its own agents every RENEW seconds, so the agents of a node that died leave
  within PRESENCE_TTL (and every node tells its agents so);
- `PREFIX status`: agent -> online | away (what the agent chose);
- `PREFIX act:CONVERSATION`: "agent kind" -> when it expires, the key itself expiring with
  its newest signal.
Times are the nodes' clocks (seconds since the epoch): nodes are expected to keep time.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

SIGNAL_TTL = 8.0  # seconds a "viewing" / "typing" signal lasts without being repeated
PRESENCE_TTL = 30.0  # seconds an agent of a node that stopped renewing stays present
RENEW = 5.0  # seconds between a node's renewals of its agents' presence
# What an agent does in a conversation, the strongest first: one writing a reply and looking
# at it is shown writing. "commenting" is typing an internal comment (a chat visitor never
# sees it; teammates see it as such, not as a reply about to reach the customer).
ACTIVITY = ("typing", "commenting", "viewing")
WRITING = ("typing", "commenting")  # what `idle` ends


def strongest(kinds: set[str] | dict[str, Any]) -> str | None:
    """The kind of activity to show for an agent marked with `kinds`."""
    return next((k for k in ACTIVITY if k in kinds), None)


@dataclass
class Signals:
    """In memory: this node's agents are all there is."""

    presence_of: dict[str, str] = field(default_factory=dict)  # agent id -> online | away
    # conversation id -> {agent id: {"viewing"|"typing": expires at}}; typing wins while live
    activity: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    async def join(self, agent_id: str, local_agents: set[str]) -> bool:
        """An app of the agent connected here; True when the agent was not present."""
        if agent_id in self.presence_of:
            return False
        self.presence_of[agent_id] = "online"
        return True

    async def leave(self, agent_id: str, local_agents: set[str]) -> bool:
        """The agent's last app on this node went; True when the agent is gone."""
        self.presence_of.pop(agent_id, None)
        for agents in self.activity.values():
            agents.pop(agent_id, None)
        return True

    async def set_status(self, agent_id: str, status: str) -> None:
        self.presence_of[agent_id] = status

    async def presence(self) -> dict[str, str]:
        return dict(self.presence_of)

    async def mark(self, conversation_id: str, agent_id: str, kind: str) -> None:
        """`viewing` / `typing` / `commenting` for SIGNAL_TTL, `idle` (sent or put away:
        no longer writing, still looking), or `left`."""
        agents = self.activity.setdefault(conversation_id, {})
        if kind == "left":
            agents.pop(agent_id, None)
        elif kind == "idle":
            for writing in WRITING:
                agents.get(agent_id, {}).pop(writing, None)
        else:
            agents.setdefault(agent_id, {})[kind] = time.monotonic() + SIGNAL_TTL

    async def live(self, conversation_id: str) -> dict[str, str]:
        now = time.monotonic()
        out = {}
        for agent_id, kinds in self.activity.get(conversation_id, {}).items():
            shown = strongest({k for k, until in kinds.items() if until > now})
            if shown is not None:
                out[agent_id] = shown
        return out

    async def tick(self, local_agents: set[str]) -> bool:
        """Forget what expired; True when the presence changed (never, in memory)."""
        now = time.monotonic()
        for conversation_id, agents in list(self.activity.items()):
            for agent_id, kinds in list(agents.items()):
                if max(kinds.values(), default=0) <= now:
                    del agents[agent_id]
            if not agents:
                del self.activity[conversation_id]
        return False

    async def close(self) -> None:
        pass


class RedisSignals(Signals):
    """In Redis, shared by the hub nodes of one workspace (keys under `prefix`)."""

    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__()
        self.redis = client
        self.prefix = prefix
        self.node = uuid.uuid4().hex[:12]
        self._renewed = 0.0
        # The agents connected to any node, as last read (for routing: core/presence.py).
        self.everyone: set[str] = set()

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def _here(self) -> set[str]:
        """The agents with an app on any node (members not expired)."""
        live = await self.redis.zrangebyscore(self._key("here"), time.time(), "+inf")
        self.everyone = {m.decode().split(" ", 1)[0] for m in live}
        return self.everyone

    async def join(self, agent_id: str, local_agents: set[str]) -> bool:
        was = agent_id in await self._here()
        await self.redis.zadd(
            self._key("here"), {f"{agent_id} {self.node}": time.time() + PRESENCE_TTL}
        )
        if not was:
            await self.redis.hsetnx(self._key("status"), agent_id, "online")
        return not was

    async def leave(self, agent_id: str, local_agents: set[str]) -> bool:
        await self.redis.zrem(self._key("here"), f"{agent_id} {self.node}")
        if agent_id in await self._here():
            return False  # still connected to another node
        await self.redis.hdel(self._key("status"), agent_id)
        return True

    async def set_status(self, agent_id: str, status: str) -> None:
        await self.redis.hset(self._key("status"), agent_id, status)

    async def presence(self) -> dict[str, str]:
        here = await self._here()
        status = await self.redis.hgetall(self._key("status"))
        chosen = {k.decode(): v.decode() for k, v in status.items()}
        return {a: chosen.get(a, "online") for a in here}

    async def mark(self, conversation_id: str, agent_id: str, kind: str) -> None:
        key = self._key(f"act:{conversation_id}")
        if kind in ("left", "idle"):
            gone = ACTIVITY if kind == "left" else WRITING
            await self.redis.hdel(key, *(f"{agent_id} {k}" for k in gone))
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, f"{agent_id} {kind}", time.time() + SIGNAL_TTL)
            pipe.expire(key, int(SIGNAL_TTL) + 1)
            await pipe.execute()

    async def live(self, conversation_id: str) -> dict[str, str]:
        now = time.time()
        marks = await self.redis.hgetall(self._key(f"act:{conversation_id}"))
        kinds: dict[str, set[str]] = {}
        for name, until in marks.items():
            if float(until) > now:
                agent_id, kind = name.decode().split(" ", 1)
                kinds.setdefault(agent_id, set()).add(kind)
        return {a: shown for a, k in kinds.items() if (shown := strongest(k)) is not None}

    async def tick(self, local_agents: set[str]) -> bool:
        """Every RENEW seconds: renew this node's agents and drop the expired (a node that
        died); True when that made someone leave."""
        now = time.time()
        if now - self._renewed < RENEW:
            return False
        self._renewed = now
        key = self._key("here")
        if local_agents:
            until = now + PRESENCE_TTL
            await self.redis.zadd(key, {f"{a} {self.node}": until for a in local_agents})
        members = await self.redis.zrange(key, 0, -1)  # the expired too
        before = {m.decode().split(" ", 1)[0] for m in members}
        removed = await self.redis.zremrangebyscore(key, "-inf", now)
        gone = before - await self._here()  # (`everyone` is fresh for routing now)
        if not removed or not gone:
            return False
        await self.redis.hdel(self._key("status"), *gone)
        return True

    async def close(self) -> None:
        """This node stops: its agents leave now, not at expiry."""
        members = [m for m in await self.redis.zrange(self._key("here"), 0, -1)]
        mine = [m for m in members if m.decode().endswith(f" {self.node}")]
        if mine:
            await self.redis.zrem(self._key("here"), *mine)
