"""View counts from a small counter table kept by triggers, not from 100k index entries.

`conversation_count` holds, for each combination of the columns the views and the list's
filters select on (inbox, status, assignee, channel kind, unread, waiting, has a ticket), how
many conversations have it. A view's count is then a sum over the few rows that match the
view and the reader's inboxes (core/queries.py `count_on`): well under a millisecond at 100k
conversations, where counting "Closed" or "Everything" through an index took 10-25 ms.

Triggers keep it, so every write path agrees: commands, ingest, bulk updates, the demo, and
a client cache written by core/changes.apply_changes (which inserts, updates and deletes
conversation rows; it never REPLACEs them, which would delete without the delete trigger).
It is derived data: not in core/changes.TABLES, never synced; a cache computes its own.
This migration fills it from the conversations already stored.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import execute, is_postgres

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KEY = ("inbox_id", "status", "assignee_id", "channel_kind", "unread", "waiting", "ticket")


def _exprs(row: str) -> list[str]:
    """The counter key of a conversation row (`new` or `old` in a trigger, or a table alias)."""
    return [
        f"{row}.inbox_id",
        f"{row}.status",
        f"coalesce({row}.assignee_id, '')",
        f"{row}.channel_kind",
        f"{row}.unread",
        f"{row}.waiting",
        f"({row}.ticket_id IS NOT NULL)",
    ]


def _values(row: str) -> str:
    return ", ".join(_exprs(row))


def _match(row: str) -> str:
    return " AND ".join(f"{k} = {v}" for k, v in zip(KEY, _exprs(row), strict=True))


_ADD = (
    f"INSERT INTO conversation_count ({', '.join(KEY)}, n) VALUES ({_values('new')}, 1) "
    f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET n = n + 1;"
)
_REMOVE = f"UPDATE conversation_count SET n = n - 1 WHERE {_match('old')};"
_CHANGED = " OR ".join(
    [
        *(
            f"old.{c} IS NOT new.{c}"
            for c in ("inbox_id", "status", "assignee_id", "channel_kind", "unread", "waiting")
        ),
        "(old.ticket_id IS NULL) != (new.ticket_id IS NULL)",
    ]
)

TRIGGERS = [
    f"CREATE TRIGGER conversation_count_insert AFTER INSERT ON conversation BEGIN {_ADD} END",
    f"CREATE TRIGGER conversation_count_delete AFTER DELETE ON conversation BEGIN {_REMOVE} END",
    # Only when a counted column really changes: most updates (a new message's preview and
    # time, a follow-up that leaves the conversation open and unread) touch no counter row.
    "CREATE TRIGGER conversation_count_update AFTER UPDATE OF inbox_id, status, assignee_id, "
    f"channel_kind, unread, waiting, ticket_id ON conversation WHEN {_CHANGED} "
    f"BEGIN {_REMOVE} {_ADD} END",
]

# The counters of the conversations stored (also core/derived.py: a cache's first fill).
BACKFILL = (
    f"INSERT INTO conversation_count ({', '.join(KEY)}, n) "
    f"SELECT {_values('c')}, count(*) FROM conversation c GROUP BY 1, 2, 3, 4, 5, 6, 7"
)


def _typed(sql: str) -> str:
    """`ticket` is an integer column: PostgreSQL does not store a boolean in it unasked."""
    if not is_postgres():
        return sql
    return sql.replace("ticket_id IS NOT NULL)", "ticket_id IS NOT NULL)::int")


def upgrade() -> None:
    op.create_table(
        "conversation_count",
        sa.Column("inbox_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("assignee_id", sa.String(), nullable=False),  # '' when unassigned
        sa.Column("channel_kind", sa.String(), nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=False),  # 1: has a ticket
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY),
        sqlite_with_rowid=False,
    )
    for trigger in TRIGGERS:
        execute(_typed(trigger))
    execute(_typed(BACKFILL))


def downgrade() -> None:
    for name in ("insert", "delete", "update"):
        execute(f"DROP TRIGGER IF EXISTS conversation_count_{name}")
    op.drop_table("conversation_count")
