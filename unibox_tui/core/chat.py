"""Reads for the website chat: what a visitor may see of their own conversation, whether
anyone can answer now, and the transcript of a chat. Read-only (commands write); every
visitor read starts from the visitor's identity, never from an id the visitor sent, so a
visitor can only ever read conversations of their own contact on their own channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import clock
from .db import Workspace

MAX_MESSAGES = 200  # a visitor's view of one conversation: the latest this many
# A visitor with no widget open for this long has left: a reply to them goes by e-mail
# (commands/chat.py `left_visitor_email`). Not at once: moving to another page of the site
# closes the widget and opens it again a moment later. A chat channel's `left_after` setting.
LEFT_AFTER_SECONDS = 10
MAX_LEFT_AFTER = 3600


@dataclass(frozen=True)
class ChatChannelRow:
    id: str
    name: str
    inbox_id: str
    enabled: bool
    settings: dict[str, Any]


def chat_channel(ws: Workspace, channel_id: str) -> ChatChannelRow | None:
    """The chat channel `channel_id`, or None (no such channel, or not a chat)."""
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT id, name, inbox_id, enabled, settings FROM channel WHERE id = ? AND kind = 'chat'",
            (channel_id,),
        ).first()
    if row is None:
        return None
    return ChatChannelRow(row[0], row[1], row[2], bool(row[3]), json.loads(row[4] or "{}"))


def contact_of(conn: Any, identity: str) -> str | None:
    """The contact holding the chat identity (following merges), or None before the
    visitor's first message."""
    row = conn.exec_driver_sql(
        "SELECT contact_id FROM contact_identity WHERE kind = 'chat' AND value = ?", (identity,)
    ).first()
    if row is None:
        return None
    contact_id, seen = row[0], set()
    while contact_id not in seen:
        seen.add(contact_id)
        merged = conn.exec_driver_sql(
            "SELECT merged_into_id FROM contact WHERE id = ?", (contact_id,)
        ).scalar()
        if not merged:
            break
        contact_id = merged
    return str(contact_id)


def visitor_left(
    visitors: Any, identities: list[str], now: datetime, left_after: timedelta
) -> bool:
    """Has the visitor left? None of their chat identities has a widget open on the hub
    (`visitors`: the hub's Presence of visitors, keyed by identity; an identity it never saw
    counts as gone since the hub started), and the last one closed at least `left_after`
    ago. False when nothing is known (no identity)."""
    if not identities:
        return False
    seen = [visitors.last_seen(i) for i in identities]
    if any(s is None for s in seen):
        return False  # a widget is open
    return bool(now - max(seen) >= left_after)


def known_address(conn: Any, conversation_id: str) -> str | None:
    """The chat visitor's e-mail address, if known: the one they left on this conversation
    (the away form), else their contact's (a bot's question, the contact record). Replies
    by e-mail and the transcript go there. `conn`: anything with `exec_driver_sql`."""
    row = conn.exec_driver_sql(
        "SELECT meta, contact_id FROM conversation WHERE id = ?", (conversation_id,)
    ).first()
    if row is None:
        return None
    left = json.loads(row[0] or "{}").get("visitor_email")
    if left:
        return str(left)
    found = conn.exec_driver_sql(
        "SELECT value FROM contact_identity WHERE contact_id = ? AND kind = 'email' "
        "ORDER BY rowid LIMIT 1",
        (row[1],),
    ).scalar()
    return str(found) if found else None


def agents_available(ws: Workspace, inbox_id: str, now: datetime | None = None) -> bool:
    """Can anyone answer a chat in this inbox now? The inbox is within its business hours
    (core/hours.py, in the inbox's time zone), and an active agent who may see the inbox is
    "available" (on a hub: with an app connected, or gone for less than the grace period,
    as routing counts them: core/presence.py). False: the widget shows the away message
    asking for an e-mail address."""
    from . import access
    from .routing import inbox_open_now

    now = now or clock.utcnow()
    if not inbox_open_now(ws, inbox_id, now):
        return False
    presence = getattr(ws, "presence", None)
    with ws.read() as conn:
        agents = conn.exec_driver_sql(
            "SELECT id FROM agent WHERE active = 1 AND availability = 'available'"
        ).scalars()
        return any(
            access.for_agent(conn, a).can_see(inbox_id)
            and not (presence is not None and presence.away(a, now))
            for a in agents
        )


