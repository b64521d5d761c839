"""The workspace model (SQLModel). Words follow DESIGN.md.

Rules every table follows:
- `id` is a string UUIDv7 (core/ids.py) that a client can mint offline.
- Mutable rows carry `updated_at` and `seq`: the workspace change sequence number of the
  write that last touched them (one number per command, see db.Workspace.write), so
  "everything since cursor N" is `WHERE seq > N` on an index.
- Conversations and messages also have an integer `rid` (the SQLite rowid): the FTS index
  and keyset cursors use it. It is local to one database; `id` is what leaves it.
- Timestamps are UTC, stored as fixed-width text (core/clock.py).
- Enumerations are plain strings; the allowed values are listed here and checked by commands.

The schema itself is created by the migrations (core/migrations); a test checks that these
classes and the migrated schema agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from . import clock
from .kinds import (  # noqa: F401  (re-exported: models is where callers look for them)
    AVAILABILITY,
    CHANNEL_KINDS,
    DELIVERY_STATES,
    IDENTITY_KINDS,
    INBOX_ACCESS,
    MESSAGE_KINDS,
    NOTIFICATION_KINDS,
    OUTBOX_STATES,
    REPLY_IDENTITY,
    ROLES,
    ROUTING_RULES,
    STATUSES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes stored as fixed-width text."""

    impl = String(26)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        return clock.to_db(value)

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        return clock.from_db(value)


def _int_flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool_flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


class Flag(TypeDecorator):
    """A boolean column: SQLite's BOOLEAN (0/1, exactly as a plain `bool` field); on
    PostgreSQL a smallint holding 0/1 (migrations/postgres.py BOOL says why)."""

    impl = Boolean
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(SmallInteger())
        return dialect.type_descriptor(Boolean())

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return _int_flag
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name == "postgresql":
            return _bool_flag
        return super().result_processor(dialect, coltype)


def flag(default: bool | None) -> Any:
    return Field(default=default, sa_type=Flag, nullable=default is None)


def ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Changed(SQLModel):
    """Columns every mutable row has."""

    updated_at: datetime | None = ts()
    seq: int = Field(default=0, index=True)


def seq_key_index(table: str) -> Index:
    """`(seq, id)` instead of `(seq)` for a table one change can fill with thousands of rows
    (an ingest batch, the demo): the change log pages through one change number by id
    (core/changes.py). Rowid tables (conversation, message) get that order from `(seq)`."""
    return Index(f"ix_{table}_seq", "seq", "id")


def seq_key() -> Any:
    return Field(default=0)  # indexed by seq_key_index, not by the column's own index


class Setting(Changed, table=True):
    """Workspace settings (name, default agent, ...) as JSON values. Never secrets (keys
    that must stay on the hub are listed in core/changes.py and never sent)."""

    __tablename__ = "setting"
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Sequence(SQLModel, table=True):
    """Named counters; `seq` is the workspace change sequence number."""

    __tablename__ = "sequence"
    name: str = Field(primary_key=True)
    value: int = 0


class Agent(Changed, table=True):
    __tablename__ = "agent"
    id: str = Field(primary_key=True)
    name: str
    handle: str = Field(sa_column=Column(String, unique=True, nullable=False))
    email: str | None = None
    availability: str = "available"
    role: str = "agent"  # admin | agent (kinds.ROLES)
    active: bool = flag(True)  # deactivated agents keep their history and cannot sign in or act
    meeting_link: str | None = None  # their scheduling page, inserted into replies (ctrl+l)


class Team(Changed, table=True):
    __tablename__ = "team"
    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))


class TeamMember(Changed, table=True):
    __tablename__ = "team_member"
    team_id: str = Field(primary_key=True, foreign_key="team.id")
    agent_id: str = Field(primary_key=True, foreign_key="agent.id")


class Inbox(Changed, table=True):
    __tablename__ = "inbox"
    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))
    access: str = "everyone"
    # Where a ticket created from this inbox's conversations starts.
    default_pipeline_id: str | None = Field(default=None, foreign_key="pipeline.id")
    default_stage_id: str | None = Field(default=None, foreign_key="pipeline_stage.id")


