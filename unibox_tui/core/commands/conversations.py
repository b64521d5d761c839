"""What agents do to a conversation: reply, comment, assign, close, reopen, snooze, read, move.

Every command writes an activity line to the thread (except replies, comments and read
marks, which are their own record) and keeps the timestamps reports need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import select

from .. import clock
from ..answering import answering_kind, inbox_channel
from ..changes import resend_conversation
from ..composing import MAX_ADDRESSES, MailFields, decode_files, parse_addresses, quoted
from ..db import Tx, Workspace
from ..errors import InvalidRequest, Stale
from ..ids import new_id
from ..mentions import mentioned_handles
from ..models import (
    REPLY_IDENTITY,
    Agent,
    Attachment,
    Channel,
    Conversation,
    Message,
    OutboxEntry,
    Ticket,
)
from ..text import one_line
from ._base import (
    ConvHead,
    acting_on,
    activity,
    add_message,
    agent_ref,
    can_access,
    future,
    head_acting_on,
    head_seen_by,
    inbox_ref,
    known_new_message,
    notify,
    require_access,
    require_text,
    set_conversation,
    team_ref,
)
from .drafts import drop_draft, put_draft
from .tags import resend_tags
from .tickets import follow_assignee


@dataclass
class CommentResult:
    message_id: str
    mentioned: list[str] = field(default_factory=list)  # handles that were notified
    unknown: list[str] = field(default_factory=list)  # @words that are no agent: left as text
    no_access: list[str] = field(default_factory=list)  # agents who may not see this inbox


def _reply_channel(tx: Tx, conv: Conversation, via_channel_id: str | None) -> Channel:
    channel = tx.get(Channel, via_channel_id or conv.channel_id, "channel")
    kind = answering_kind(channel.kind)
    if kind != channel.kind:  # e.g. a form cannot answer: the inbox's e-mail channel does
        found = inbox_channel(tx.session.connection(), conv.inbox_id, kind)
        if found is None:
            raise InvalidRequest(
                f"this inbox has no {kind} channel to answer a {channel.kind}; add one with "
                f"`unibox channel add {kind}`"
            )
        channel = tx.get(Channel, found, "channel")
    return channel


def _check_rules(
    tx: Tx, conv: Conversation, channel: Channel, text: str, template: str | None = None
) -> None:
    """The channel's own rules (a length limit, a reply window): backends/registry.py. The
    window holds once the channel is connected (registry.connected): until then its replies
    wait in the outbox anyway (the demo's Messenger and WhatsApp conversations). A WhatsApp
    template may go out at any time: that is what templates are for."""
    from ...backends import registry

    settings = json.loads(channel.settings or "{}")
    rules = registry.channel_rules(channel.kind, settings)
    if template is not None:
        if channel.kind != "whatsapp":
            raise InvalidRequest(f"templates are sent on WhatsApp only (this is {channel.kind})")
        return
    last_inbound = None
    if rules.reply_window is not None and registry.connected(channel.kind, settings):
        last_inbound = clock.from_db(
            tx.session.connection()
            .exec_driver_sql(
                "SELECT max(created_at) FROM message WHERE conversation_id = ? "
                "AND kind = 'incoming' AND channel_id = ?",
                (conv.id, channel.id),
            )
            .scalar()
        )
    problem = rules.reply_problem(text, last_inbound, tx.now)
    if problem:
        raise InvalidRequest(problem)


def reply(
    ws: Workspace,
    conversation_id: str,
    text: str,
    *,
    actor: str,
    html: str | None = None,
    via_channel_id: str | None = None,
    id: str | None = None,
    hold_seconds: float = 0,
    seen_message_id: str | None = None,
    to: list[str] | None = None,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    attachments: list[tuple[str, str]] | None = None,
    quote_message_id: str | None = None,
    template: str | None = None,
    params: list[str] | None = None,
    now: datetime | None = None,
) -> str:
    """Queue a reply to the customer on the conversation's channel (or `via_channel_id`, e.g.
    "continue by e-mail"). The message and its outbox entry are written together; the engine
    delivers it. Re-sending with the same `id` is a no-op (offline clients retry safely).

    `hold_seconds`: the outbox releases it no sooner (its entry's next_attempt_at), so the
    agent can take it back with `unsend` until then.

    `seen_message_id`: the newest customer message or reply the agent had seen when they
    wrote this one. If another agent's reply or a new customer message came after it, the
    reply is refused as stale (errors.Stale) and the agent decides again: on a team hub two
    agents may answer the same customer at once (research §I.2, "guarded operations").

    E-mail only: `to` / `cc` / `bcc` replace the addresses the reply would go to (the
    customer, and the conversation's CC list); `attachments` are (file name, base64) pairs
    (core/composing.py limits them); `quote_message_id` quotes that message below the text
    ("On DATE, NAME wrote:" and "> ").

    `template` (WhatsApp): send that approved template (synced onto the channel by
    `unibox whatsapp templates sync`) with `params` instead of free text; `text` may be
    empty then, and the message shows the template's text with the parameters filled in."""
    if template is None and not attachments:  # files alone are a reply too
        require_text(text, "reply")
    addresses = {
        "to": parse_addresses(to, "To"),
        "cc": parse_addresses(cc, "Cc"),
        "bcc": parse_addresses(bcc, "Bcc"),
    }
    if len([a for v in addresses.values() for a in v]) > MAX_ADDRESSES:
        raise InvalidRequest(f"at most {MAX_ADDRESSES} addresses in one reply")
    files = decode_files(attachments)
    with ws.write(now) as tx:
        if id and message_exists(tx, id):
            return id
        conv, author = acting_on(tx, conversation_id, actor)
        if seen_message_id:
            _refuse_if_stale(tx, conv.id, seen_message_id, author.id)
        channel = _reply_channel(tx, conv, via_channel_id)
        left = None
        if via_channel_id is None and template is None and to is None:
            from .chat import left_visitor_email

            # A chat visitor who left gets the reply by e-mail, at the address they left.
            left = left_visitor_email(tx, conv)
            if left is not None:
                channel, addresses["to"] = left[0], [left[1]]
        if channel.inbox_id != conv.inbox_id:
            raise InvalidRequest("that channel belongs to another inbox; reply from this one's")
        _check_rules(tx, conv, channel, text, template)
        mail = {k: v for k, v in addresses.items() if v or (k == "cc" and cc is not None)}
        if mail and REPLY_IDENTITY[channel.kind] != "email":  # e-mail or a fallback address
            raise InvalidRequest(f"addresses go by e-mail only; this reply goes by {channel.kind}")
        if files:
            _check_files(channel.kind, files, template)
        if to is not None and not addresses["to"]:
            raise InvalidRequest("the reply needs someone in To")
        if quote_message_id:
            text = text.rstrip() + "\n\n" + _quote(tx, conv.id, quote_message_id)
        sent: dict[str, object] = {}
        if template is not None:
            from ...backends.templates import fill

            found, text = fill(json.loads(channel.settings or "{}"), template, params or [])
            sent["template"] = {
                "name": found["name"],
                "language": found["language"],
                "params": list(params or []),
            }
        drop_draft(tx, conv.id, author.id)
        wanted = REPLY_IDENTITY[channel.kind]
        if not addresses["to"] and not has_identity(tx, conv.contact_id, wanted):
            raise InvalidRequest(
                f"the contact has no {wanted} identity, so a reply cannot go out by {channel.kind}"
            )
        if conv.assignee_id is None:
            # Whoever answers an unassigned conversation owns it (research §D: "replying
            # self-assigns"), and so does its ticket.
            conv.assignee_id = author.id
            activity(tx, conv, f"{author.name} took this by replying", author)
            follow_assignee(tx, conv)
        message_id = id or new_id(tx.now)
        meta: dict[str, object] = {**mail, **sent}
        reaches = REPLY_IDENTITY[channel.kind]
        continued = reaches != REPLY_IDENTITY[tx.get(Channel, conv.channel_id, "channel").kind]
        if continued:
            # Another kind of channel continues the conversation (a chat by e-mail): the
            # widget shows it too (core/chat.py visitor_view).
            meta["continued"] = reaches
        if hold_seconds > 0:
            # What this reply changes on the conversation, for `unsend` to put back.
            meta["unsend"] = _reply_marks(conv)
        if reaches != "email":
            # A chat draws a knowledge article or a meeting link as a card.
            from .chatflows import link_card

            card = link_card(tx, text)
            if card:
                meta["card"] = card
        # The message and its outbox entry in plain SQL (ORM objects and their flushes were
        # most of a reply's cost on the hub).
        add_message(
            tx,
            message_id,
            conv.id,
            "outgoing",
            text,
            author_agent_id=author.id,
            channel_id=channel.id,
            body_html=html,
            delivery_state="queued",
            meta=json.dumps(meta) if meta else "{}",
        )
        _attach(tx, message_id, files)
        queue_outbox(tx, message_id, channel.id, tx.now + timedelta(seconds=max(hold_seconds, 0)))
        # Another kind of channel (a chat continued by e-mail) says so in the thread; another
        # address of the same kind (the composer's From) does not.
        if left is not None:
            activity(
                tx,
                conv,
                f"The visitor had left the chat: {author.name}'s reply went to {left[1]} by e-mail",
                author,
            )
        elif via_channel_id and continued:
            activity(tx, conv, f"{author.name} continued this conversation by {reaches}", author)
        marks: dict[str, object] = {
            "waiting": False,
            "unread": False,
            "message_count": conv.message_count + 1,
        }
        if conv.last_message_at is None or tx.now >= conv.last_message_at:
            marks.update(last_message_at=tx.now, preview=one_line(text))
        if conv.first_response_at is None:
            marks["first_response_at"] = tx.now
        set_conversation(tx, conv, **marks)
        return message_id


def has_identity(tx: Tx, contact_id: str, kind: str) -> bool:
    """Can the contact be reached by an identity of this kind (e-mail, phone, ...)?"""
    row = tx.sql(
        "SELECT 1 FROM contact_identity WHERE contact_id = ? AND kind = ? LIMIT 1",
        (contact_id, kind),
    ).fetchone()
    return row is not None


_OUTBOX_SQL = (
    "INSERT INTO outbox (id, message_id, channel_id, state, attempts, next_attempt_at, "
    "last_error, created_at, handed_over_at, updated_at, seq) "
    "VALUES (?, ?, ?, 'pending', 0, ?, NULL, ?, NULL, ?, ?)"
)


def queue_outbox(tx: Tx, message_id: str, channel_id: str, due: datetime) -> None:
    """The message's outbox entry (pending, first attempt at `due`), in plain SQL."""
    seq, at = tx.stamped()
    tx.sql(_OUTBOX_SQL, (new_id(tx.now), message_id, channel_id, clock.to_db(due), at, at, seq))


def _check_files(kind: str, files: list[tuple[str, str, bytes]], template: str | None) -> None:
    """Files a reply on this kind of channel cannot send: refused now, with the reason,
    rather than failing in the outbox (Messenger and WhatsApp take some types and sizes)."""
    from ...backends import registry

    if template is not None:
        raise InvalidRequest("a WhatsApp template goes without files; send them in a reply")
    rules = registry.rules(kind)
    for name, ctype, data in files:
        problem = rules.file_problem(name, ctype, len(data))
        if problem:
            raise InvalidRequest(problem)


def _attach(tx: Tx, message_id: str, files: list[tuple[str, str, bytes]]) -> None:
    """Files sent with a message, in the attachment store like the ones that come in (the
    outbox reads them from there)."""
    for name, ctype, data in files:
        tx.stamp(
            Attachment(
                id=new_id(tx.now),
                message_id=message_id,
                filename=name,
                content_type=ctype,
                size=len(data),
                data=data,
            )
        )


def _quote(tx: Tx, conversation_id: str, message_id: str) -> str:
    """The quoted text of one of the conversation's messages."""
    row = (
        tx.session.connection()
        .exec_driver_sql(
            "SELECT m.body, coalesce(a.name, ct.name, ''), m.created_at FROM message m "
            "LEFT JOIN agent a ON a.id = m.author_agent_id "
            "LEFT JOIN contact ct ON ct.id = m.author_contact_id "
            "WHERE m.id = ? AND m.conversation_id = ? AND m.kind IN ('incoming', 'outgoing')",
            (message_id, conversation_id),
        )
        .first()
    )
    if row is None:
        raise InvalidRequest("the message to quote is not in this conversation")
    return quoted(row[0] or "", row[1], clock.from_db(row[2]))


def _refuse_if_stale(tx: Tx, conversation_id: str, seen_id: str, me: str) -> None:
    """Stale when a customer message, or another agent's reply, came after `seen_id`."""
    row = (
        tx.session.connection()
        .exec_driver_sql(
            "SELECT m.kind, coalesce(a.name, ct.name, 'The customer') FROM message m "
            "JOIN message seen ON seen.id = ? "
            "LEFT JOIN agent a ON a.id = m.author_agent_id "
            "LEFT JOIN conversation c ON c.id = m.conversation_id "
            "LEFT JOIN contact ct ON ct.id = c.contact_id "
            "WHERE m.conversation_id = ? AND m.created_at > seen.created_at "
            "AND (m.kind = 'incoming' OR (m.kind = 'outgoing' AND "
            "coalesce(m.author_agent_id, '') != ?)) ORDER BY m.created_at DESC LIMIT 1",
            (seen_id, conversation_id, me),
        )
        .first()
    )
    if row is None:
        return
    kind, who = row
    what = f"{who} replied" if kind == "outgoing" else f"{who} wrote again"
    raise Stale(
        f"{one_line(what, 80)} after you opened this conversation; read it, then send again"
    )


REPLY_MARKS = ("last_message_at", "preview", "waiting", "unread", "first_response_at")


def _reply_marks(conv: Conversation) -> dict[str, object]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k in REPLY_MARKS
        for v in [getattr(conv, k)]
    }


def unsend(ws: Workspace, message_id: str, *, actor: str, now: datetime | None = None) -> str:
    """Take back a held reply before the outbox releases it: the message and its outbox
    entry go, the conversation is as it was, and the text becomes the author's draft again
    (returned too). Refused once an engine has claimed it (it may be leaving)."""
    with ws.write(now) as tx:
        message = tx.get(Message, message_id, "message")
        conv, agent = acting_on(tx, message.conversation_id, actor)
        if message.kind != "outgoing" or message.author_agent_id != agent.id:
            raise InvalidRequest("only a reply of your own can be unsent")
        entry = tx.find(OutboxEntry, message_id=message.id)
        if entry is None or entry.state != "pending" or entry.attempts:
            raise InvalidRequest("the reply is already on its way; it can no longer be unsent")
        marks = json.loads(message.meta or "{}").get("unsend", {})
        for attachment in tx.session.exec(
            select(Attachment).where(Attachment.message_id == message.id)
        ).all():
            tx.delete(attachment)
        tx.delete(entry)
        tx.delete(message)
        conv.message_count = max(conv.message_count - 1, 0)
        if marks and conv.last_message_at == message.created_at:
            # Nothing newer arrived meanwhile: the conversation is as before the reply.
            for key in REPLY_MARKS:
                value = marks.get(key)
                if key.endswith("_at") and value is not None:
                    value = datetime.fromisoformat(value)
                setattr(conv, key, value)
        elif conv.first_response_at == message.created_at:
            conv.first_response_at = None
        tx.stamp(conv)
        via = message.channel_id if message.channel_id != conv.channel_id else None
        sent = json.loads(message.meta or "{}")
        mail = None
        if any(k in sent for k in ("to", "cc", "bcc")):  # the composer's fields come back
            mail = MailFields(sent.get("to", []), sent.get("cc", []), sent.get("bcc", []))
        put_draft(tx, conv.id, agent.id, message.body, "reply", via, mail)
        return message.body


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
    notification; `@words` that are no agent stay plain text.

    Written in plain SQL (no ORM conversation or message: the hub's most frequent command,
    benchmarks/hub_push.py)."""
    require_text(text, "comment")
    with ws.write(now) as tx:
        if id and message_exists(tx, id):
            return CommentResult(id)
        conv, author = head_acting_on(tx, conversation_id, actor)
        drop_draft(tx, conv.id, author.id)
        result = CommentResult(id or new_id(tx.now))
        told: list[Agent] = []
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
                told.append(agent)
        meta = json.dumps({"mentions": result.mentioned}) if result.mentioned else "{}"
        add_message(
            tx, result.message_id, conv.id, "comment", text, author_agent_id=author.id, meta=meta
        )
        set_conversation(tx, conv, message_count=conv.message_count + 1)
        for agent in told:
            notify(
                tx,
                agent,
                "mention",
                f"{author.name} mentioned you: {conv.subject or conv.preview}",
                conv=conv,
                message_id=result.message_id,
                actor=author,
            )
        return result


def message_exists(tx: Tx, message_id: str) -> bool:
    """Is there a message with this id (a retried command that created it already)?"""
    if known_new_message(tx, message_id):
        return False
    return tx.sql("SELECT 1 FROM message WHERE id = ?", (message_id,)).fetchone() is not None


def assign(
    ws: Workspace,
    conversation_id: str,
    agent: str | None,
    *,
    actor: str,
    only_if_unassigned: bool = False,
    now: datetime | None = None,
) -> bool:
    """Assign to an agent (id or handle), or unassign with None. False if nothing changed.

    `only_if_unassigned` ("take it"): refused as stale (errors.Stale) when someone else was
    assigned meanwhile, so two agents taking the same conversation at once do not silently
    take it from each other."""
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        return assigning(tx, conv, by, agent, only_if_unassigned=only_if_unassigned)


# The steps below are each command's change to one conversation inside a transaction the
# caller holds (after `acting_on`): the single commands here and the bulk command
# (commands/many.py) share them, so a rule lives in one place.


def assigning(
    tx: Tx, conv: Conversation, by: Agent, agent: str | None, *, only_if_unassigned: bool = False
) -> bool:
    if only_if_unassigned and conv.assignee_id is not None:
        holder = agent_ref(tx, conv.assignee_id)
        if agent is None or holder.id != agent_ref(tx, agent).id:
            raise Stale(f"@{holder.handle} took this conversation meanwhile")
    if agent is None:
        if conv.assignee_id is None:
            return False
        conv.assignee_id = None
        activity(tx, conv, f"{by.name} unassigned this", by)
        follow_assignee(tx, conv)
        return True
    target = agent_ref(tx, agent)
    require_access(tx, target, inbox_ref(tx, conv.inbox_id))
    if conv.assignee_id == target.id:
        return False
    conv.assignee_id = target.id
    follow_assignee(tx, conv)
    text = (
        f"{by.name} took this"
        if target.id == by.id
        else f"{by.name} assigned this to {target.name}"
    )
    activity(tx, conv, text, by, event="assigned", details={"assignee": target.id})
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
        return assigning_team(tx, conv, by, team)


def assigning_team(tx: Tx, conv: Conversation, by: Agent, team: str | None) -> bool:
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
        return closing(tx, conv, by, close_ticket=close_ticket)


def closing(tx: Tx, conv: Conversation, by: Agent, *, close_ticket: bool = False) -> bool:
    changed = False
    if conv.status != "closed":
        conv.status, conv.closed_at, conv.snoozed_until = "closed", tx.now, None
        conv.waiting = False
        activity(tx, conv, f"{by.name} closed this", by, event="closed")
        from .chat import transcript_on_close

        transcript_on_close(tx, conv, by)
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
        return reopening(tx, conv, by)


def reopening(tx: Tx, conv: Conversation, by: Agent) -> bool:
    if conv.status == "open":
        return False
    conv.status, conv.closed_at, conv.snoozed_until = "open", None, None
    # Closing cleared `waiting`; the thread says whether the customer is owed an answer (an
    # undone close put a waiting customer back among the answered ones: "oldest waiting
    # first" then lost them).
    conv.waiting = customer_spoke_last(tx, conv)
    activity(tx, conv, f"{by.name} reopened this", by, event="reopened")
    return True


def customer_spoke_last(tx: Tx, conv: Conversation) -> bool:
    """Whether the customer's last message came after the last reply to them (a chat's
    transcript e-mailed on close, or a forward to someone else, answers nothing)."""
    wrote = conv.customer_at
    if wrote is None:
        return False
    replied = (
        tx.session.connection()
        .exec_driver_sql(
            "SELECT max(created_at) FROM message WHERE conversation_id = ? AND kind = 'outgoing' "
            "AND meta NOT LIKE '%\"transcript\"%' AND meta NOT LIKE '%\"forward\"%'",
            (conv.id,),
        )
        .scalar()
    )
    answered = clock.from_db(replied)
    return answered is None or answered < wrote


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
        return snoozing(tx, conv, by, until)


def snoozing(tx: Tx, conv: Conversation, by: Agent, until: datetime) -> bool:
    """(The caller checked that `until` is in the future.)"""
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
    ws: Workspace,
    conversation_id: str,
    read: bool = True,
    *,
    actor: str,
    now: datetime | None = None,
) -> bool:
    """Mark read or unread. Reading is enough: an admin who may read an inbox but not act in
    it can still keep their own list tidy."""
    with ws.write(now) as tx:
        conv, _ = head_seen_by(tx, conversation_id, actor)
        return reading(tx, conv, read)


def reading(tx: Tx, conv: Conversation | ConvHead, read: bool) -> bool:
    if conv.unread == (not read):
        return False
    set_conversation(tx, conv, unread=not read)
    return True


def move_inbox(
    ws: Workspace, conversation_id: str, inbox: str, *, actor: str, now: datetime | None = None
) -> bool:
    """Move to another inbox. An assignee without access there is unassigned (and told so)."""
    with ws.write(now) as tx:
        conv, by = acting_on(tx, conversation_id, actor)
        return moving(tx, conv, by, inbox)


def moving(tx: Tx, conv: Conversation, by: Agent, inbox: str) -> bool:
    target = inbox_ref(tx, inbox)
    require_access(tx, by, target)
    if conv.inbox_id == target.id:
        return False
    conv.inbox_id = target.id
    activity(tx, conv, f"{by.name} moved this to {target.name}", by)
    tx.session.flush()  # the new inbox_id, before its rows are sent again
    resend_conversation(tx.session.connection().exec_driver_sql, conv.id, tx.seq)
    resend_tags(tx.session.connection().exec_driver_sql, conv.id, tx.seq)
    if conv.assignee_id:
        assignee = agent_ref(tx, conv.assignee_id)
        if not can_access(tx, assignee, target):
            conv.assignee_id = None
            activity(tx, conv, f"{assignee.name} has no access to {target.name}: unassigned", by)
    return True
