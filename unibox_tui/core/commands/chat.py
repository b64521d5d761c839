"""Chat commands: a visitor leaves their e-mail address, and chat transcripts.

Transcripts go through the one outbox: a transcript is an outgoing message on the chat's
conversation, sent by the e-mail channel of the chat channel's settings (`transcript_channel`)
or else the inbox's, to the visitor's address (the message's meta carries the address, so
`unibox conversations transcript ID --to ADDR` can send it anywhere). Agents see it in the
thread like any reply, with its delivery state. On close (`closing`, conversations.py) one is
queued automatically when the visitor's address is known, except for bot-only
conversations (no agent ever wrote) and conversations with a ticket (the ticket's e-mails
follow the customer instead), as the seeds say. The widget never shows it: it reads the
messages sent on the chat channel and the replies that continued the chat by e-mail.

A visitor who left: a reply to them goes by e-mail by itself (`left_visitor_email`, which
the reply command asks), from the same e-mail channel as the transcript.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from .. import clock
from ..answering import inbox_channel
from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..models import Agent, Channel, ContactIdentity, Conversation, Message, OutboxEntry
from ..validate import normalize_identity
from ._base import acting_on, activity

MAX_TRANSCRIPT_MESSAGES = 2_000


def _valid_address(address: str) -> str:
    from ...backends.form import _EMAIL

    address = normalize_identity("email", address or "")
    if not _EMAIL.match(address):
        raise InvalidRequest(f"{address[:80]!r} is not an e-mail address")
    return address


def visitor_email(
    ws: Workspace, channel_id: str, identity: str, address: str, *, now: datetime | None = None
) -> str:
    """The visitor with chat identity `identity` on `channel_id` left an e-mail address (the
    away message asks for one): it becomes their contact's e-mail identity when nobody else
    holds it, and is kept on their latest conversation, where replies by e-mail and the
    transcript go. Returns the conversation id. Raises InvalidRequest / NotFound."""
    address = _valid_address(address)
    with ws.write(now) as tx:
        conn = tx.session.connection()
        from ..chat import contact_of

        contact_id = contact_of(conn, identity)
        found = None
        if contact_id is not None:
            found = conn.exec_driver_sql(
                "SELECT id FROM conversation WHERE contact_id = ? AND channel_id = ? "
                "ORDER BY last_message_at DESC, rid DESC LIMIT 1",
                (contact_id, channel_id),
            ).scalar()
        if found is None:
            raise NotFound("write a message first, then leave your e-mail address")
        conversation = tx.get(Conversation, found, "conversation")
        holder = tx.find(ContactIdentity, kind="email", value=address)
        if holder is None:
            tx.stamp(
                ContactIdentity(
                    id=new_id(tx.now),
                    contact_id=conversation.contact_id,
                    kind="email",
                    value=address,
                )
            )
        meta = json.loads(conversation.meta or "{}")
        if meta.get("visitor_email") != address:
            meta["visitor_email"] = address
            conversation.meta = json.dumps(meta)
            tx.stamp(conversation)
            activity(tx, conversation, f"The visitor left their e-mail address {address}", None)
        return conversation.id


def transcript_text(tx: Tx, conv: Conversation) -> str:
    """The chat as plain text: the page it started on, then every visitor and agent message
    on the chat, and the replies that continued it by e-mail (no comments or activity
    lines), as the widget shows them (core/chat.py visitor_view)."""
    from ..chat import chat_context

    conn = tx.session.connection()
    channel = tx.get(Channel, conv.channel_id, "channel")
    context = chat_context(conn, conv.id)
    rows = conn.exec_driver_sql(
        "SELECT m.kind, m.body, m.created_at, a.name, ct.name, m.meta FROM message m "
        "LEFT JOIN agent a ON a.id = m.author_agent_id "
        "LEFT JOIN contact ct ON ct.id = m.author_contact_id "
        "WHERE m.conversation_id = ? AND (m.kind = 'incoming' OR (m.kind = 'outgoing' AND "
        "(m.channel_id = ? OR m.meta LIKE '%\"continued\":%'))) ORDER BY m.created_at, m.rid "
        "LIMIT ?",
        (conv.id, conv.channel_id, MAX_TRANSCRIPT_MESSAGES),
    ).all()
    started = conv.created_at
    lines = [f"Transcript of your chat with {channel.name}"]
    if started is not None:
        lines.append(f"Started {started:%Y-%m-%d %H:%M} UTC")
    lines.append(f"Started on the page: {context.get('started_on') or 'unknown'}")
    lines.append("")
    for kind, body, at, agent, _contact, meta in rows:
        when = clock.from_db(at)
        bot = (json.loads(meta or "{}") or {}).get("bot")
        if kind == "incoming":
            who = "You"
        else:
            who = (bot.get("name") if isinstance(bot, dict) else None) or agent or channel.name
        stamp = f"{when:%H:%M}" if when else ""
        lines.append(f"[{stamp}] {who}:")
        lines.extend(f"  {line}" for line in (body or "").splitlines() or [""])
    return "\n".join(lines).rstrip() + "\n"


def _transcript_channel(tx: Tx, conv: Conversation) -> Channel:
    """The e-mail channel a chat's e-mails go from: the one the chat channel's settings
    name (`transcript_channel`), else the inbox's."""
    chat = tx.get(Channel, conv.channel_id, "channel")
    wanted = json.loads(chat.settings or "{}").get("transcript_channel")
    channel = tx.find(Channel, id=wanted) if wanted else None
    if channel is None or channel.kind != "email":
        found = inbox_channel(tx.session.connection(), conv.inbox_id, "email")
        channel = tx.find(Channel, id=found) if found else None
    if channel is None:
        raise InvalidRequest(
            "the chat's inbox has no e-mail channel to send the transcript from; add one "
            "(`unibox channel add email --inbox ...`)"
        )
    return channel