class InboxAccess(Changed, table=True):
    """Who may see an inbox whose access is "listed": agents and/or teams."""

    __tablename__ = "inbox_access"
    id: str = Field(primary_key=True)
    inbox_id: str = Field(foreign_key="inbox.id", index=True)
    agent_id: str | None = Field(default=None, foreign_key="agent.id")
    team_id: str | None = Field(default=None, foreign_key="team.id")


class Channel(Changed, table=True):
    """One connected address: an e-mail box, a chat widget, a Messenger page, ...

    `settings` is JSON with per-kind settings and, for a secret, only where it comes from
    (`{"password_source": "env:VAR" | "file:/path" | "keyring"}`), never the secret.
    """

    __tablename__ = "channel"
    id: str = Field(primary_key=True)
    inbox_id: str = Field(foreign_key="inbox.id", index=True)
    kind: str
    name: str
    address: str | None = None
    enabled: bool = flag(True)
    settings: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: str | None = None  # last connection state shown to agents ("ok", an error line)


class RoutingRule(Changed, table=True):
    """How new conversations are assigned (core/routing.py): one row for an inbox
    (`inbox_id` set) and optionally one for a channel (`channel_id` set) that overrides it.

    `rules` is the chain tried in order ("owner,round_robin"; "" is off: unassigned). On a
    channel's row None means "as the inbox routes" (the row then only says `tickets`).
    The pool (`agent_ids`, `team_ids`, JSON lists) is who round robin picks from; both empty
    is everyone who may act in the inbox. `hours` (inbox rows only) is JSON:
    `{"tz": "Europe/Lisbon", "week": {"mon": [["09:00", "17:00"]]}, "holidays": [...]}`,
    `{}` for always open. `tickets`: every new conversation opens a ticket (None on a channel:
    as the inbox says)."""

    __tablename__ = "routing_rule"
    id: str = Field(primary_key=True)
    inbox_id: str | None = Field(default=None, index=True)
    channel_id: str | None = Field(default=None, index=True)
    rules: str | None = None
    agent_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    team_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    cap: int | None = None  # open conversations an agent may hold before routing skips them
    only_available: bool = flag(True)
    tickets: bool | None = flag(None)
    hours: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class RoutingCursor(SQLModel, table=True):
    """Where round robin stands for one routing rule: the agent it picked last. Written only
    where conversations are created (the embedded app, or the hub's one writer); never
    synced, so it survives restarts without a change per new conversation."""

    __tablename__ = "routing_cursor"
    rule_id: str = Field(primary_key=True)
    last_agent_id: str


class Contact(Changed, table=True):
    __tablename__ = "contact"
    __table_args__ = (seq_key_index("contact"),)
    seq: int = seq_key()
    id: str = Field(primary_key=True)
    name: str = ""
    company: str | None = None
    owner_id: str | None = Field(default=None, foreign_key="agent.id")
    notes: str = ""
    created_at: datetime | None = ts()
    merged_into_id: str | None = Field(default=None, foreign_key="contact.id")


class ContactIdentity(Changed, table=True):
    """How a contact is reached on a channel; one identity belongs to one contact."""

    __tablename__ = "contact_identity"
    __table_args__ = (UniqueConstraint("kind", "value"), seq_key_index("contact_identity"))
    seq: int = seq_key()
    id: str = Field(primary_key=True)
    contact_id: str = Field(foreign_key="contact.id", index=True)
    kind: str
    value: str


class Pipeline(Changed, table=True):
    """A ticket pipeline ("Support", "Sales"): its stages, in order, are PipelineStage rows."""

    __tablename__ = "pipeline"
    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))
    position: int = 0  # lists show pipelines in this order; the first is the fallback default


class PipelineStage(Changed, table=True):
    __tablename__ = "pipeline_stage"
    __table_args__ = (UniqueConstraint("pipeline_id", "name"),)
    id: str = Field(primary_key=True)
    pipeline_id: str = Field(foreign_key="pipeline.id", index=True)
    name: str
    position: int = 0


class Ticket(Changed, table=True):
    __tablename__ = "ticket"
    __table_args__ = (seq_key_index("ticket"),)
    seq: int = seq_key()
    id: str = Field(primary_key=True)
    number: int = Field(sa_column=Column(Integer, unique=True, nullable=False))
    title: str
    pipeline: str = "Support"  # names, as text: a ticket keeps them if the pipeline changes
    stage: str = "New"
    priority: str = "normal"
    owner_id: str | None = Field(default=None, foreign_key="agent.id")
    status: str = "open"
    created_at: datetime | None = ts()
    closed_at: datetime | None = ts()


