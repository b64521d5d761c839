"""`conversation.customer_at`: when the customer last wrote (NULL: not yet), the key of the
list's "last customer message" and "oldest waiting first" orders (core/list_order.py).

`last_message_at` moves with every reply, comment and activity line, so it cannot say how
long a customer has been waiting. The column is kept by the one place a customer's message
comes in (core/commands/incoming.py) and by merging; here it is filled from the messages
already stored (one lookup per message through ix_message_conv).

The list indexes carry it at their tail (after `inbox_id`), so a list sorted by it is one scan
of the view's index and a sort, with no table row read per conversation (the open view of the
100k demo sorted by it: ~50-60 ms a page reading rows, a few ms from the index,
benchmarks/list_orders.py). An incoming message changes `last_message_at`, which every list
index is keyed on, so those entries are rewritten anyway: the tail costs space, not writes.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


TAIL = ["unread", "waiting", "ticket_id", "inbox_id"]
INDEXES = {
    "ix_conv_time": ["last_message_at", "rid", *TAIL],
    "ix_conv_status": ["status", "last_message_at", "rid", *TAIL],
    "ix_conv_inbox": ["inbox_id", "status", "last_message_at", "rid", *TAIL[:-1]],
    "ix_conv_assignee": ["assignee_id", "status", "last_message_at", "rid", *TAIL],
    "ix_conv_kind": ["channel_kind", "status", "last_message_at", "rid", *TAIL],
}


def _indexes(extra: list[str]) -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="conversation")
        op.create_index(name, "conversation", [*columns, *extra], unique=False)


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default: SQLite adds it in place, no table copy).
    op.add_column("conversation", sa.Column("customer_at", sa.String(26), nullable=True))
    op.execute(
        "UPDATE conversation SET customer_at = (SELECT max(m.created_at) FROM message m "
        "WHERE m.conversation_id = conversation.id AND m.kind = 'incoming')"
    )
    _indexes(["customer_at"])


def downgrade() -> None:
    _indexes([])
    # In place (SQLite >= 3.35, PostgreSQL): a batch copy of the table would trip the
    # triggers that name it.
    op.execute("ALTER TABLE conversation DROP COLUMN customer_at")
