"""Slack notifications: what to post for each inbox, and the events, read after commit.

Per inbox an admin names where the Slack incoming-webhook URL comes from (`env:VAR`,
`file:PATH` or `keyring`, like a channel's password: unibox_tui/secrets.py) and which events
to post. That choice lives in the workspace setting `slack` ({inbox id: {"source", "events"}});
the URL itself never reaches the database, the config or a log.

The events are read from what commands already wrote, never from the ingest path: new
messages by rowid (append-only) and failed deliveries by change number, each after its
commit. `Cursor` says how far the reader got. The poster is unibox_tui/slack.py (run by the
engine, so by the hub too). Everything a customer or an agent wrote is escaped for Slack's
mrkdwn (`&`, `<`, `>`), so a name like `<!channel>` or `<https://x|click>` is shown as text
and can neither ping a channel nor forge a link.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .db import Workspace
from .text import one_line

SETTING = "slack"
EVENTS = ("new_conversation", "assigned", "mention", "failed_delivery")
EVENT_LABELS = {
    "new_conversation": "a new conversation",
    "assigned": "a conversation assigned to someone",
    "mention": "an agent @mentioned in a comment",
    "failed_delivery": "a reply that could not be delivered",
}


@dataclass(frozen=True)
class SlackConfig:
    inbox_id: str
    inbox: str
    source: str  # where the webhook URL comes from: env:VAR, file:PATH or keyring
    events: tuple[str, ...]

    @property
    def secret_name(self) -> str:
        """The keyring entry's name for a webhook stored there."""
        return f"slack:{self.inbox_id}"

    def to_json(self) -> dict[str, Any]:
        return {"inbox": self.inbox, "webhook": self.source, "events": list(self.events)}


def configs(ws: Workspace) -> list[SlackConfig]:
    """Every inbox's Slack settings, by inbox name."""
    stored = ws.setting(SETTING, {}) or {}
    with ws.read() as conn:
        names = dict(conn.exec_driver_sql("SELECT id, name FROM inbox").all())
    out = [
        SlackConfig(inbox_id, names[inbox_id], c["source"], tuple(c["events"]))
        for inbox_id, c in stored.items()
        if inbox_id in names
    ]
    return sorted(out, key=lambda c: c.inbox.lower())


def escape(text: str | None, limit: int = 300) -> str:
    """Text for Slack mrkdwn: one clean line, `&`, `<` and `>` as entities (Slack's own rule:
    only these three are control characters there)."""
    line = one_line(text, limit)
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Event:
    inbox_id: str
    kind: str  # one of EVENTS
    text: str  # mrkdwn, every dynamic part escaped


@dataclass(frozen=True)
class Cursor:
    message_rid: int  # messages after this rowid are new
    seq: int  # failed deliveries written after this change number are new


def start(ws: Workspace) -> Cursor:
    """Where a notifier that starts now begins: what is already stored is not news."""
    with ws.read() as conn:
        rid = conn.exec_driver_sql("SELECT coalesce(max(rid), 0) FROM message").scalar()
    return Cursor(int(rid or 0), ws.change_seq())


_MESSAGE = (
    "SELECT m.rid, m.kind, m.body, m.meta, m.delivery_error, c.inbox_id, i.name, "
    "c.channel_kind, c.subject, c.preview, t.name, a.name, m.conversation_id, m.seq "
    "FROM message m JOIN conversation c ON c.id = m.conversation_id "
    "JOIN inbox i ON i.id = c.inbox_id JOIN contact t ON t.id = c.contact_id "
    "LEFT JOIN agent a ON a.id = m.author_agent_id "
)


def collect(ws: Workspace, cursor: Cursor, limit: int = 500) -> tuple[list[Event], Cursor]:
    """The events since `cursor` (for inboxes with Slack settings), and the new cursor."""
    wanted = {c.inbox_id: set(c.events) for c in configs(ws)}
    if not wanted:  # nobody posts to Slack: nothing to read, only keep up
        return [], start(ws)
    events: list[Event] = []
    seq = ws.change_seq()
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            f"{_MESSAGE} WHERE m.rid > ? AND m.kind IN ('incoming', 'comment', 'activity') "
            "ORDER BY m.rid LIMIT ?",
            (cursor.message_rid, limit),
        ).all()
        last_rid = cursor.message_rid
        if len(rows) < limit:  # caught up: skip the rows of other kinds too
            last_rid = int(
                conn.exec_driver_sql("SELECT coalesce(max(rid), 0) FROM message").scalar() or 0
            )
        elif rows:
            last_rid = rows[-1][0]
            seq = cursor.seq  # not caught up: failures wait until the messages are
        handles = dict(conn.exec_driver_sql("SELECT id, name FROM agent").all())
        for row in rows:
            event = _event(conn, row, handles)
            if event is not None and event.kind in wanted.get(event.inbox_id, ()):
                events.append(event)
        if seq > cursor.seq:
            for row in conn.exec_driver_sql(
                f"{_MESSAGE} WHERE m.seq > ? AND m.seq <= ? AND m.delivery_state = 'failed' "
                "ORDER BY m.seq, m.rid",
                (cursor.seq, seq),
            ).all():
                if "failed_delivery" in wanted.get(row[5], ()):
                    events.append(_failed(row))
    return events, Cursor(max(last_rid, cursor.message_rid), max(seq, cursor.seq))


def _where(row: Any) -> str:
    """`Support · email · "subject"` for a message row of _MESSAGE."""
    topic = row[8] or row[9]
    return f"{escape(row[6], 80)} · {row[7]} · “{escape(topic, 120)}”"


def _event(conn: Any, row: Any, agents: dict[str, str]) -> Event | None:
    rid, kind, body, meta_json = row[0], row[1], row[2], row[3]
    inbox_id, contact, author = row[5], row[10], row[11]
    if kind == "incoming":
        first = conn.exec_driver_sql(
            "SELECT 1 FROM message WHERE conversation_id = ? AND rid < ? LIMIT 1", (row[12], rid)
        ).first()
        if first is not None:
            return None
        text = f"*New conversation* from {escape(contact, 80)}: {_where(row)}"
        return Event(inbox_id, "new_conversation", text)
    meta = json.loads(meta_json or "{}")
    if kind == "activity" and meta.get("event") == "assigned":
        who = agents.get(meta.get("assignee", ""), "someone")
        by = f" by {escape(author, 80)}" if author and author != who else ""
        text = f"*Assigned to {escape(who, 80)}*{by}: {_where(row)} ({escape(contact, 80)})"
        return Event(inbox_id, "assigned", text)
    if kind == "comment" and meta.get("mentions"):
        handles = ", ".join("@" + escape(h, 40) for h in meta["mentions"])
        text = f"*{escape(author or 'Someone', 80)} mentioned {handles}* in {_where(row)}: "
        return Event(inbox_id, "mention", text + escape(body, 200))
    return None


def _failed(row: Any) -> Event:
    reason = escape(row[4] or "no reason given", 160)
    text = f"*A reply could not be delivered* to {escape(row[10], 80)}: {_where(row)}: {reason}"
    return Event(row[5], "failed_delivery", text)