# Columns every list index carries after its sort key, so counts and the list's filters
# (unread, waiting for us, with/without a ticket) and the reader's inbox access (core/access.py)
# are answered from the index alone, and so are the orders on the customer's last message
# (core/list_order.py). ix_conv_inbox leads with inbox_id, so it leaves it out.
LIST_COLUMNS = ("unread", "waiting", "ticket_id", "inbox_id", "customer_at")
FILTER_COLUMNS = tuple(c for c in LIST_COLUMNS if c != "inbox_id")


class Conversation(Changed, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        # Each list view is one keyset range scan over one of these.
        Index("ix_conv_time", "last_message_at", "rid", *LIST_COLUMNS),
        Index("ix_conv_status", "status", "last_message_at", "rid", *LIST_COLUMNS),
        Index("ix_conv_inbox", "inbox_id", "status", "last_message_at", "rid", *FILTER_COLUMNS),
        Index("ix_conv_assignee", "assignee_id", "status", "last_message_at", "rid", *LIST_COLUMNS),
        Index("ix_conv_kind", "channel_kind", "status", "last_message_at", "rid", *LIST_COLUMNS),
        Index("ix_conv_contact", "contact_id", "last_message_at"),
        Index("ix_conv_snoozed", "snoozed_until"),
    )
    rid: int | None = Field(default=None, primary_key=True)
    id: str = Field(sa_column=Column(String, unique=True, nullable=False))
    inbox_id: str = Field(foreign_key="inbox.id")
    channel_id: str = Field(foreign_key="channel.id")
    channel_kind: str  # copy of channel.kind: the per-kind views filter on it
    contact_id: str = Field(foreign_key="contact.id")
    reply_to: str | None = None  # the address/number/visitor id the customer writes from
    subject: str = ""
    preview: str = ""  # first line of the latest customer or agent message
    status: str = "open"
    snoozed_until: datetime | None = ts()
    assignee_id: str | None = Field(default=None, foreign_key="agent.id")
    team_id: str | None = Field(default=None, foreign_key="team.id")
    unread: bool = flag(True)
    waiting: bool = flag(True)  # the customer spoke last: waiting for us
    message_count: int = 0
    created_at: datetime | None = ts()
    last_message_at: datetime | None = ts()
    # The customer's last message (None: they have not written): the list's "last customer
    # message" and "oldest waiting first" orders (core/list_order.py, migration 0028).
    customer_at: datetime | None = ts()
    # The rowid of its newest searchable message, or higher (it only rises): the bound
    # PostgreSQL's operator-driven search orders by (queries._driven_scan). Kept by
    # search_index.index_new and a trigger for moved messages (migration 0030); each
    # database numbers its own rows, so it is never synced (core/changes.py).
    newest_message_rid: int | None = None
    first_response_at: datetime | None = ts()
    closed_at: datetime | None = ts()
    ticket_id: str | None = Field(default=None, foreign_key="ticket.id", index=True)
    meta: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # e.g. e-mail CC


class ConversationCount(SQLModel, table=True):
    """Derived, never synced: how many conversations have each combination of the columns
    the views and the list's filters select on. Triggers on `conversation` keep it
    (migration 0013); a view's count sums the few rows that match (queries.count_on)."""

    __tablename__ = "conversation_count"
    __table_args__ = {"sqlite_with_rowid": False}
    inbox_id: str = Field(primary_key=True)
    status: str = Field(primary_key=True)
    assignee_id: str = Field(primary_key=True)  # '' when unassigned
    channel_kind: str = Field(primary_key=True)
    unread: int = Field(primary_key=True)
    waiting: int = Field(primary_key=True)
    ticket: int = Field(primary_key=True)  # 1: has a ticket
    n: int


