"""The chatflow runner: a bot's turn in a conversation, and the timeout of idle sessions.

Channel-independent: the chat widget's hub side and the Messenger/WhatsApp channels call
`bot_turn` after storing what the visitor wrote (and `chatflow_queries.choose_chatflow` to
pick the chatflow when a conversation starts); the engine calls `expire_bot_sessions` on its
periodic tick. Everything a turn does (the bot's messages with their outbox entries, a
contact property, a ticket, the hand-off, the session's state and the report events) is one
transaction.

A bot's messages are outgoing messages whose author is the bot (`message.author_bot`), so
they are in the thread and leave through the one outbox like an agent's reply; their `meta`
carries what a widget draws besides text: `{"quick_replies": [...]}` for a question's
options, `{"card": {"title", "url"}}` for a knowledge article.

Sessions: one per conversation (`bot_session`). `waiting_step` is the question whose answer
comes next; the session ends completed (an `end` step, or the last step done), handed_off
(a `handoff` step, or an agent took the conversation) or abandoned (no answer within the
chatflow's `session_timeout_minutes`: the conversation is closed). Each start, step done and
end is a `chatflow_event` row: the bot report's started / completed / handed off / abandoned
counts and its per-step completion (chatflow_queries.bot_stats).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from .. import clock
from ..chatflows import MAX_STEPS_PER_TURN, branch_to, check_answer, fill, step_after
from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..ids import new_id
from ..models import (
    Agent,
    BotSession,
    Chatflow,
    ChatflowEvent,
    Conversation,
    Message,
    OutboxEntry,
)
from ..text import one_line
from ._base import activity, agent_ref, can_access, contact, inbox_ref, notify, team_ref
from .chatflows import article_ref
from .contacts import _add_identity
from .tickets import open_ticket


@dataclass
class BotMessage:
    id: str
    body: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class BotTurn:
    """What one turn did: the bot's messages in order, and where the session stands."""

    conversation_id: str
    messages: list[BotMessage] = field(default_factory=list)
    status: str | None = None  # the session's status; None: no chatflow runs here
    waiting_step: str | None = None
    handed_off_to: str | None = None  # "agent:HANDLE", "team:NAME", "inbox", "unassigned"
    assignee_id: str | None = None
    ticket_id: str | None = None


def bot_turn(
    ws: Workspace,
    conversation_id: str,
    incoming_text: str | None,
    now: datetime | None = None,
    *,
    chatflow_id: str | None = None,
) -> BotTurn:
    """Advance the chatflow of a conversation by what the visitor just wrote (already stored
    as their message), or start it: with `chatflow_id` and no session yet, the chatflow's
    opening (welcome, first steps up to a question) is written as what the visitor saw before
    they wrote, then `incoming_text` answers its first question. Without a running session
    (none, or ended) nothing happens: the conversation is the agents'.

    Call it once per stored message: not for an ingest that was a duplicate (the widget
    resending), which would answer the same text twice. An assigned conversation is the
    assignee's: the bot steps aside on its next turn (so routing runs at the hand-off, not
    when a bot's chat arrives)."""
    with ws.write(now) as tx:
        conv = tx.get(Conversation, conversation_id, "conversation")
        session = tx.find(BotSession, conversation_id=conv.id)
        turn = BotTurn(conv.id)
        if session is None:
            if chatflow_id is None:
                return turn
            flow = tx.get(Chatflow, chatflow_id, "chatflow")
            if flow.channel_id != conv.channel_id:
                raise InvalidRequest(
                    f"chatflow {flow.name!r} is not on this conversation's channel"
                )
            run = _Run(tx, conv, flow, turn)
            run.start(answered=incoming_text is not None)
            if incoming_text is None or run.session.status != "active":
                return run.done()
            return run.answer(incoming_text).done()
        turn.status = session.status
        if session.status != "active":
            return turn
        run = _Run(tx, conv, tx.get(Chatflow, session.chatflow_id, "chatflow"), turn, session)
        if conv.assignee_id is not None:  # an agent took it over: the bot steps aside
            run.end("handed_off", step_id=session.waiting_step)
            return run.done()
        if incoming_text is None:
            return run.done()
        return run.answer(incoming_text).done()


