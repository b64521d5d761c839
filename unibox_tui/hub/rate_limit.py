"""What the hub's public endpoints share to refuse a flood: who is asking, and a sliding
window of how often they asked (in memory, per node: a restart forgets, which is fine for
abuse limits; several nodes share theirs through Redis, issue 11)."""

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

    def _sweep(self, now: float) -> None:
        """Forget addresses that have been quiet for a window (memory stays bounded)."""
        if now - self._swept < self.window:
            return
        self._swept = now
        for key in [k for k, t in self.hits.items() if not t or t[-1] <= now - self.window]:
            del self.hits[key]