class Message(Changed, table=True):
    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_conv", "conversation_id", "rid"),
        Index("ix_message_external", "external_id"),
        Index("ix_message_failed", "created_at", sqlite_where=text("delivery_state = 'failed'")),
    )
    rid: int | None = Field(default=None, primary_key=True)
    id: str = Field(sa_column=Column(String, unique=True, nullable=False))
    conversation_id: str = Field(foreign_key="conversation.id")
    kind: str
    author_agent_id: str | None = Field(default=None, foreign_key="agent.id")
    author_contact_id: str | None = Field(default=None, foreign_key="contact.id")
    channel_id: str | None = Field(default=None, foreign_key="channel.id")
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    external_id: str | None = None  # e-mail Message-ID, Messenger mid, WhatsApp wamid, ...
    delivery_state: str | None = None
    delivery_error: str | None = None
    flags: str = ""  # space-separated: unparsed auto_reply bulk bounce denied ...
    meta: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # headers, cc
    created_at: datetime | None = ts()
    # Its place among messages of the same instant as the hub numbered it (None: numbered
    # here, by `rid`); a thread orders by (created_at, coalesce(ord, rid)). Migration 0029.
    ord: int | None = None
    # A chatflow bot wrote it (its name as shown): no agent and no contact is the author.
    author_bot: str | None = None


class MessageRef(SQLModel, table=True):
    """A Message-ID an incoming message refers to (In-Reply-To / References), so a message
    that arrives after a reply to it finds the reply's conversation (core/threading.py).
    Derived, never synced (migration 0015); a trigger drops the rows with their message."""

    __tablename__ = "message_ref"
    __table_args__ = (
        Index("ix_message_ref_message", "message_rid"),
        {"sqlite_with_rowid": False},
    )
    ref: str = Field(primary_key=True)
    message_rid: int = Field(primary_key=True)  # message.rid: local, like the data


class ReportCount(SQLModel, table=True):
    """Derived, never synced: report counters per UTC hour (`hour` = unix seconds // 3600),
    kept by the triggers of migration 0017; core/reports.py sums them. `metric` is opened,
    closed, in, reply, handled, delivery or a bot_* activity event, each also rolled up per
    UTC day as metric + "_day" (`hour` then holds the day number)."""

    __tablename__ = "report_count"
    __table_args__ = {"sqlite_with_rowid": False}
    metric: str = Field(primary_key=True)
    hour: int = Field(primary_key=True)
    inbox_id: str = Field(primary_key=True)
    channel_kind: str = Field(primary_key=True)
    agent_id: str = Field(primary_key=True)  # '' when no agent is counted
    detail: str = Field(primary_key=True)  # a delivery state, a chatflow[\x1fstep], or ''
    n: int


class ReportHandled(SQLModel, table=True):
    """Derived, never synced (migration 0017): an agent's first reply in a conversation
    (unix seconds); inserting one counts the conversation as handled by them."""

    __tablename__ = "report_handled"
    __table_args__ = {"sqlite_with_rowid": False}
    conversation_id: str = Field(primary_key=True)
    agent_id: str = Field(primary_key=True)
    at: int


class ReportConversation(SQLModel, table=True):
    """Derived, never synced (migration 0017): per conversation (its local rid), the first
    customer message and the first human reply after it, and the start of its open cycle.
    Times are unix seconds."""

    __tablename__ = "report_conversation"
    __table_args__ = (
        Index(
            "ix_report_conversation_agent",
            "first_reply_agent_id",
            "channel_kind",
            "first_response_s",
            "first_in_at",
            "inbox_id",
            "first_reply_at",  # migration 0022: business-hours first response reads it
        ),
    )
    rid: int = Field(primary_key=True)
    inbox_id: str
    channel_kind: str
    opened_at: int | None = None
    cycle_start: int | None = None
    first_in_at: int | None = None
    first_reply_at: int | None = None
    first_response_s: int | None = None  # first_reply_at - first_in_at
    first_reply_agent_id: str | None = None


