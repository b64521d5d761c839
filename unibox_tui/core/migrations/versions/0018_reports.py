"""Report figures kept as they happen, so every report reads a few thousand rows, not 1M.

Three derived tables (never synced: not in core/changes.TABLES; a client cache computes its
own from the rows it holds), kept by triggers so every write path agrees (commands, ingest,
the demo's bulk insert, a cache written by core/changes.apply_changes):

- `report_count`: counters per UTC hour (`hour` = unix seconds // 3600), inbox, channel
  kind, agent ('' for none) and detail ('' or a delivery state, or a chatflow/step):
  `opened` (a conversation was created), `closed` (an activity line with event "closed"),
  `in` (a customer message), `reply` (a human reply: an outgoing message with an author
  agent and no "bot" key in its meta), `handled` (an agent's first reply in a
  conversation), `delivery` (outgoing messages by their current delivery state: an update moves one
  from the old state to the new), and any activity event starting with `bot_`
  (chatflows write bot_started, bot_completed, bot_handoff, bot_abandoned, bot_step with
  meta {"event", "chatflow", "step"}): detail is "chatflow" or "chatflow" + U+001F + "step".
  Each is rolled up per UTC day too, as metric + "_day" with `hour` holding the day number.
- `report_conversation`: per conversation, its first customer message and the first human
  reply after it (who, when, and the seconds between), and when its open cycle began.
- `report_handled`: which agent replied in which conversation, first when (its insert
  trigger counts `handled`).
- `report_cycle`: one row per close, with the start of the cycle it ends (the conversation's
  creation, or the reopen before it) and the seconds between.

Figures are counted in the inbox and channel kind the conversation had when the message was
written. Timestamps are whole unix seconds (a row without a time counts at 0: a trigger must
never make the write that fired it fail). Activity lines say what happened in their meta
(`{"event": "closed"}`); the lines written before this revision are recognised by their
text here, once.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import execute

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COUNT_KEY = ("metric", "hour", "inbox_id", "channel_kind", "agent_id", "detail")


def _bump(metric: str, m: str, at: str, agent: str, detail: str, by: str) -> str:
    """Add `by` to the counter of `metric` for message row `m` (NEW/OLD), in the inbox and
    channel kind of its conversation (one look-up; nothing when it has none)."""
    return (
        f"INSERT INTO report_count ({', '.join(COUNT_KEY)}, n) SELECT {metric}, "
        f"coalesce(unixepoch({at}), 0) / 3600, c.inbox_id, c.channel_kind, {agent}, {detail}, "
        f"{by} FROM conversation c WHERE c.id = {m}.conversation_id "
        f"ON CONFLICT ({', '.join(COUNT_KEY)}) DO UPDATE SET n = n + excluded.n;"
    )


HUMAN = (
    "{m}.kind = 'outgoing' AND {m}.author_agent_id IS NOT NULL AND "
    "json_extract({m}.meta, '$.bot') IS NULL"
)
EVENT = "json_extract(new.meta, '$.event')"
BOT_DETAIL = (
    "coalesce(json_extract(new.meta, '$.chatflow'), '') || CASE WHEN "
    "json_extract(new.meta, '$.step') IS NULL THEN '' ELSE char(31) || "
    "json_extract(new.meta, '$.step') END"
)
CONV_RID = "(SELECT rid FROM conversation WHERE id = new.conversation_id)"
# An agent's first reply in a conversation: a row in report_handled (its key refuses the
# second), whose insert trigger counts it; a lookup by key, not a scan of the thread.
HANDLED = (
    " INSERT OR IGNORE INTO report_handled (conversation_id, agent_id, at) VALUES "
    "(new.conversation_id, new.author_agent_id, coalesce(unixepoch(new.created_at), 0)); "
)

TRIGGERS = [
    "CREATE TRIGGER report_handled_insert AFTER INSERT ON report_handled BEGIN "
    "INSERT INTO report_count (metric, hour, inbox_id, channel_kind, agent_id, detail, n) "
    "SELECT 'handled', new.at / 3600, c.inbox_id, c.channel_kind, new.agent_id, '', 1 "
    "FROM conversation c WHERE c.id = new.conversation_id "
    "ON CONFLICT (metric, hour, inbox_id, channel_kind, agent_id, detail) "
    "DO UPDATE SET n = n + 1; END",
    # A conversation: its row of facts, and one more opened.
    "CREATE TRIGGER report_conversation_insert AFTER INSERT ON conversation BEGIN "
    "INSERT OR IGNORE INTO report_conversation (rid, inbox_id, channel_kind, opened_at, "
    "cycle_start) VALUES (new.rid, new.inbox_id, new.channel_kind, coalesce(unixepoch(new.created_at), 0), "
    "coalesce(unixepoch(new.created_at), 0)); "
    "INSERT INTO report_count (metric, hour, inbox_id, channel_kind, agent_id, detail, n) "
    "VALUES ('opened', coalesce(unixepoch(new.created_at), 0) / 3600, new.inbox_id, new.channel_kind, '', "
    "'', 1) ON CONFLICT (metric, hour, inbox_id, channel_kind, agent_id, detail) "
    "DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER report_conversation_move AFTER UPDATE OF inbox_id, channel_kind "
    "ON conversation BEGIN UPDATE report_conversation SET inbox_id = new.inbox_id, "
    "channel_kind = new.channel_kind WHERE rid = new.rid; END",
    "CREATE TRIGGER report_conversation_delete AFTER DELETE ON conversation BEGIN "
    "DELETE FROM report_conversation WHERE rid = old.rid; END",
    # A customer message.
    "CREATE TRIGGER report_message_in AFTER INSERT ON message WHEN new.kind = 'incoming' BEGIN "
    + _bump("'in'", "new", "new.created_at", "''", "''", "1")
    + " UPDATE report_conversation SET first_in_at = coalesce(unixepoch(new.created_at), 0) "
    f"WHERE rid = {CONV_RID} AND (first_in_at IS NULL OR first_in_at > "
    "coalesce(unixepoch(new.created_at), 0)); END",
    # A human reply: counted for its author; the first in its conversation for that author
    # counts the conversation as handled; the first after the customer's first message is the
    # conversation's first response.
    "CREATE TRIGGER report_message_reply AFTER INSERT ON message WHEN "
    + HUMAN.format(m="new")
    + " BEGIN "
    + _bump("'reply'", "new", "new.created_at", "new.author_agent_id", "''", "1")
    + HANDLED
    + "UPDATE report_conversation SET first_reply_at = coalesce(unixepoch(new.created_at), 0), "
    "first_response_s = coalesce(unixepoch(new.created_at), 0) - first_in_at, "
    f"first_reply_agent_id = new.author_agent_id WHERE rid = {CONV_RID} AND "
    "first_reply_at IS NULL AND first_in_at <= coalesce(unixepoch(new.created_at), 0); END",
    # Outgoing messages by delivery state (bots' too).
    "CREATE TRIGGER report_message_delivery AFTER INSERT ON message WHEN "
    "new.kind = 'outgoing' BEGIN "
    + _bump("'delivery'", "new", "new.created_at", "''", "coalesce(new.delivery_state, '')", "1")
    + " END",
    "CREATE TRIGGER report_message_delivery_update AFTER UPDATE OF delivery_state ON message "
    "WHEN new.kind = 'outgoing' AND old.delivery_state IS NOT new.delivery_state BEGIN "
    + _bump("'delivery'", "old", "old.created_at", "''", "coalesce(old.delivery_state, '')", "-1")
    + _bump("'delivery'", "new", "new.created_at", "''", "coalesce(new.delivery_state, '')", "1")
    + " END",
    # A message taken back (an unsent reply) leaves the counts it was in.
    "CREATE TRIGGER report_message_delete AFTER DELETE ON message WHEN "
    "old.kind IN ('incoming', 'outgoing') BEGIN "
    "UPDATE report_count SET n = n - 1 WHERE metric = 'delivery' AND "
    "hour = coalesce(unixepoch(old.created_at), 0) / 3600 AND detail = coalesce(old.delivery_state, '') "
    "AND old.kind = 'outgoing' AND inbox_id = (SELECT inbox_id FROM conversation WHERE "
    "id = old.conversation_id) AND channel_kind = (SELECT channel_kind FROM conversation "
    "WHERE id = old.conversation_id) AND agent_id = ''; "
    "UPDATE report_count SET n = n - 1 WHERE metric = CASE old.kind WHEN 'incoming' THEN 'in' "
    "ELSE 'reply' END AND hour = coalesce(unixepoch(old.created_at), 0) / 3600 AND detail = '' AND "
    "(old.kind = 'incoming' OR (" + HUMAN.format(m="old") + ")) AND "
    "agent_id = CASE old.kind WHEN 'incoming' THEN '' ELSE old.author_agent_id END AND "
    "inbox_id = (SELECT inbox_id FROM conversation WHERE id = old.conversation_id) AND "
    "channel_kind = (SELECT channel_kind FROM conversation WHERE id = old.conversation_id); END",
    # Activity events: a close ends a cycle, a reopen starts one, bot events are counted.
    "CREATE TRIGGER report_activity AFTER INSERT ON message WHEN new.kind = 'activity' AND "
    f"{EVENT} IS NOT NULL BEGIN "
    f"INSERT INTO report_cycle (conversation_rid, closed_at, opened_at, seconds, inbox_id, "
    "channel_kind, agent_id) SELECT r.rid, coalesce(unixepoch(new.created_at), 0), r.cycle_start, "
    "max(0, coalesce(unixepoch(new.created_at) - r.cycle_start, 0)), "
    f"r.inbox_id, r.channel_kind, new.author_agent_id FROM report_conversation r WHERE "
    f"r.rid = {CONV_RID} AND {EVENT} = 'closed'; "
    f"UPDATE report_conversation SET cycle_start = coalesce(unixepoch(new.created_at), 0) WHERE "
    f"rid = {CONV_RID} AND {EVENT} = 'reopened'; "
    "INSERT INTO report_count (metric, hour, inbox_id, channel_kind, agent_id, detail, n) "
    f"SELECT {EVENT}, coalesce(unixepoch(new.created_at), 0) / 3600, c.inbox_id, c.channel_kind, "
    "'', "
    f"CASE WHEN {EVENT} LIKE 'bot\\_%' ESCAPE '\\' THEN {BOT_DETAIL} ELSE '' END, 1 "
    "FROM conversation c WHERE c.id = new.conversation_id AND "
    f"({EVENT} = 'closed' OR {EVENT} LIKE 'bot\\_%' ESCAPE '\\') "
    "ON CONFLICT (metric, hour, inbox_id, channel_kind, agent_id, detail) "
    "DO UPDATE SET n = n + 1; END",
]
# Every hourly counter is rolled up per UTC day too (metric + '_day', `hour` holding the day
# number): a long range sums the days it covers whole and the hours at its two ends
# (core/reports.py), so 180 days read a few thousand rows instead of 100k+.
_DAY_KEY = "new.metric || '_day', new.hour / 24, new.inbox_id, new.channel_kind, new.agent_id"
TRIGGERS += [
    "CREATE TRIGGER report_count_day_insert AFTER INSERT ON report_count WHEN "
    "new.metric NOT LIKE '%\\_day' ESCAPE '\\' BEGIN INSERT INTO report_count "
    f"({', '.join(COUNT_KEY)}, n) VALUES ({_DAY_KEY}, new.detail, new.n) "
    f"ON CONFLICT ({', '.join(COUNT_KEY)}) DO UPDATE SET n = n + excluded.n; END",
    "CREATE TRIGGER report_count_day_update AFTER UPDATE OF n ON report_count WHEN "
    "new.metric NOT LIKE '%\\_day' ESCAPE '\\' BEGIN UPDATE report_count SET "
    "n = n + new.n - old.n WHERE metric = new.metric || '_day' AND hour = new.hour / 24 AND "
    "inbox_id = new.inbox_id AND channel_kind = new.channel_kind AND "
    "agent_id = new.agent_id AND detail = new.detail; END",
]
TRIGGER_NAMES = [t.split()[2] for t in TRIGGERS]

# Activity lines written before events were recorded, recognised by their text (ours).
OLD_EVENTS = (
    ("closed", "kind = 'activity' AND body LIKE '% closed this'"),
    (
        "reopened",
        "kind = 'activity' AND (body LIKE '% reopened this' OR "
        "body = 'Reopened: the customer wrote again')",
    ),
)

BACKFILL = [
    "INSERT INTO report_conversation (rid, inbox_id, channel_kind, opened_at, cycle_start, "
    "first_in_at) SELECT c.rid, c.inbox_id, c.channel_kind, coalesce(unixepoch(c.created_at), 0), "
    "coalesce(unixepoch(c.created_at), 0), (SELECT unixepoch(min(m.created_at)) FROM message m WHERE "
    "m.conversation_id = c.id AND m.kind = 'incoming') FROM conversation c",
    "UPDATE report_conversation SET (first_reply_at, first_reply_agent_id) = (SELECT "
    "coalesce(unixepoch(m.created_at), 0), m.author_agent_id FROM conversation c JOIN message m ON "
    "m.conversation_id = c.id WHERE c.rid = report_conversation.rid AND "
    + HUMAN.format(m="m")
    + " AND coalesce(unixepoch(m.created_at), 0) >= report_conversation.first_in_at "
    "ORDER BY m.created_at, m.rid LIMIT 1) WHERE first_in_at IS NOT NULL",
    "UPDATE report_conversation SET first_response_s = first_reply_at - first_in_at "
    "WHERE first_reply_at IS NOT NULL",
    "INSERT INTO report_count SELECT 'opened', coalesce(unixepoch(created_at), 0) / 3600, inbox_id, "
    "channel_kind, '', '', count(*) FROM conversation GROUP BY 2, 3, 4",
    "INSERT INTO report_count SELECT 'in', coalesce(unixepoch(m.created_at), 0) / 3600, c.inbox_id, "
    "c.channel_kind, '', '', count(*) FROM message m JOIN conversation c ON "
    "c.id = m.conversation_id WHERE m.kind = 'incoming' GROUP BY 2, 3, 4",
    "INSERT INTO report_count SELECT 'reply', coalesce(unixepoch(m.created_at), 0) / 3600, c.inbox_id, "
    "c.channel_kind, m.author_agent_id, '', count(*) FROM message m JOIN conversation c ON "
    "c.id = m.conversation_id WHERE " + HUMAN.format(m="m") + " GROUP BY 2, 3, 4, 5",
    "INSERT INTO report_handled SELECT m.conversation_id, m.author_agent_id, "
    "min(coalesce(unixepoch(m.created_at), 0)) FROM message m WHERE "
    + HUMAN.format(m="m")
    + " GROUP BY 1, 2",
    "INSERT INTO report_count SELECT 'handled', h.at / 3600, c.inbox_id, c.channel_kind, "
    "h.agent_id, '', count(*) FROM report_handled h JOIN conversation c ON "
    "c.id = h.conversation_id GROUP BY 2, 3, 4, 5",
    "INSERT INTO report_count SELECT 'delivery', coalesce(unixepoch(m.created_at), 0) / 3600, c.inbox_id, "
    "c.channel_kind, '', coalesce(m.delivery_state, ''), count(*) FROM message m JOIN "
    "conversation c ON c.id = m.conversation_id WHERE m.kind = 'outgoing' GROUP BY 2, 3, 4, 6",
    "INSERT INTO report_count SELECT 'closed', coalesce(unixepoch(m.created_at), 0) / 3600, c.inbox_id, "
    "c.channel_kind, '', '', count(*) FROM message m JOIN "
    "conversation c ON c.id = m.conversation_id WHERE m.kind = 'activity' AND "
    "json_extract(m.meta, '$.event') = 'closed' GROUP BY 2, 3, 4",
    "INSERT INTO report_count SELECT metric || '_day', hour / 24, inbox_id, channel_kind, "
    "agent_id, detail, sum(n) FROM report_count GROUP BY 1, 2, 3, 4, 5, 6",
    # Each close ends the cycle that began at the latest reopen before it (or the creation).
    "INSERT INTO report_cycle (conversation_rid, closed_at, opened_at, seconds, inbox_id, "
    "channel_kind, agent_id) SELECT c.rid, coalesce(unixepoch(m.created_at), 0), coalesce((SELECT "
    "max(coalesce(unixepoch(o.created_at), 0)) FROM message o WHERE o.conversation_id = c.id AND "
    "o.kind = 'activity' AND json_extract(o.meta, '$.event') = 'reopened' AND "
    "o.created_at <= m.created_at), coalesce(unixepoch(c.created_at), 0)), 0, c.inbox_id, "
    "c.channel_kind, m.author_agent_id FROM message m JOIN conversation c ON "
    "c.id = m.conversation_id WHERE m.kind = 'activity' AND "
    "json_extract(m.meta, '$.event') = 'closed'",
    "UPDATE report_cycle SET seconds = max(0, coalesce(closed_at - opened_at, 0))",
    "UPDATE report_conversation SET cycle_start = coalesce((SELECT max(coalesce(unixepoch(o.created_at), 0)) "
    "FROM conversation c JOIN message o ON o.conversation_id = c.id WHERE "
    "c.rid = report_conversation.rid AND o.kind = 'activity' AND "
    "json_extract(o.meta, '$.event') = 'reopened'), cycle_start)",
]


def upgrade() -> None:
    op.create_table(
        "report_handled",
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "agent_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_count",
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("channel_kind", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*COUNT_KEY),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "report_conversation",
        sa.Column("rid", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("channel_kind", sa.String(), nullable=False),
        sa.Column("opened_at", sa.Integer(), nullable=True),
        sa.Column("cycle_start", sa.Integer(), nullable=True),
        sa.Column("first_in_at", sa.Integer(), nullable=True),
        sa.Column("first_reply_at", sa.Integer(), nullable=True),
        sa.Column("first_response_s", sa.Integer(), nullable=True),
        sa.Column("first_reply_agent_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("rid"),
    )
    # In the order the first-response report reads: by (agent, channel kind), each group's
    # durations already sorted, so neither SQLite nor Python sorts 100k values.
    op.create_index(
        "ix_report_conversation_agent",
        "report_conversation",
        ["first_reply_agent_id", "channel_kind", "first_response_s", "first_in_at", "inbox_id"],
    )
    op.create_table(
        "report_cycle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_rid", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("channel_kind", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_report_cycle_agent",
        "report_cycle",
        ["agent_id", "channel_kind", "seconds", "closed_at", "inbox_id"],
    )
    # Failed deliveries with their reasons are few: a partial index finds them.
    op.create_index(
        "ix_message_failed",
        "message",
        ["created_at"],
        sqlite_where=sa.text("delivery_state = 'failed'"),
        postgresql_where=sa.text("delivery_state = 'failed'"),
    )
    for event, where in OLD_EVENTS:
        execute(
            f"UPDATE message SET meta = json_set(coalesce(nullif(meta, ''), '{{}}'), "
            f"'$.event', '{event}') WHERE {where}"
        )
    for statement in BACKFILL:
        execute(statement)
    for trigger in TRIGGERS:
        execute(trigger)


def downgrade() -> None:
    for name in TRIGGER_NAMES:
        execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_message_failed", table_name="message")
    op.drop_table("report_cycle")
    op.drop_table("report_conversation")
    op.drop_table("report_count")
    op.drop_table("report_handled")
