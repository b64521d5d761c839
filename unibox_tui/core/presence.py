"""Who has an app connected to the hub, for routing's "only available agents".

An agent set to available who has closed every app is not there to answer: on a hub, an
agent with no connected app counts as away once `grace` has passed since their last app
went (a restart of the app or a network blip does not make them away).

Kept in the hub's memory, not in the database: presence is an ephemeral signal (DESIGN.md,
"never in the change log"), it changes on every connect, and only the hub's one writer
(where routing runs) asks. The hub makes one and hangs it on its Workspace
(`ws.presence`); every write transaction carries it (`tx.presence`). After a hub restart
everyone counts as last seen at the start, so apps have `grace` to reconnect. Embedded (no
hub) there is no Presence and availability alone decides.

The hub keeps a second one for website chat visitors, keyed by chat identity (the widgets
open: hub/chat_http.py), which tells whether a visitor has left (core/chat.py visitor_left).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from . import clock

AWAY_AFTER = timedelta(minutes=2)


class Presence:
    def __init__(self, grace: timedelta = AWAY_AFTER, started: datetime | None = None) -> None:
        self.grace = grace
        self.started = started or clock.utcnow()
        self._apps: dict[str, int] = {}  # agent id -> connected apps
        self._last_seen: dict[str, datetime] = {}  # agent id -> when their last app left
        self._elsewhere: set[str] = set()  # agents with an app on another hub node
        self._lock = threading.Lock()  # the event loop writes, the writer thread reads

    def connected(self, agent_id: str) -> None:
        with self._lock:
            self._apps[agent_id] = self._apps.get(agent_id, 0) + 1

    def disconnected(self, agent_id: str, now: datetime | None = None) -> None:
        with self._lock:
            left = self._apps.get(agent_id, 0) - 1
            if left > 0:
                self._apps[agent_id] = left
                return
            self._apps.pop(agent_id, None)
            self._last_seen[agent_id] = now or clock.utcnow()

    def elsewhere(self, agent_ids: set[str]) -> None:
        """The agents with an app connected to any node of the hub (several nodes: the hub
        reads them from Redis every few seconds, hub/signals.py): connected, as far as
        routing asks, though this node holds none of their apps."""
        with self._lock:
            now = clock.utcnow()
            for agent_id in self._elsewhere - agent_ids:
                if not self._apps.get(agent_id):
                    self._last_seen[agent_id] = now
            self._elsewhere = set(agent_ids)

    def is_connected(self, agent_id: str) -> bool:
        return self._apps.get(agent_id, 0) > 0 or agent_id in self._elsewhere

    def last_seen(self, agent_id: str) -> datetime | None:
        """When the agent's last app went (None while one is connected)."""
        with self._lock:
            if self._apps.get(agent_id) or agent_id in self._elsewhere:
                return None
            return self._last_seen.get(agent_id, self.started)

    def away(self, agent_id: str, now: datetime) -> bool:
        """No app connected for longer than the grace period."""
        seen = self.last_seen(agent_id)
        return seen is not None and now - seen > self.grace