class ReportCycle(SQLModel, table=True):
    """Derived, never synced (migration 0017): one row per close, from the start of the
    cycle it ends (creation or the reopen before) to the close. Times are unix seconds."""

    __tablename__ = "report_cycle"
    __table_args__ = (
        Index(
            "ix_report_cycle_agent",
            "agent_id",
            "channel_kind",
            "seconds",
            "closed_at",
            "inbox_id",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_rid: int
    closed_at: int
    opened_at: int | None = None
    seconds: int  # max(0, closed_at - opened_at)
    inbox_id: str
    channel_kind: str
    agent_id: str | None = None


class ConversationMerge(Changed, table=True):
    """Conversation `id` was merged into `into_id` (core/commands/merging.py) and deleted:
    its id still leads to the conversation that holds its messages."""

    __tablename__ = "conversation_merge"
    __table_args__ = (
        seq_key_index("conversation_merge"),
        Index("ix_conversation_merge_into", "into_id"),
    )
    seq: int = seq_key()
    id: str = Field(primary_key=True)
    into_id: str
    created_at: datetime | None = ts()


class Attachment(Changed, table=True):
    __tablename__ = "attachment"
    __table_args__ = (seq_key_index("attachment"),)
    seq: int = seq_key()
    id: str = Field(primary_key=True)
    message_id: str = Field(foreign_key="message.id", index=True)
    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    data: bytes | None = None  # stored bytes, or None when over the size limit / on disk
    path: str | None = None
    note: str | None = None  # e.g. "not stored: 31 MB is over the 25 MB limit"


class Notification(Changed, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_agent", "agent_id", "read_at"),
        seq_key_index("notification"),
    )
    seq: int = seq_key()
    id: str = Field(primary_key=True)
    agent_id: str = Field(foreign_key="agent.id")
    kind: str
    conversation_id: str | None = Field(default=None, foreign_key="conversation.id")
    message_id: str | None = Field(default=None, foreign_key="message.id")
    actor_id: str | None = Field(default=None, foreign_key="agent.id")
    text: str = ""
    created_at: datetime | None = ts()
    read_at: datetime | None = ts()


class Snippet(Changed, table=True):
    __tablename__ = "snippet"
    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))


class Tombstone(SQLModel, table=True):
    """A deleted row, for the change log (core/changes.py): which row, at which change, and
    what decides who may hear of it (the inbox of a conversation's rows, a notification's
    agent). One per row: deleting a row again moves its tombstone to the newer change."""

    __tablename__ = "tombstone"
    __table_args__ = (Index("ix_tombstone_seq", "seq", "table_name", "row_id"),)
    table_name: str = Field(primary_key=True)
    row_id: str = Field(primary_key=True)  # the id; a JSON list for a composite key
    seq: int
    inbox_id: str | None = None
    agent_id: str | None = None


class ReplicaState(SQLModel, table=True):
    """In a replica (a client's cache written only by core/changes.apply_changes): where
    its pull stands (`cursor`), saved in the transaction that applied the page."""

    __tablename__ = "replica_state"
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class AgentToken(SQLModel, table=True):
    """An agent's sign-in token for the hub (core/tokens.py), stored as its SHA-256 only.
    Hub-only: never in the change log."""

    __tablename__ = "agent_token"
    __table_args__ = (
        Index("ix_agent_token_hash", "token_hash", unique=True),
        Index("ix_agent_token_agent", "agent_id"),
    )
    id: str = Field(primary_key=True)
    agent_id: str = Field(foreign_key="agent.id")
    token_hash: str
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = ts()


class HubClient(SQLModel, table=True):
    """On the hub: the last mutation number applied for one client cache (hub/mutations.py)."""

    __tablename__ = "hub_client"
    client_id: str = Field(primary_key=True)
    agent_id: str
    last_mutation_id: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime | None = ts()


class HubMutation(SQLModel, table=True):
    """On the hub: the answer given to one mutation, for a retransmission after a lost ack."""

    __tablename__ = "hub_mutation"
    client_id: str = Field(primary_key=True)
    mutation_id: int = Field(primary_key=True)
    status: str  # ok | rejected
    result: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    seq: int | None = None


