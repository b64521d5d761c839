"""The website chat meets chatflows (issue 12 §2): which chatflow a visitor's message falls
under, and each new visitor message handed to its bot.

As a visitor message is stored (on the hub's writer, in the batch's job: `choose_flows`), the
chatflow the channel's targeting gives this visitor (page URL, query, first-time or returning)
is picked; when one applies, the message is stored with `route=False`: the chatflow decides who gets the conversation (a bot hands
over at its hand-off step, a live chat routes as its `[routing]` says), not ingest. Right
after it is stored, in the same job on the hub's writer thread (and only when it was not a
duplicate: the widget resends after a reconnect), `after_visitor_message` runs the bot's turn: the first message of a
new conversation starts the chatflow (its opening goes in just before the message, as the
visitor saw it), later ones answer the bot's question. The bot's messages leave through the
outbox like replies and reach the widget with their quick replies and cards in the meta.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..core import chatflow_queries
from ..core.chatflows import Context

if TYPE_CHECKING:
    from ..core.chatflow_queries import ChatflowRow
    from ..core.commands.incoming import Incoming, IngestResult
    from ..core.db import Workspace
    from .chat_http import Visitor
    from .server import Hub

log = logging.getLogger("unibox.hub")


def targeting(visitor: Visitor) -> Context:
    """What a chatflow's targeting looks at: the visitor's page, and whether they wrote before."""
    return Context(
        url=str(visitor.context.get("page") or ""),
        returning=visitor.contact_id is not None,
    )


async def chatflow_for(hub: Hub, visitor: Visitor) -> ChatflowRow | None:
    """The chatflow this visitor gets on their channel now (None: plain live chat)."""
    return await hub._read(
        chatflow_queries.choose_chatflow, hub.ws, visitor.channel.id, targeting(visitor)
    )


def choose_flows(ws: Workspace, items: list[tuple[Incoming, Context]]) -> list[str | None]:
    """On the writer, before a batch of visitor messages is stored: the chatflow each one
    falls under (its id; None: plain live chat), reading each channel's chatflows once per
    batch. Picked here rather than in the send handler, where it was a read on a reader
    thread per message (a hop each way through the event loop under load;
    benchmarks/chat_bench.py --stages); and a chatflow enabled just before is seen."""
    flows: dict[str, list[ChatflowRow]] = {}
    out: list[str | None] = []
    for inc, context in items:
        rows = flows.get(inc.channel_id)
        if rows is None:
            rows = flows[inc.channel_id] = chatflow_queries.chatflows(ws, inc.channel_id)
        chosen = next(
            (
                r
                for r in rows
                if r.enabled and chatflow_queries.matches(r.spec.get("target", {}), context)
            ),
            None,
        )
        out.append(chosen.id if chosen is not None else None)
    return out


async def opening_for(hub: Hub, visitor: Visitor) -> dict[str, Any] | None:
    """What the widget shows as soon as it opens on a page a chatflow targets, before the
    visitor writes (as HubSpot does): the chatflow's welcome and its steps up to the first
    question, with that question's options as buttons. Nothing is stored: the conversation
    starts with the visitor's first message, and `bot_turn` then writes this same opening
    just before it, so the first answer continues the bot's session. None: no chatflow
    targets this page (the widget shows the channel's own welcome)."""
    flow = await chatflow_for(hub, visitor)
    if flow is None:
        return None
    opening = await hub._read(chatflow_queries.opening, hub.ws, flow)
    messages = []
    for m in opening.messages:
        item: dict[str, Any] = {"from": "agent", "author": opening.author, "text": m["body"]}
        item.update(m["meta"])  # quick_replies, card: as the widget reads stored ones
        messages.append(item)
    return {"chatflow_id": opening.chatflow_id, "author": opening.author, "messages": messages}


def bots_running(ws: Workspace, conversation_ids: list[str]) -> set[str]:
    """Which of the conversations have a bot session running (one read for a batch)."""
    if not conversation_ids:
        return set()
    marks = ",".join("?" * len(conversation_ids))
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT conversation_id FROM bot_session WHERE conversation_id IN ({marks}) "
            "AND status = 'active'",
            tuple(conversation_ids),
        ).all()
    return {r[0] for r in rows}


def after_visitor_message(
    ws: Workspace,
    inc: Incoming,
    result: IngestResult,
    flow_id: str | None,
    running: set[str] | None = None,
) -> None:
    """Run the bot's turn for a stored visitor message (see the module docstring), on the
    writer thread right after it was stored. A bot that fails is logged; the visitor's
    message stays stored for the agents. Most messages have no bot: one indexed read
    decides that, without a write transaction (`running`: what `bots_running` read for
    the whole batch)."""
    from ..core.commands.bots import bot_turn

    if result.duplicate or result.conversation_id is None:
        return
    start = flow_id if result.created_conversation else None
    if start is None:
        if running is None:
            running = bots_running(ws, [result.conversation_id])
        if result.conversation_id not in running:
            return
    try:
        bot_turn(ws, result.conversation_id, inc.body, None, chatflow_id=start)
    except Exception:
        log.exception("the chat bot failed on a visitor message")
