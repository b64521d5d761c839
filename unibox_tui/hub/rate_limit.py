"""What the hub's public endpoints share to refuse a flood: who is asking, and a sliding
window of how often they asked: in memory, per node (a restart forgets, which is fine for
abuse limits), or in Redis with `unibox hub --redis`, shared by every node (`RedisRateLimiter`:
else a client spreading its posts over N nodes would get N times the limit)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

RATE_WINDOW = 60.0  # seconds


def peer(conn: Any) -> str:
    """The address of a Starlette request or websocket ("?" when the server does not say)."""
    client = conn.client
    return client.host if client else "?"


@dataclass
class RateLimiter:
    """At most `limit` posts per address in any `window` seconds (a sliding window)."""

    window: float = RATE_WINDOW
    hits: dict[str, deque[float]] = field(default_factory=dict)
    _swept: float = 0.0

    def allow(self, key: str, limit: int, now: float) -> float | None:
        """None when allowed (and counted), else the seconds until the next is allowed."""
        self._sweep(now)
        times = self.hits.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= limit:
            return max(1.0, times[0] + self.window - now)
        times.append(now)
        return None

    async def check(self, key: str, limit: int, now: float) -> float | None:
        """`allow`, as the shared limiter is asked (a Redis round trip there)."""
        return self.allow(key, limit, now)

    def _sweep(self, now: float) -> None:
        """Forget addresses that have been quiet for a window (memory stays bounded)."""
        if now - self._swept < self.window:
            return
        self._swept = now
        for key in [k for k, t in self.hits.items() if not t or t[-1] <= now - self.window]:
            del self.hits[key]


# One sliding window per key, as a sorted set of the hits' times (its key expires a window
# after the last hit), checked and counted in one atomic step on the server.
_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return false
"""


class RedisRateLimiter:
    """`RateLimiter` in Redis, shared by the hub nodes (keys `PREFIX rate:NAME:KEY`). Times
    are the nodes' clocks since the epoch (`now` is not used: it is a monotonic clock)."""

    def __init__(self, client: Any, prefix: str, window: float = RATE_WINDOW) -> None:
        self.redis = client
        self.prefix = prefix
        self.window = window
        self._script = client.register_script(_WINDOW)

    async def check(self, key: str, limit: int, now: float) -> float | None:
        import time
        import uuid

        wall = time.time()
        oldest = await self._script(
            keys=[f"{self.prefix}{key}"], args=[wall, self.window, limit, uuid.uuid4().hex]
        )
        if oldest is None:
            return None
        return max(1.0, float(oldest) + self.window - wall)
