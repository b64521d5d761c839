"""What every command shares: resolving references, access rules, activity lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlmodel import select

from .. import access, clock
from ..db import Tx
from ..errors import InvalidRequest, NoAccess, NotFound
from ..ids import new_id
from ..models import (
    Agent,
    Contact,
    Conversation,
    Inbox,
    Message,
    Notification,
    Team,
)
from ..text import clean


def agent_ref(tx: Tx, ref: str) -> Agent:
    """An agent by id or @handle."""
    handle = ref.lstrip("@").lower()
    found = tx.find(Agent, id=ref) or tx.find(Agent, handle=handle)
    if found is None:
        raise NotFound(f"no agent {ref!r}; `unibox agents` lists handles")
    return found


def active_agent(tx: Tx, ref: str) -> Agent:
    """An agent who may act: exists and is not deactivated."""
    agent = agent_ref(tx, ref)
    if not agent.active:
        raise NoAccess(f"@{agent.handle} is deactivated")
    return agent


def name_taken(tx: Tx, model: type[Any], name: str, but: str | None = None) -> bool:
    """Is `name` (of a team, inbox or pipeline) used by another row, regardless of case?"""
    row = (
        tx.session.connection()
        .exec_driver_sql(
            f"SELECT id FROM {model.__tablename__} WHERE lower(name) = lower(?) AND id != ?",
            (name.strip(), but or ""),
        )
        .first()
    )
    return row is not None


def _named(tx: Tx, model: type[Team] | type[Inbox], ref: str, what: str) -> Team | Inbox:
    """A team or inbox by id or name; names match without regard to case."""
    found = tx.find(model, id=ref) or tx.find(model, name=ref)
    if found is None:
        rows = cast(list[Team | Inbox], tx.session.exec(select(model)).all())
        found = next((r for r in rows if r.name.lower() == ref.lower()), None)
    if found is None:
        raise NotFound(f"no {what} {ref!r}")
    return found


def team_ref(tx: Tx, ref: str) -> Team:
    return _named(tx, Team, ref, "team")  # type: ignore[return-value]


def inbox_ref(tx: Tx, ref: str) -> Inbox:
    return _named(tx, Inbox, ref, "inbox")  # type: ignore[return-value]


def conversation(tx: Tx, conversation_id: str) -> Conversation:
    return tx.get(Conversation, conversation_id, "conversation")


def acting_on(tx: Tx, conversation_id: str, actor: str) -> tuple[Conversation, Agent]:
    """The conversation and the agent acting on it, who must have access to its inbox."""
    conv, agent = seen_by(tx, conversation_id, actor)
    require_access(tx, agent, inbox_ref(tx, conv.inbox_id))
    return conv, agent


def seen_by(tx: Tx, conversation_id: str, actor: str) -> tuple[Conversation, Agent]:
    """The conversation and an agent who may at least read it. One the agent cannot see is
    "not found or no access", as if it did not exist (the answer never confirms it does)."""
    agent = active_agent(tx, actor)
    found = tx.find(Conversation, id=conversation_id)
    _must_see(tx, agent, conversation_id, found.inbox_id if found else None)
    assert found is not None  # _must_see raised for a missing one
    return found, agent


def _must_see(tx: Tx, agent: Agent, conversation_id: str, inbox_id: str | None) -> None:
    if inbox_id is None or not access_of(tx, agent.id).can_see(inbox_id):
        raise NotFound(f"no conversation {conversation_id} (not found or no access)")


@dataclass(slots=True)
class ConvHead:
    """The columns of a conversation that the hot commands (comment, mark read) read, in
    plain SQL: loading the ORM object, and flushing it back, was most of their cost on the
    hub (benchmarks/hub_push.py). Written back with `set_conversation`."""

    rid: int
    id: str
    inbox_id: str
    subject: str
    preview: str
    unread: bool
    message_count: int


_HEAD_SELECT = "SELECT rid, id, inbox_id, subject, preview, unread, message_count FROM conversation"
_HEAD_SQL = f"{_HEAD_SELECT} WHERE id = ?"


# Read ahead for a group of commands (`prefetch`): the heads of their conversations, and
# which of the message ids they bring are new. Kept in the batch's memo.
HEADS = "prefetched heads"
NEW_IDS = "prefetched new message ids"


def prefetch(tx: Tx, conversation_ids: set[str], message_ids: set[str]) -> None:
    """Read, in two statements, what the commands of a hub group would each read on their
    own: on PostgreSQL every such read waits for all the writes sent before it (the
    pipeline, core/postgres.Later), so a group of comments alternated the hub's work and the
    server's, command by command (benchmarks/hub_push.py --postgres). Valid until another
    kind of command runs (the hub's mutations.py then calls `forget_prefetched`)."""
    if conversation_ids:
        rows = tx.sql(
            f"{_HEAD_SELECT} WHERE id IN ({_marks(conversation_ids)})", (*conversation_ids,)
        )
        tx.memo[HEADS] = {row[1]: _head(row) for row in rows.fetchall()}
    if message_ids:
        rows = tx.sql(
            f"SELECT id FROM message WHERE id IN ({_marks(message_ids)})", (*message_ids,)
        )
        tx.memo[NEW_IDS] = message_ids - {r[0] for r in rows.fetchall()}


def _marks(values: set[str]) -> str:
    return ",".join("?" * len(values))


def forget_prefetched(memo: dict[Any, Any]) -> None:
    memo.pop(HEADS, None)
    memo.pop(NEW_IDS, None)


def known_new_message(tx: Tx, message_id: str) -> bool:
    """Is `message_id` known, from the group's prefetch, to be no stored message? (Once: a
    second use of the id in the group reads again, and sees the first.)"""
    new = tx.memo.get(NEW_IDS)
    if new is None or message_id not in new:
        return False
    new.discard(message_id)
    return True


def head_seen_by(tx: Tx, conversation_id: str, actor: str) -> tuple[ConvHead, Agent]:
    """`seen_by`, reading the conversation's head only. Prefetched for a hub group, the
    head is the memo's object: `set_conversation` keeps it current, so the group's next
    comment on the same conversation reads it there too."""
    agent = active_agent(tx, actor)
    heads: dict[str, ConvHead] | None = tx.memo.get(HEADS)
    head = heads.get(conversation_id) if heads else None
    if head is not None:
        _must_see(tx, agent, conversation_id, head.inbox_id)
        return head, agent
    row = tx.sql(_HEAD_SQL, (conversation_id,)).fetchone()
    _must_see(tx, agent, conversation_id, row[2] if row else None)
    return _head(row), agent


def _head(row: Any) -> ConvHead:
    rid, id, inbox_id, subject, preview, unread, count = row
    return ConvHead(rid, id, inbox_id, subject, preview, bool(unread), count)


def head_acting_on(tx: Tx, conversation_id: str, actor: str) -> tuple[ConvHead, Agent]:
    """`acting_on`, reading the conversation's head only."""
    conv, agent = head_seen_by(tx, conversation_id, actor)
    require_access(tx, agent, inbox_ref(tx, conv.inbox_id))
    return conv, agent


def set_conversation(tx: Tx, conv: Conversation | ConvHead, **values: Any) -> None:
    """Write these columns of the conversation, stamped with this write's change number, in
    one plain-SQL UPDATE. An ORM conversation takes the values as already stored (it stays
    current, nothing to flush); a head leaves any loaded copy to be read again."""
    seq, at = tx.stamped()
    columns = sorted(values)
    tx.later(  # nothing read back: sent with the next statement that needs an answer
        _update_sql(tuple(columns)),
        (*(_db_value(values[c]) for c in columns), seq, at, conv.rid),
    )
    if isinstance(conv, ConvHead):
        for column in columns:
            if hasattr(conv, column):
                setattr(conv, column, values[column])
        tx.forget(Conversation, conv.rid)  # type: ignore[arg-type]
        return
    from sqlalchemy.orm.attributes import set_committed_value

    for column, value in (*values.items(), ("seq", seq), ("updated_at", tx.now)):
        set_committed_value(conv, column, value)


_UPDATES: dict[tuple[str, ...], str] = {}


def _update_sql(columns: tuple[str, ...]) -> str:
    sql = _UPDATES.get(columns)
    if sql is None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        sql = _UPDATES[columns] = (
            f"UPDATE conversation SET {sets}, seq = ?, updated_at = ? WHERE rid = ?"
        )
    return sql


def _db_value(value: Any) -> Any:
    return clock.to_db(value) if isinstance(value, datetime) else value


_MESSAGE_SQL = (
    "INSERT INTO message (id, conversation_id, kind, author_agent_id, author_contact_id, "
    "channel_id, body, body_html, external_id, delivery_state, delivery_error, flags, meta, "
    "created_at, author_bot, updated_at, seq) "
    "VALUES (?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?, NULL, '', ?, ?, NULL, ?, ?)"
)


def add_message(
    tx: Tx,
    id: str,
    conversation_id: str,
    kind: str,
    body: str,
    *,
    author_agent_id: str | None = None,
    channel_id: str | None = None,
    body_html: str | None = None,
    delivery_state: str | None = None,
    meta: str = "{}",
) -> str:
    """Insert a message an agent (or Unibox) writes, in plain SQL, created now and stamped
    with this write's change number: the row the ORM would write for a new Message with
    these fields (a Message object and its flush cost more than the rest of a comment)."""
    seq, at = tx.stamped()
    tx.later(
        _MESSAGE_SQL,
        (
            id,
            conversation_id,
            kind,
            author_agent_id,
            channel_id,
            body,
            body_html,
            delivery_state,
            meta,
            at,
            at,
            seq,
        ),
    )
    return id


def contact_for(tx: Tx, contact_id: str, actor: str) -> tuple[Contact, Agent]:
    """A contact and an agent who may change it: one with at least one of its conversations
    in a visible inbox (or a contact with no conversation yet)."""
    agent = active_agent(tx, actor)
    row = contact(tx, contact_id)
    rule = access.for_agent(tx.session.connection(), agent.id)
    if not rule.sees_all:
        inboxes = set(
            tx.session.connection()
            .exec_driver_sql(
                "SELECT DISTINCT inbox_id FROM conversation WHERE contact_id = ?", (row.id,)
            )
            .scalars()
        )
        if inboxes and not any(rule.can_see(i) for i in inboxes):
            raise NotFound(f"no contact {contact_id} (not found or no access)")
    return row, agent


def contact(tx: Tx, contact_id: str) -> Contact:
    found = tx.get(Contact, contact_id, "contact")
    # A merged contact forwards to the one it was merged into.
    seen = {found.id}
    while found.merged_into_id and found.merged_into_id not in seen:
        found = tx.get(Contact, found.merged_into_id, "contact")
        seen.add(found.id)
    return found


def can_access(tx: Tx, agent: Agent, inbox: Inbox) -> bool:
    """May `agent` act in `inbox`? The rule itself is core/access.py."""
    return access_of(tx, agent.id).can_act(inbox.id)


def access_of(tx: Tx, agent_id: str) -> access.Access:
    """The agent's access rule, read once per command (or batch of commands: Workspace.batch)
    and read again after a write to the tables it comes from (db.ACCESS_TABLES)."""
    key = ("access", agent_id)
    rule = tx.memo.get(key)
    if rule is None:
        rule = tx.memo[key] = access.for_agent(tx.session.connection(), agent_id)
    return rule


def require_access(tx: Tx, agent: Agent, inbox: Inbox) -> None:
    rule = access_of(tx, agent.id)
    if rule.can_act(inbox.id):
        return
    if rule.can_see(inbox.id):
        raise NoAccess(
            f"@{agent.handle} can read inbox {inbox.name!r} but not act in it "
            "(its access list does not include them)"
        )
    raise NoAccess(f"@{agent.handle} has no access to inbox {inbox.name!r}")


def require_admin(tx: Tx, actor: str | None, what: str) -> Agent | None:
    """The acting agent, who must be an active admin to do `what` ("add agents", ...).

    `actor=None` is the system itself (setup scripts, the engine, a workspace with no agents
    yet): allowed. Everything an agent does names them, and the CLI and TUI always do."""
    if actor is None:
        return None
    agent = agent_ref(tx, actor)
    if not agent.active:
        raise NoAccess(f"@{agent.handle} is deactivated and cannot {what}")
    if agent.role != "admin":
        raise NoAccess(
            f"only an admin can {what}; @{agent.handle} is an agent "
            "(`unibox agent list` shows who the admins are)"
        )
    return agent


def require_text(value: str, what: str) -> str:
    """`value`, unless nothing would be shown of it: text that is empty once control
    characters and escape sequences are removed (clean(), the display rule) is empty."""
    if not value or not clean(value).strip():
        raise InvalidRequest(f"{what} is empty; write something first")
    return value


def activity(
    tx: Tx,
    conv: Conversation,
    text: str,
    actor: Agent | None,
    *,
    event: str | None = None,
    details: dict[str, str] | None = None,
) -> str:
    """An activity line in the thread ("Ana closed this"); also stamps the conversation.
    `event` says what happened for the reports (meta {"event": ..., **details}, migration
    0017): "closed" and "reopened" bound a close/reopen cycle; bot_started, bot_completed,
    bot_handoff, bot_abandoned and bot_step (details: chatflow, step) count chatflows.
    Returns the message's id."""
    tx.stamp(conv)  # first: the conversation's pending changes are written before the line
    return add_message(
        tx,
        new_id(tx.now),
        conv.id,
        "activity",
        text,
        author_agent_id=actor.id if actor else None,
        meta=json.dumps({"event": event, **(details or {})}) if event else "{}",
    )


def who(actor: Agent | None) -> str:
    return actor.name if actor else "Unibox"


def notify(
    tx: Tx,
    agent: Agent,
    kind: str,
    text: str,
    *,
    conv: Conversation | ConvHead | None = None,
    message: Message | None = None,
    message_id: str | None = None,
    actor: Agent | None = None,
) -> Notification:
    note = Notification(
        id=new_id(tx.now),
        agent_id=agent.id,
        kind=kind,
        conversation_id=conv.id if conv else None,
        message_id=message.id if message else message_id,
        actor_id=actor.id if actor else None,
        text=text,
        created_at=tx.now,
    )
    tx.stamp(note)
    return note


def future(when: datetime, now: datetime, what: str) -> datetime:
    if when.tzinfo is None:
        raise InvalidRequest(f"{what} needs a time zone")
    if when <= now:
        raise InvalidRequest(f"{what} {clock.iso(when)} is in the past; pick a later time")
    return when