class PendingMutation(SQLModel, table=True):
    """In a client cache: a command the hub has not confirmed yet, in order (sync/)."""

    __tablename__ = "pending_mutation"
    __table_args__ = (Index("ix_pending_mutation_local_seq", "local_seq"),)
    mutation_id: int = Field(primary_key=True)
    name: str
    args: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    entity_id: str | None = None  # the client-minted id of what it creates
    local_seq: int | None = None  # the change number of its optimistic write in the cache
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class OutboxEntry(Changed, table=True):
    """A message waiting to leave. Written in the same transaction as the message."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: str = Field(primary_key=True)
    message_id: str = Field(sa_column=Column(String, unique=True, nullable=False))
    channel_id: str = Field(foreign_key="channel.id")
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = ts()
    last_error: str | None = None
    created_at: datetime | None = ts()
    # Set just before the message is handed to the provider (SMTP DATA, an API POST): an
    # entry still `sending` with this set may have arrived, so it is never resent silently.
    handed_over_at: datetime | None = ts()
    # The parts of a reply sent as several provider messages (Messenger, WhatsApp: the text,
    # then one per file) that were delivered, as JSON {"text" | "file:<attachment id>":
    # provider id}: a retry sends only the others.
    parts: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


class Draft(Changed, table=True):
    """A reply or comment an agent started and has not sent: theirs alone (no other agent's
    query reads it), one per agent and conversation, kept across restarts."""

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("agent_id", "conversation_id"),)
    id: str = Field(primary_key=True)
    agent_id: str = Field(foreign_key="agent.id")
    conversation_id: str = Field(foreign_key="conversation.id")
    mode: str = "reply"  # reply | comment
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    via_channel_id: str | None = None  # "continue by e-mail" on; a hint, checked on send
    # E-mail fields (composing.MailFields: to, cc, bcc, file paths, quote), JSON.
    meta: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


class Tag(Changed, table=True):
    """A label agents put on conversations ("billing", "vip"): lower-case, no spaces, unique.
    Everyone sees every tag (commands/tags.py)."""

    __tablename__ = "tag"
    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))


class ConversationTag(Changed, table=True):
    """A tag on a conversation. Its own id (not the pair) keys it in the change log, so a
    tombstone names nothing but an id."""

    __tablename__ = "conversation_tag"
    __table_args__ = (
        UniqueConstraint("conversation_id", "tag_id"),  # a row's tags, in the list's rows
        Index("ix_conversation_tag_tag", "tag_id", "conversation_id"),  # a tag's view
    )
    id: str = Field(primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id")
    tag_id: str = Field(foreign_key="tag.id")


class SyncState(Changed, table=True):
    """Where a channel's sync stands, e.g. per IMAP folder: UIDVALIDITY, UIDNEXT, MODSEQ."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("channel_id", "key"),)
    id: str = Field(primary_key=True)
    channel_id: str = Field(foreign_key="channel.id")
    key: str  # e.g. folder name
    state: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class Chatflow(Changed, table=True):
    """A chatflow of a chat channel (core/chatflows.py): a live chat's welcome and routing, or
    a bot's steps, with the pages it is shown on. `source` is the TOML an admin wrote;
    `spec` its checked, parsed form (JSON) that the runner reads."""

    __tablename__ = "chatflow"
    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, unique=True, nullable=False))
    channel_id: str = Field(foreign_key="channel.id", index=True)
    kind: str = "live_chat"  # live_chat | bot (kinds.CHATFLOW_KINDS)
    enabled: bool = flag(True)
    priority: int = 0  # the highest wins when several match a page
    source: str = Field(default="", sa_column=Column(Text, nullable=False))
    spec: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime | None = ts()


class BotSession(Changed, table=True):
    """Where a bot stands in one conversation (commands/bots.py): the question it waits on,
    the answers so far, and how the session ended."""

    __tablename__ = "bot_session"
    __table_args__ = (Index("ix_bot_session_idle", "status", "last_activity_at"),)
    id: str = Field(primary_key=True)
    conversation_id: str = Field(
        sa_column=Column(String, unique=True, nullable=False)
    )  # one session per conversation
    chatflow_id: str = Field(foreign_key="chatflow.id")
    status: str = "active"  # active | completed | handed_off | abandoned
    waiting_step: str | None = None  # the question whose answer comes next
    answers: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    retries: int = 0
    started_at: datetime | None = ts()
    last_activity_at: datetime | None = ts()
    ended_at: datetime | None = ts()


class ChatflowEvent(Changed, table=True):
    """One step of a bot session, for the bot report: started, step (done), completed,
    handed_off, abandoned (queries in core/chatflow_queries.py)."""

    __tablename__ = "chatflow_event"
    __table_args__ = (Index("ix_chatflow_event_flow", "chatflow_id", "kind", "step_id"),)
    id: str = Field(primary_key=True)
    chatflow_id: str = Field(foreign_key="chatflow.id")
    conversation_id: str
    kind: str
    step_id: str | None = None
    created_at: datetime | None = ts()


class KbArticle(Changed, table=True):
    """A knowledge base article: a title and the URL where it lives (its body, when given,
    is for search). Agents insert it into replies; bots offer it."""

    __tablename__ = "kb_article"
    id: str = Field(primary_key=True)
    title: str = Field(sa_column=Column(String, unique=True, nullable=False))
    url: str
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime | None = ts()