class _Run:
    """One turn of one session, inside the caller's transaction."""

    def __init__(
        self,
        tx: Tx,
        conv: Conversation,
        flow: Chatflow,
        turn: BotTurn,
        session: BotSession | None = None,
    ) -> None:
        self.tx, self.conv, self.flow, self.turn = tx, conv, flow, turn
        self.spec: dict[str, Any] = json.loads(flow.spec or "{}")
        self.steps: list[dict[str, Any]] = self.spec.get("steps", [])
        self.index = {s["id"]: i for i, s in enumerate(self.steps)}
        self.author = self.spec.get("bot_name") or flow.name
        # Set here for a running session, by `start` for a new one: never None once used.
        self.session: BotSession = session  # type: ignore[assignment]
        self.at: list[datetime] = []  # times for the opening messages (before the visitor's)

    # -------------------------------------------------------------- lifecycle

    def start(self, *, answered: bool) -> None:
        tx = self.tx
        self.session = BotSession(
            id=new_id(tx.now),
            conversation_id=self.conv.id,
            chatflow_id=self.flow.id,
            status="active",
            answers="{}",
            started_at=tx.now,
            last_activity_at=tx.now,
        )
        if answered:
            # The widget showed the opening before the visitor wrote: date it just before
            # their first message, so the thread reads in the order they saw it.
            first = clock.from_db(
                tx.session.connection()
                .exec_driver_sql(
                    "SELECT min(created_at) FROM message WHERE conversation_id = ? "
                    "AND kind = 'incoming'",
                    (self.conv.id,),
                )
                .scalar()
            )
            if first is not None:
                self.at = [first - timedelta(microseconds=n) for n in range(200, 0, -1)]
        welcome = self.spec.get("welcome") or ""
        if self.spec.get("type") == "live_chat":
            # A live chat: its welcome, then the people. Kept as an ended session so a
            # second call changes nothing; not counted in the bot report.
            self.session.status = "handed_off"
            self.session.ended_at = tx.now
            tx.stamp(self.session)
            if welcome.strip():
                self.say(welcome)
            self.hand_off(self.spec.get("routing", {}).get("to") or "inbox", quiet=True)
            return
        tx.stamp(self.session)
        self.event("started")
        if welcome.strip():
            self.say(welcome)
        self.run_from(0)
        self.at = []

    def done(self) -> BotTurn:
        if self.session is not None:
            self.session.last_activity_at = self.tx.now
            self.tx.stamp(self.session)
            self.turn.status = self.session.status
            self.turn.waiting_step = self.session.waiting_step
        return self.turn

    def end(self, status: str, *, step_id: str | None = None) -> None:
        self.session.status = status
        self.session.waiting_step = None
        self.session.ended_at = self.tx.now
        self.event(status, step_id)

    def event(self, kind: str, step_id: str | None = None) -> None:
        self.tx.stamp(
            ChatflowEvent(
                id=new_id(self.tx.now),
                chatflow_id=self.flow.id,
                conversation_id=self.conv.id,
                kind=kind,
                step_id=step_id,
                created_at=self.tx.now,
            )
        )

    @property
    def answers(self) -> dict[str, str]:
        return json.loads(self.session.answers or "{}")

    # -------------------------------------------------------------- the visitor answers

    def answer(self, text: str) -> _Run:
        waiting = self.session.waiting_step
        if waiting is None or waiting not in self.index:
            return self
        step = self.steps[self.index[waiting]]
        value, again = check_answer(step, text)
        if value is None:
            self.session.retries += 1
            self.say(again, self._options(step))
            return self
        answers = self.answers
        answers[step["save_as"]] = value
        self.session.answers = json.dumps(answers)
        self.session.waiting_step = None
        if step.get("property"):
            self.set_property(step["property"], value)
        self.event("step", step["id"])
        self.run_from(self._after(step))
        return self

    # -------------------------------------------------------------- running steps

    def _after(self, step: dict[str, Any]) -> int:
        return step_after(self.index, step)

    def run_from(self, i: int) -> None:
        for _ in range(MAX_STEPS_PER_TURN):
            if i >= len(self.steps):
                self.end("completed")
                return
            step = self.steps[i]
            kind = step["type"]
            if kind == "question":
                self.say(step["text"], self._options(step))
                self.session.waiting_step = step["id"]
                return
            if kind == "branch":
                self.event("step", step["id"])
                i = self._branch(step)
                continue
            if kind == "message":
                self.say(fill(step["text"], self.answers))
            elif kind == "article":
                self._article(step)
            elif kind == "set_property":
                self.set_property(step["property"], fill(step["value"], self.answers))
            elif kind == "ticket":
                self._ticket(step)
            elif kind == "handoff":
                if step.get("text"):
                    self.say(fill(step["text"], self.answers))
                self.event("step", step["id"])
                self.end("handed_off", step_id=step["id"])
                self.hand_off(step.get("to") or self.spec.get("routing", {}).get("to") or "inbox")
                return
            elif kind == "end":
                if step.get("text"):
                    self.say(fill(step["text"], self.answers))
                self.event("step", step["id"])
                self.end("completed", step_id=step["id"])
                return
            self.event("step", step["id"])
            i = self._after(step)
        # Steps that jump in a circle with no question: people take over.
        activity(self.tx, self.conv, f"{self.author} stopped: its steps go round in a circle", None)
        self.end("handed_off")
        self.hand_off("inbox")

    def _options(self, step: dict[str, Any]) -> dict[str, Any]:
        options = step.get("options") or []
        return {"quick_replies": list(options)} if options else {}

    def _branch(self, step: dict[str, Any]) -> int:
        return branch_to(self.index, step, self.answers)

    def _article(self, step: dict[str, Any]) -> None:
        article = article_ref(self.tx, step["article"])
        if article is None:  # removed since the chatflow was saved: skip it
            return
        intro = fill(step.get("text") or "", self.answers).strip()
        body = (
            f"{intro}\n{article.title}: {article.url}"
            if intro
            else f"{article.title}: {article.url}"
        )
        self.say(body, {"card": {"title": article.title, "url": article.url}})

    def _ticket(self, step: dict[str, Any]) -> None:
        if self.conv.ticket_id:
            return  # one ticket per conversation: the one it has stays
        title = fill(step.get("title") or "", self.answers).strip() or None
        ticket = open_ticket(self.tx, self.conv, None, title=title, priority=step["priority"])
        self.turn.ticket_id = ticket.id

    # -------------------------------------------------------------- effects

    def say(self, text: str, meta: dict[str, Any] | None = None) -> None:
        """A bot message in the thread, queued in the outbox like an agent's reply."""
        tx, conv = self.tx, self.conv
        at = self.at.pop(0) if self.at else tx.now
        message = Message(
            id=new_id(at),
            conversation_id=conv.id,
            kind="outgoing",
            author_bot=self.author,
            channel_id=conv.channel_id,
            body=text,
            delivery_state="queued",
            meta=json.dumps(meta) if meta else "{}",
            created_at=at,
        )
        tx.stamp(message)
        tx.stamp(
            OutboxEntry(
                id=new_id(tx.now),
                message_id=message.id,
                channel_id=conv.channel_id,
                next_attempt_at=tx.now,
                created_at=tx.now,
            )
        )
        if conv.last_message_at is None or at >= conv.last_message_at:
            conv.last_message_at = at
            conv.preview = one_line(text)
        conv.message_count += 1
        conv.waiting = False  # the bot answered; a hand-off puts it back in the queue
        tx.stamp(conv)
        self.turn.messages.append(BotMessage(message.id, text, meta or {}))

    def set_property(self, prop: str, value: str) -> None:
        tx, conv = self.tx, self.conv
        person = contact(tx, conv.contact_id)
        value = value.strip()
        if not value:
            return
        if prop in ("email", "phone"):
            try:
                _add_identity(tx, person.id, prop, value)
            except InvalidRequest as e:
                activity(tx, conv, f"{self.author} could not save the {prop}: {e}", None)
                return
        elif prop == "name":
            person.name = one_line(value, 200)
        elif prop == "company":
            person.company = one_line(value, 200)
        elif prop == "notes":
            person.notes = f"{person.notes}\n{value}".strip()
        tx.stamp(person)
        shown = one_line(value, 60)
        activity(tx, conv, f"{self.author} set the contact's {prop} to {shown}", None)

    def hand_off(self, to: str, *, quiet: bool = False) -> None:
        """Give the conversation to people: an agent, a team (then its routing), the inbox's
        routing, or nobody (unassigned)."""
        tx, conv = self.tx, self.conv
        self.turn.handed_off_to = to
        agent: Agent | None = None
        text = "" if quiet else f"{self.author} handed this over to the team"
        if to.startswith("agent:"):
            agent = _agent_or_none(tx, to.split(":", 1)[1])
        elif to.startswith("team:"):
            team = team_ref(tx, to.split(":", 1)[1])
            conv.team_id = team.id
            if not quiet:  # the team's queue: unassigned, with the team set
                text = f"{self.author} handed this over to team {team.name}"
        elif to == "inbox":
            # The inbox's routing decides now (core/routing.py: it assigns, notifies and
            # writes the line that says why; nobody found leaves it unassigned). It writes
            # the row in plain SQL: what this turn changed goes first.
            from ..routing import route_new_conversation

            tx.stamp(conv)
            decision = route_new_conversation(tx, conv)
            if decision.assignee_id:
                self.turn.assignee_id = decision.assignee_id
        if (
            agent is not None
            and agent.active
            and can_access(tx, agent, inbox_ref(tx, conv.inbox_id))
        ):
            conv.assignee_id = agent.id
            self.turn.assignee_id = agent.id
            text = f"{self.author} handed this over to {agent.name}"
            notify(
                tx,
                agent,
                "assigned",
                f"{self.author} handed you: {conv.subject or conv.preview}",
                conv=conv,
            )
        conv.waiting = True
        conv.unread = True
        if text:
            activity(tx, conv, text, None)
        tx.stamp(conv)


