"""What agents do to a conversation: reply, comment, assign, close, reopen, snooze, read, move.

Every command writes an activity line to the thread (except replies, comments and read
marks, which are their own record) and keeps the timestamps reports need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select

from ..changes import resend_conversation
from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..mentions import mentioned_handles
from ..models import REPLY_IDENTITY, Agent, Channel, Conversation, Message, OutboxEntry, Ticket
from ..text import one_line
from ._base import (
    acting_on,
    activity,
    agent_ref,
    can_access,
    conversation,
    future,
    inbox_ref,
    notify,
    require_access,
    require_text,
    team_ref,
)
from .contacts import identities_of


@dataclass
class CommentResult:
    message_id: str
    mentioned: list[str] = field(default_factory=list)  # handles that were notified
    unknown: list[str] = field(default_factory=list)  # @words that are no agent: left as text
    no_access: list[str] = field(default_factory=list)  # agents who may not see this inbox


def _reply_channel(tx: Tx, conv: Conversation, via_channel_id: str | None) -> Channel:
    if via_channel_id:
        channel = tx.get(Channel, via_channel_id, "channel")
    else:
        channel = tx.get(Channel, conv.channel_id, "channel")
    if channel.kind == "form":
        # Forms cannot answer: the inbox's e-mail channel does.
        channel = tx.session.exec(
            select(Channel)
            .where(Channel.inbox_id == conv.inbox_id, Channel.kind == "email")
            .order_by(Channel.enabled.desc())  # type: ignore[attr-defined]
        ).first()
        if channel is None:
            raise InvalidRequest(
                "this inbox has no e-mail channel to answer a form; add one with "
                "`unibox channel add email`"
            )
    return channel


def reply(
    ws: Workspace,
    conversation_id: str,
    text: str,
    *,
    actor: str,
    html: str | None = None,
    via_channel_id: str | None = None,
    id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Queue a reply to the customer on the conversation's channel (or `via_channel_id`, e.g.
    "continue by e-mail"). The message and its outbox entry are written together; the engine
    delivers it. Re-sending with the same `id` is a no-op (offline clients retry safely)."""
    require_text(text, "reply")
    with ws.write(now) as tx:
        if id and tx.find(Message, id=id):
            return id
        conv, author = acting_on(tx, conversation_id, actor)
        channel = _reply_channel(tx, conv, via_channel_id)
        wanted = REPLY_IDENTITY[channel.kind]
        if not any(i.kind == wanted for i in identities_of(tx, conv.contact_id)):
            raise InvalidRequest(
                f"the contact has no {wanted} identity, so a reply cannot go out by {channel.kind}"
            )
        message = Message(
            id=id or new_id(tx.now),
            conversation_id=conv.id,
            kind="outgoing",
            author_agent_id=author.id,
            channel_id=channel.id,
            body=text,
            body_html=html,
            delivery_state="queued",
            created_at=tx.now,
        )
        tx.stamp(message)
        entry = OutboxEntry(
            id=new_id(tx.now),
            message_id=message.id,
            channel_id=channel.id,
            next_attempt_at=tx.now,
            created_at=tx.now,
        )
        tx.stamp(entry)
        if via_channel_id and channel.id != conv.channel_id:
            activity(
                tx, conv, f"{author.name} continued this conversation by {channel.kind}", author
            )
        if conv.last_message_at is None or tx.now >= conv.last_message_at:
            conv.last_message_at = tx.now
            conv.preview = one_line(text)
        conv.waiting = False
        conv.unread = False
        conv.message_count += 1
        if conv.first_response_at is None:
            conv.first_response_at = tx.now
        tx.stamp(conv)
        return message.id


def comment(
    ws: Workspace,
    conversation_id: str,
    text: str,
    *,
    actor: str,
    id: str | None = None,
    now: datetime | None = None,
) -> CommentResult:
    """An internal note, never sent to the customer. Each `@handle` of a teammate gets a
    notification; `@words` that are no agent stay plain text."""
    require_text(text, "comment")
    with ws.write(now) as tx:
        if id and tx.find(Message, id=id):
            return CommentResult(id)
        conv, author = acting_on(tx, conversation_id, actor)
        message = Message(
            id=id or new_id(tx.now),
            conversation_id=conv.id,
            kind="comment",
            author_agent_id=author.id,
            body=text,
            created_at=tx.now,
        )
        tx.stamp(message)
        conv.message_count += 1
        tx.stamp(conv)
        result = CommentResult(message.id)
        for handle in mentioned_handles(text):
            agent = tx.find(Agent, handle=handle)
            if agent is None:
                result.unknown.append(handle)
                continue
            if not can_access(tx, agent, inbox_ref(tx, conv.inbox_id)):
                # A mention must not leak a restricted inbox to someone outside it.
                result.no_access.append(handle)
                continue
            result.mentioned.append(handle)
            if agent.id != author.id:
                label = conv.subject or conv.preview
                notify(
                    tx,
                    agent,
                    "mention",
                    f"{author.name} mentioned you: {label}",
                    conv=conv,
                    message=message,
                    actor=author,
                )
        if result.mentioned:
            message.meta = json.dumps({"mentions": result.mentioned})
        return result