def queue_transcript(
    tx: Tx,
    conv: Conversation,
    by: Agent | None,
    to: str,
    subject: str | None = None,
    id: str | None = None,
) -> str:
    """Write the transcript message and its outbox entry (in the caller's transaction)."""
    if conv.channel_kind != "chat":
        raise InvalidRequest("only chat conversations have a transcript")
    to = _valid_address(to)
    channel = _transcript_channel(tx, conv)
    subject = (subject or "").strip() or f"Transcript of your chat with {_chat_name(tx, conv)}"
    message = Message(
        id=id or new_id(tx.now),
        conversation_id=conv.id,
        kind="outgoing",
        author_agent_id=by.id if by else None,
        channel_id=channel.id,
        body=transcript_text(tx, conv),
        delivery_state="queued",
        meta=json.dumps({"transcript": {"to": to, "subject": subject[:300]}}),
        created_at=tx.now,
    )
    tx.stamp(message)
    tx.stamp(
        OutboxEntry(
            id=new_id(tx.now),
            message_id=message.id,
            channel_id=channel.id,
            next_attempt_at=tx.now,
            created_at=tx.now,
        )
    )
    activity(tx, conv, f"Transcript e-mailed to {to}", by)
    return message.id


def _chat_name(tx: Tx, conv: Conversation) -> str:
    return tx.get(Channel, conv.channel_id, "channel").name


def visitor_address(tx: Tx, conv: Conversation) -> str | None:
    """The visitor's known e-mail address: the one they left, else their contact's."""
    from ..chat import known_address

    tx.session.flush()  # the read sees what this transaction changed (stamped on flush)
    return known_address(tx.session.connection(), conv.id)


def left_visitor_email(tx: Tx, conv: Conversation) -> tuple[Channel, str] | None:
    """Where a reply to this chat goes when its visitor has left: (the e-mail channel, the
    visitor's address), or None (not a chat, not on a hub, the visitor is still here or
    left less than the channel's `left_after` ago, no address known, no e-mail channel).
    The reply command sends it that way by itself (issue 12: a visitor who closed the page
    still gets the answer, and their e-mail answer threads back: outbox.py)."""
    if conv.channel_kind != "chat" or tx.visitors is None:
        return None
    from ..chat import LEFT_AFTER_SECONDS, visitor_left

    chat = tx.get(Channel, conv.channel_id, "channel")
    seconds = json.loads(chat.settings or "{}").get("left_after", LEFT_AFTER_SECONDS)
    identities = list(
        tx.session.connection()
        .exec_driver_sql(
            "SELECT value FROM contact_identity WHERE contact_id = ? AND kind = 'chat'",
            (conv.contact_id,),
        )
        .scalars()
    )
    if not visitor_left(tx.visitors, identities, tx.now, timedelta(seconds=seconds)):
        return None
    address = visitor_address(tx, conv)
    if not address:
        return None
    try:
        return _transcript_channel(tx, conv), address
    except InvalidRequest:
        return None  # no e-mail channel: the reply stays in the chat


def transcript_on_close(tx: Tx, conv: Conversation, by: Agent | None) -> None:
    """Called as a chat conversation closes: queue its transcript when the rules allow."""
    if conv.channel_kind != "chat" or conv.ticket_id:
        return
    to = visitor_address(tx, conv)
    if not to:
        return
    conn = tx.session.connection()
    by_agent = conn.exec_driver_sql(
        "SELECT count(*) FROM message WHERE conversation_id = ? AND kind = 'outgoing' "
        "AND author_agent_id IS NOT NULL AND meta NOT LIKE '%\"transcript\"%' "
        "AND meta NOT LIKE '%\"bot\"%'",
        (conv.id,),
    ).scalar_one()
    if not by_agent:  # bot-only (or nobody answered): no transcript
        return
    try:
        queue_transcript(tx, conv, by, to)
    except InvalidRequest:
        pass  # no e-mail channel: closing must not fail for it


def email_transcript(
    ws: Workspace,
    conversation_id: str,
    to: str,
    *,
    actor: str,
    subject: str | None = None,
    now: datetime | None = None,
) -> str:
    """ "Email transcript" by hand, for any chat conversation the agent can act on."""
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        return queue_transcript(tx, conv, by, to, subject)