def _agent_or_none(tx: Tx, ref: str) -> Agent | None:
    try:
        return agent_ref(tx, ref)
    except Exception:  # an agent removed since the chatflow was saved: nobody
        return None


def expire_bot_sessions(ws: Workspace, now: datetime | None = None) -> list[str]:
    """End every bot session idle longer than its chatflow's session timeout: recorded as
    abandoned (at the question it waited on), and the conversation is closed. Returns the
    conversations' ids. The engine calls this on its periodic tick."""
    at = now or clock.utcnow()
    with ws.read() as conn:  # the periodic tick: no write transaction when nothing is due
        due = conn.exec_driver_sql(
            "SELECT 1 FROM bot_session WHERE status = 'active' AND last_activity_at <= ? LIMIT 1",
            (clock.to_db(at - timedelta(minutes=1)),),
        ).first()
    if due is None:
        return []
    with ws.write(now) as tx:
        earliest = tx.now - timedelta(minutes=1)  # no timeout is shorter
        rows = tx.session.exec(
            select(BotSession)
            .where(BotSession.status == "active")
            .where(BotSession.last_activity_at <= earliest)  # type: ignore[operator]
        ).all()
        ended: list[str] = []
        flows: dict[str, Chatflow] = {}
        for session in rows:
            flow = flows.get(session.chatflow_id) or tx.get(Chatflow, session.chatflow_id)
            flows[flow.id] = flow
            minutes = json.loads(flow.spec or "{}").get("session_timeout_minutes", 30)
            if session.last_activity_at + timedelta(minutes=minutes) > tx.now:  # type: ignore[operator]
                continue
            conv = tx.find(Conversation, id=session.conversation_id)
            if conv is None:
                continue
            run = _Run(tx, conv, flow, BotTurn(conv.id), session)
            run.end("abandoned", step_id=session.waiting_step)
            tx.stamp(session)
            activity(tx, conv, f"{run.author} closed this: no answer for {minutes} min", None)
            if conv.status != "closed":
                conv.status, conv.closed_at, conv.snoozed_until = "closed", tx.now, None
                conv.waiting = False
                tx.stamp(conv)
            ended.append(conv.id)
        return ended