def assign(
    ws: Workspace,
    conversation_id: str,
    agent: str | None,
    *,
    actor: str,
    now: datetime | None = None,
) -> bool:
    """Assign to an agent (id or handle), or unassign with None. False if nothing changed."""
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        if agent is None:
            if conv.assignee_id is None:
                return False
            conv.assignee_id = None
            activity(tx, conv, f"{by.name} unassigned this", by)
            return True
        target = agent_ref(tx, agent)
        require_access(tx, target, inbox_ref(tx, conv.inbox_id))
        if conv.assignee_id == target.id:
            return False
        conv.assignee_id = target.id
        text = (
            f"{by.name} took this"
            if target.id == by.id
            else f"{by.name} assigned this to {target.name}"
        )
        activity(tx, conv, text, by)
        if target.id != by.id:
            notify(
                tx,
                target,
                "assigned",
                f"{by.name} assigned you: {conv.subject or conv.preview}",
                conv=conv,
                actor=by,
            )
        return True


def assign_team(
    ws: Workspace,
    conversation_id: str,
    team: str | None,
    *,
    actor: str,
    now: datetime | None = None,
) -> bool:
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        target = team_ref(tx, team) if team else None
        if conv.team_id == (target.id if target else None):
            return False
        conv.team_id = target.id if target else None
        text = (
            f"{by.name} assigned this to team {target.name}"
            if target
            else f"{by.name} removed the team"
        )
        activity(tx, conv, text, by)
        return True


def close(
    ws: Workspace,
    conversation_id: str,
    *,
    actor: str,
    close_ticket: bool = False,
    now: datetime | None = None,
) -> bool:
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        changed = False
        if conv.status != "closed":
            conv.status, conv.closed_at, conv.snoozed_until = "closed", tx.now, None
            conv.waiting = False
            activity(tx, conv, f"{by.name} closed this", by)
            changed = True
        if close_ticket and conv.ticket_id:
            ticket = tx.get(Ticket, conv.ticket_id, "ticket")
            if ticket.status != "closed":
                ticket.status, ticket.closed_at = "closed", tx.now
                tx.stamp(ticket)
                activity(tx, conv, f"{by.name} closed ticket #{ticket.number}", by)
                changed = True
        return changed


def reopen(ws: Workspace, conversation_id: str, *, actor: str, now: datetime | None = None) -> bool:
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        if conv.status == "open":
            return False
        conv.status, conv.closed_at, conv.snoozed_until = "open", None, None
        activity(tx, conv, f"{by.name} reopened this", by)
        return True


def snooze(
    ws: Workspace,
    conversation_id: str,
    until: datetime,
    *,
    actor: str,
    now: datetime | None = None,
) -> bool:
    with ws.write(now) as tx:
        future(until, tx.now, "snooze time")
        conv, by = acting_on(tx, conversation_id, actor)
        if conv.status == "snoozed" and conv.snoozed_until == until:
            return False
        conv.status, conv.snoozed_until, conv.closed_at = "snoozed", until, None
        activity(tx, conv, f"{by.name} snoozed this until {until:%a %d %b %H:%M} UTC", by)
        return True


def wake_due(ws: Workspace, *, now: datetime | None = None) -> list[str]:
    """Reopen every conversation whose snooze has ended; returns their ids."""
    with ws.write(now) as tx:
        due = tx.session.exec(
            select(Conversation)
            .where(Conversation.status == "snoozed")
            .where(Conversation.snoozed_until <= tx.now)  # type: ignore[operator]
        ).all()
        for conv in due:
            conv.status, conv.snoozed_until, conv.unread = "open", None, True
            activity(tx, conv, "Snooze ended", None)
        return [c.id for c in due]


def mark_read(
    ws: Workspace, conversation_id: str, read: bool = True, *, now: datetime | None = None
) -> bool:
    with ws.write(now) as tx:
        conv = conversation(tx, conversation_id)
        if conv.unread == (not read):
            return False
        conv.unread = not read
        tx.stamp(conv)
        return True


def move_inbox(
    ws: Workspace, conversation_id: str, inbox: str, *, actor: str, now: datetime | None = None
) -> bool:
    """Move to another inbox. An assignee without access there is unassigned (and told so)."""
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        target = inbox_ref(tx, inbox)
        require_access(tx, by, target)
        if conv.inbox_id == target.id:
            return False
        conv.inbox_id = target.id
        activity(tx, conv, f"{by.name} moved this to {target.name}", by)
        tx.session.flush()  # the new inbox_id, before its rows are sent again
        resend_conversation(tx.session.connection().exec_driver_sql, conv.id, tx.seq)
        if conv.assignee_id:
            assignee = agent_ref(tx, conv.assignee_id)
            if not can_access(tx, assignee, target):
                conv.assignee_id = None
                activity(
                    tx, conv, f"{assignee.name} has no access to {target.name}: unassigned", by
                )
        return True