def visitor_view(
    ws: Workspace,
    channel_id: str,
    identity: str,
    since: int = 0,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """The visitor's current conversation on the channel (their latest, or
    `conversation_id` when it is theirs) and its messages changed after change `since`, as
    the widget reads them; `cursor` is where the next call starts. Replies that continued
    the chat by e-mail (meta `continued`: the visitor had left, or the agent chose e-mail)
    are included, marked `"via": "email"`; comments, activity lines, transcripts and
    forwards never are."""
    with ws.read() as conn:
        contact_id = contact_of(conn, identity)
        out: dict[str, Any] = {"conversation": None, "messages": [], "cursor": since}
        if contact_id is None:
            return out
        where = "c.contact_id = ? AND c.channel_id = ?"
        params: tuple[Any, ...] = (contact_id, channel_id)
        if conversation_id:
            where += " AND c.id = ?"
            params += (conversation_id,)
        conv = conn.exec_driver_sql(
            "SELECT c.id, c.status, c.unread, c.seq, a.name, c.created_at FROM conversation c "
            f"LEFT JOIN agent a ON a.id = c.assignee_id WHERE {where} "
            "ORDER BY c.last_message_at DESC, c.rid DESC LIMIT 1",
            params,
        ).first()
        if conv is None:
            return out
        rows = conn.exec_driver_sql(
            "SELECT m.id, m.kind, m.body, m.external_id, m.delivery_state, m.meta, m.created_at, "
            "m.seq, coalesce(a.name, m.author_bot), "
            "(SELECT count(*) FROM attachment t WHERE t.message_id = m.id), m.channel_id "
            "FROM message m LEFT JOIN agent a ON a.id = m.author_agent_id "
            "WHERE m.conversation_id = ? AND m.seq > ? AND (m.kind = 'incoming' OR "
            "(m.kind = 'outgoing' AND (m.channel_id = ? OR m.meta LIKE '%\"continued\":%'))) "
            "ORDER BY m.created_at DESC, m.rid DESC LIMIT ?",
            (conv[0], since, channel_id, MAX_MESSAGES),
        ).all()
    cursor = max([since, conv[3], *(r[7] for r in rows)])
    messages = []
    for r in reversed(rows):
        meta = json.loads(r[5] or "{}")
        item: dict[str, Any] = {
            "id": r[0],
            "from": "visitor" if r[1] == "incoming" else "agent",
            "text": r[2],
            "at": clock.to_db(clock.from_db(r[6])),
            "files": r[9],
        }
        if r[1] == "incoming":
            external = r[3] or ""
            item["client_id"] = external.removeprefix("chat:")
        else:
            bot = meta.get("bot")
            item["author"] = (bot.get("name") if isinstance(bot, dict) else None) or r[8] or ""
            item["state"] = r[4] or "queued"
            if r[10] != channel_id:
                item["via"] = "email"  # continued by e-mail: the widget says so
            for key in ("quick_replies", "card"):  # a bot's buttons and cards (chatflows)
                if key in meta:
                    item[key] = meta[key]
        messages.append(item)
    out["conversation"] = {
        "id": conv[0],
        "status": conv[1],
        "seen": not conv[2],
        "agent": conv[4] or "",
    }
    out["messages"] = messages
    out["cursor"] = cursor
    return out


@dataclass
class ChatChange:
    """A contact whose chat conversations changed: the newest change, and their chat
    identities."""

    seq: int
    identities: set[str]


def chats_changed(ws: Workspace, since: int) -> dict[str, ChatChange]:
    """The contacts whose chat conversations (or their messages) changed after change
    `since`, by contact id (for pokes: a visitor is found by their contact, or by their
    identity before the hub knew their contact). One read whatever the number of visitors
    connected: it is bounded by what changed, on the seq indexes."""
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "WITH changed(contact_id, seq) AS ("
            # `+`: walk the seq indexes (what changed), never every chat conversation.
            "SELECT contact_id, seq FROM conversation WHERE seq > ? AND +channel_kind = 'chat' "
            "UNION ALL SELECT c.contact_id, m.seq FROM message m JOIN conversation c "
            "ON c.id = m.conversation_id WHERE m.seq > ? AND +c.channel_kind = 'chat'), "
            "top(contact_id, seq) AS (SELECT contact_id, max(seq) FROM changed GROUP BY 1) "
            "SELECT top.contact_id, top.seq, i.value FROM top LEFT JOIN contact_identity i "
            "ON i.contact_id = top.contact_id AND i.kind = 'chat'",
            (since, since),
        ).all()
    out: dict[str, ChatChange] = {}
    for contact_id, seq, identity in rows:
        found = out.setdefault(contact_id, ChatChange(int(seq), set()))
        if identity:
            found.identities.add(identity)
    return out


def conversation_of(ws: Workspace, contact_id: str, channel_id: str) -> tuple[str, str] | None:
    """(id, inbox id) of the contact's latest conversation on the channel."""
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT id, inbox_id FROM conversation WHERE contact_id = ? AND channel_id = ? "
            "ORDER BY last_message_at DESC, rid DESC LIMIT 1",
            (contact_id, channel_id),
        ).first()
    return (row[0], row[1]) if row else None


def chat_context(conn: Any, conversation_id: str) -> dict[str, Any]:
    """What the widget said about the visitor's page: the first and the latest."""
    rows = conn.exec_driver_sql(
        "SELECT meta FROM message WHERE conversation_id = ? AND kind = 'incoming' "
        "AND meta LIKE '%\"chat\"%' ORDER BY created_at, rid",
        (conversation_id,),
    ).all()
    contexts = [json.loads(r[0] or "{}").get("chat") or {} for r in rows]
    contexts = [c for c in contexts if isinstance(c, dict)]
    if not contexts:
        return {}
    first, latest = contexts[0], contexts[-1]
    pages = list(dict.fromkeys(c["page"] for c in contexts if c.get("page")))
    return {**latest, "started_on": first.get("page"), "pages": pages}
