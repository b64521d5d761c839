"""Forward one message, or a whole conversation, to an e-mail address (a colleague outside
the team, a supplier): an outgoing e-mail from the inbox's e-mail channel, with the
forwarded text and files, kept in the thread like a reply but not threaded on the
customer's messages and not counted as an answer to them.
"""

from __future__ import annotations

import json
from datetime import datetime

from .. import clock
from ..answering import inbox_channel
from ..composing import MAX_ADDRESSES, forwarded, parse_addresses
from ..db import Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import Attachment, Channel, Message, OutboxEntry
from ._base import acting_on, activity


def forward(
    ws: Workspace,
    conversation_id: str,
    to: list[str],
    *,
    actor: str,
    message_id: str | None = None,
    note: str | None = None,
    cc: list[str] | None = None,
    id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Forward the conversation (or one of its messages, `message_id`) by e-mail to `to`, with
    an optional `note` above it. Returns the new outgoing message's id."""
    addresses = parse_addresses(to, "To")
    copies = parse_addresses(cc, "Cc")
    if not addresses:
        raise InvalidRequest("forward to whom? give an address with --to")
    if len(addresses) + len(copies) > MAX_ADDRESSES:
        raise InvalidRequest(f"at most {MAX_ADDRESSES} addresses in one forward")
    with ws.write(now) as tx:
        if id and tx.find(Message, id=id):
            return id
        conv, author = acting_on(tx, conversation_id, actor)
        conn = tx.session.connection()
        channel_id = inbox_channel(conn, conv.inbox_id, "email")
        if channel_id is None:
            raise InvalidRequest(
                "this inbox has no e-mail channel to forward from; add one with "
                "`unibox channel add email`"
            )
        channel = tx.get(Channel, channel_id, "channel")
        sql = (
            "SELECT m.id, m.body, coalesce(a.name, ct.name, ''), "
            "coalesce(a.email, (SELECT value FROM contact_identity i WHERE "
            "i.contact_id = m.author_contact_id AND i.kind = 'email' ORDER BY rowid LIMIT 1)), "
            "m.created_at FROM message m "
            "LEFT JOIN agent a ON a.id = m.author_agent_id "
            "LEFT JOIN contact ct ON ct.id = m.author_contact_id "
            "WHERE m.conversation_id = ? AND m.kind IN ('incoming', 'outgoing') "
            "AND m.meta NOT LIKE '%\"forward\"%'"
        )
        params: tuple = (conv.id,)
        if message_id:
            sql += " AND m.id = ?"
            params += (message_id,)
        rows = conn.exec_driver_sql(
            sql + " ORDER BY m.created_at, coalesce(m.ord, m.rid)", params
        ).all()
        if not rows:
            raise InvalidRequest(
                "that message is not in this conversation"
                if message_id
                else "this conversation has no message to forward"
            )
        parts = [forwarded(r[1] or "", r[2], r[3], clock.from_db(r[4]), conv.subject) for r in rows]
        body = "\n\n".join(([note.strip()] if note and note.strip() else []) + parts)
        message = Message(
            id=id or new_id(tx.now),
            conversation_id=conv.id,
            kind="outgoing",
            author_agent_id=author.id,
            channel_id=channel.id,
            body=body,
            delivery_state="queued",
            meta=json.dumps({"to": addresses, "cc": copies, "forward": {"message_id": message_id}}),
            created_at=tx.now,
        )
        tx.stamp(message)
        # The forwarded messages' files go along (the stored ones).
        marks = ",".join("?" * len(rows))
        for name, ctype, data in conn.exec_driver_sql(
            f"SELECT filename, content_type, data FROM attachment WHERE message_id IN ({marks}) "
            "AND data IS NOT NULL ORDER BY seq",
            tuple(r[0] for r in rows),
        ).all():
            tx.stamp(
                Attachment(
                    id=new_id(tx.now),
                    message_id=message.id,
                    filename=name,
                    content_type=ctype,
                    size=len(data),
                    data=data,
                )
            )
        tx.stamp(
            OutboxEntry(
                id=new_id(tx.now),
                message_id=message.id,
                channel_id=channel.id,
                next_attempt_at=tx.now,
                created_at=tx.now,
            )
        )
        what = "a message" if message_id else "this conversation"
        activity(tx, conv, f"{author.name} forwarded {what} to {', '.join(addresses)}", author)
        conv.message_count += 1
        tx.stamp(conv)
        return message.id
