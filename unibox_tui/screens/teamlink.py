"""The TUI's side of a team hub (sync/client.py does the syncing): the connection state and
queue length for the list header, teammates' presence, "Ana is viewing / typing a reply" for
the thread header, and the hub's rejections of the agent's commands as error toasts.

The hub client calls back on its own threads; everything here crosses to the UI thread with
`call_from_thread` and keeps plain data the screens read when they redraw."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..core.text import one_line

if TYPE_CHECKING:
    from ..app import UniboxApp
    from ..sync.client import HubClient, Status

SIGNAL_EVERY = 3.0  # seconds between repeats of "viewing"/"typing" (the hub expires them)
SHOWN_FOR = 8.0  # a teammate's signal shows this long after it was last heard
DOING = {
    "typing": "is typing a reply",
    "commenting": "is writing a comment",
    "viewing": "is viewing",
}


class TeamLink:
    def __init__(self, app: UniboxApp, client: HubClient) -> None:
        self.app = app
        self.client = client
        self.state = client.status()
        # conversation id -> {agent id: (kind, shown until)}
        self.activity: dict[str, dict[str, tuple[str, float]]] = {}
        self._sent: dict[tuple[str, str, bool], float] = {}  # (kind, conversation, private)
        self._viewing: str | None = None
        from .chatlink import VisitorSignals

        self.visitors = VisitorSignals()  # website chat visitors' typing and presence
        if self.state.state == "connected":
            self.visitors.seed(client.visitors_here)
        client.on_status = lambda status: self._later(self._status, status)
        client.on_pulled = app.changed_elsewhere
        client.on_signal_batch = lambda items: self._later(self._signal_batch, items)
        client.on_rejected = lambda error, name, args: self._later(
            self._rejected, error, name, args
        )

    def _later(self, fn: Any, *args: Any) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except Exception:
            pass

    # ---------------------------------------------------------------- from the hub

    def _status(self, status: Status) -> None:
        changed = status.text() != self.state.text()
        if status.state == "connected" and self.state.state != "connected":
            self.visitors.seed(self.client.visitors_here)  # who is on the page, as of hello
            if changed:
                screen_changed = getattr(self.app.screen, "visitor_changed", None)
                row = getattr(self.app.screen, "thread_row", None)
                if screen_changed is not None and row is not None:
                    screen_changed(row.id)
        self.state = status
        if status.state == "signed-out":
            self.app.notify(
                one_line(status.detail or "signed out by the hub", 200),
                title="Hub",
                severity="error",
                markup=False,
                timeout=15,
            )
        if changed:
            self.app.refresh_headers()

    def _signal_batch(self, items: list[dict[str, Any]]) -> None:
        """Signals the hub sent together, taken in one turn of the UI thread."""
        for data in items:
            self._signals(data)

    def _signals(self, data: dict[str, Any]) -> None:
        visitor = data.get("visitor")
        if isinstance(visitor, dict) and self.visitors.heard(visitor):
            self.app.refresh_headers()
            changed = getattr(self.app.screen, "visitor_changed", None)
            if changed is not None:
                changed(str(visitor.get("conversation_id")))
        activity = data.get("activity")
        if isinstance(activity, dict) and isinstance(activity.get("agents"), dict):
            until = time.monotonic() + SHOWN_FOR
            me = self.app.me_id
            self.activity[str(activity.get("conversation_id"))] = {
                str(a): (str(kind), until) for a, kind in activity["agents"].items() if a != me
            }
            self.app.refresh_headers()

    def _rejected(self, error: str, name: str, args: dict[str, Any]) -> None:
        from .stale import refused_by_hub

        if refused_by_hub(self.app, error, name, args):
            self.app.poll_changes()
            return
        self.app.notify(
            one_line(error, 300),
            title="The hub refused your last change (undone)",
            severity="error",
            markup=False,
            timeout=10,
        )
        self.app.poll_changes()

    # ---------------------------------------------------------------- to the hub

    def _send(self, kind: str, conversation_id: str, **fields: object) -> None:
        now = time.monotonic()
        # A comment's typing is repeated apart from a reply's: switching from one to the
        # other within SIGNAL_EVERY is news (teammates, and a chat's visitor, see the reply).
        key = (kind, conversation_id, bool(fields.get("private")))
        if now - self._sent.get(key, 0.0) < SIGNAL_EVERY:
            return
        self._sent[key] = now
        self.client.signal(kind, conversation_id=conversation_id, **fields)

    def viewing(self, conversation_id: str) -> None:
        if self._viewing not in (None, conversation_id):  # moved on: teammates stop seeing it
            self.client.signal("left", conversation_id=self._viewing)
            self._sent.pop(("viewing", self._viewing, False), None)
        self._viewing = conversation_id
        self._send("viewing", conversation_id)

    def idle(self, conversation_id: str) -> None:
        """The reply or comment was sent or put away: teammates (and a chat's visitor) stop
        seeing it being written now, not when the last typing signal expires."""
        for private in (False, True):
            if self._sent.pop(("typing", conversation_id, private), None) is not None:
                self.client.signal("idle", conversation_id=conversation_id)
                return

    def typing(self, conversation_id: str, private: bool = False) -> None:
        """`private`: an internal comment (a chat visitor never sees that one typed)."""
        self._send("typing", conversation_id, **({"private": True} if private else {}))

    # ---------------------------------------------------------------- for the screens

    def header(self) -> Text:
        """` · hub: connected` / reconnecting / offline, with the queue length."""
        style = "dim" if self.state.state == "connected" else "bold red"
        text = Text(f"  hub: {self.state.text()}", style=style)
        progress = self.client.progress()
        if progress is not None:  # a first sync: the newest conversations show already
            filled = int(progress * 10)
            text.append(
                f"  syncing {'█' * filled}{'░' * (10 - filled)} {progress:.0%}", style="dim"
            )
        return text

    def expire(self) -> bool:
        """Forget teammates' signals that ran out; True when one did (the header changes)."""
        now = time.monotonic()
        dropped = self.visitors.expire()
        for conversation_id, agents in list(self.activity.items()):
            live = {a: v for a, v in agents.items() if v[1] > now}
            if len(live) != len(agents):
                dropped = True
                if live:
                    self.activity[conversation_id] = live
                else:
                    del self.activity[conversation_id]
        return dropped

    def activity_text(self, conversation_id: str) -> Text | None:
        """ "Ana is viewing", "Bo is typing a reply", "Cy is writing a comment" (and "Visitor
        is typing…" on a website chat) for a conversation, if anyone is."""
        now = time.monotonic()
        agents = {
            a: kind
            for a, (kind, until) in self.activity.get(conversation_id, {}).items()
            if until > now
        }
        visitor = self.visitors.typing_text(conversation_id)
        if not agents:
            return visitor
        names = self.app.agent_names()
        parts = []
        for agent_id, kind in sorted(agents.items(), key=lambda item: names.get(item[0], "")):
            name = names.get(agent_id, "someone")
            parts.append(f"{name} {DOING.get(kind, 'is viewing')}")
        text = Text(" · ".join(parts), style="italic yellow")
        if visitor is not None:
            text = visitor.append(" · ").append_text(text)
        return text

    def presence(self, agent_id: str) -> str:
        """online | away | offline, as the hub last said."""
        return self.client.presence.get(agent_id, "offline")
