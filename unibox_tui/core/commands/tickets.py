"""Tickets: a conversation that needs tracking (pipeline, stage, priority, owner)."""

from __future__ import annotations

from datetime import datetime

from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import TICKET_PRIORITIES, Agent, Conversation, Inbox, Ticket
from ..validate import require_choice
from ._base import acting_on, activity, agent_ref, conversation, require_text, who
from .pipelines import ticket_place


def create_ticket(
    ws: Workspace,
    *,
    actor: str,
    conversation_id: str | None = None,
    title: str | None = None,
    pipeline: str | None = None,
    stage: str | None = None,
    priority: str = "normal",
    owner: str | None = None,
    id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Create a ticket, linked to a conversation when one is given (its subject is the
    default title). A conversation links at most one ticket. Without a pipeline the ticket
    starts where the conversation's inbox says (pipelines.ticket_place)."""
    require_choice(priority, TICKET_PRIORITIES, "priority")
    with ws.write(now) as tx:
        conv, by = (
            acting_on(tx, conversation_id, actor)
            if conversation_id
            else (None, agent_ref(tx, actor))
        )
        return open_ticket(
            tx,
            conv,
            by,
            title=title,
            pipeline=pipeline,
            stage=stage,
            priority=priority,
            owner=owner,
            id=id,
        ).id


def open_ticket(
    tx: Tx,
    conv: Conversation | None,
    by: Agent | None,
    *,
    title: str | None = None,
    pipeline: str | None = None,
    stage: str | None = None,
    priority: str = "normal",
    owner: str | None = None,
    id: str | None = None,
) -> Ticket:
    """Create a ticket inside `tx`, linked to `conv` when given. `by` None: Unibox itself
    (e.g. a form submission). Without a pipeline the ticket starts where the conversation's
    inbox says (pipelines.ticket_place)."""
    require_choice(priority, TICKET_PRIORITIES, "priority")
    if conv and conv.ticket_id:
        linked = tx.get(Ticket, conv.ticket_id, "ticket")
        raise InvalidRequest(f"this conversation already has ticket #{linked.number}")
    title = title or (conv.subject or conv.preview if conv else "")
    inbox = tx.find(Inbox, id=conv.inbox_id) if conv else None
    pipeline, stage = ticket_place(tx, inbox, pipeline, stage)
    ticket = Ticket(
        id=id or new_id(tx.now),
        number=tx.next_number("ticket"),
        title=require_text(title, "ticket title"),
        pipeline=pipeline,
        stage=stage,
        priority=priority,
        # The ticket's owner follows the conversation's assignee unless one is named.
        owner_id=agent_ref(tx, owner).id if owner else (conv.assignee_id if conv else None),
        created_at=tx.now,
    )
    tx.stamp(ticket)
    if conv:
        conv.ticket_id = ticket.id
        activity(tx, conv, f"{who(by)} created ticket #{ticket.number}", by)
    return ticket


def follow_assignee(tx: Tx, conv: Conversation) -> None:
    """The conversation's ticket, if any, is owned by whoever the conversation is assigned
    to (called by every command that changes the assignee; routing does it in plain SQL)."""
    if not conv.ticket_id:
        return
    ticket = tx.find(Ticket, id=conv.ticket_id)
    if ticket is not None and ticket.owner_id != conv.assignee_id:
        ticket.owner_id = conv.assignee_id
        tx.stamp(ticket)


def update_ticket(
    ws: Workspace,
    ticket_id: str,
    *,
    actor: str,
    title: str | None = None,
    pipeline: str | None = None,
    stage: str | None = None,
    priority: str | None = None,
    owner: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Change the given fields; `owner=""` clears the owner. False if nothing changed."""
    with ws.write(now) as tx:
        by = agent_ref(tx, actor)
        ticket = tx.get(Ticket, ticket_id, "ticket")
        before = (ticket.title, ticket.pipeline, ticket.stage, ticket.priority, ticket.owner_id)
        if title is not None:
            ticket.title = require_text(title, "ticket title")
        # A new pipeline without a stage starts at its first stage. What changes is checked
        # against the workspace's pipelines; an old ticket's unchanged names are kept.
        new_pipeline = pipeline if pipeline is not None else ticket.pipeline
        new_stage = stage
        if new_stage is None and new_pipeline == ticket.pipeline:
            new_stage = ticket.stage
        if (new_pipeline, new_stage) != (ticket.pipeline, ticket.stage):
            ticket.pipeline, ticket.stage = ticket_place(tx, None, new_pipeline, new_stage)
        if priority is not None:
            ticket.priority = require_choice(priority, TICKET_PRIORITIES, "priority")
        if owner is not None:
            ticket.owner_id = agent_ref(tx, owner).id if owner else None
        after = (ticket.title, ticket.pipeline, ticket.stage, ticket.priority, ticket.owner_id)
        if before == after:
            return False
        tx.stamp(ticket)
        _note_on_conversations(tx, ticket, f"{by.name} updated ticket #{ticket.number}", by)
        return True


def close_ticket(ws: Workspace, ticket_id: str, *, actor: str, now: datetime | None = None) -> bool:
    with ws.write(now) as tx:
        by = agent_ref(tx, actor)
        ticket = tx.get(Ticket, ticket_id, "ticket")
        if ticket.status == "closed":
            return False
        ticket.status, ticket.closed_at = "closed", tx.now
        tx.stamp(ticket)
        _note_on_conversations(tx, ticket, f"{by.name} closed ticket #{ticket.number}", by)
        return True


def _note_on_conversations(tx, ticket: Ticket, text: str, by) -> None:  # type: ignore[no-untyped-def]
    ids = (
        tx.session.connection()
        .exec_driver_sql("SELECT id FROM conversation WHERE ticket_id = ?", (ticket.id,))
        .scalars()
    )
    for conv_id in list(ids):
        activity(tx, conversation(tx, conv_id), text, by)
