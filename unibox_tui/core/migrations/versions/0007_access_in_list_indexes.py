"""List indexes carry `inbox_id` too, so a view filtered by the reader's inboxes (core/access.py)
is still answered from the index alone: an agent who may see some inboxes only must not read
a table row per conversation to count a view (135 ms at 100k before; see
benchmarks/access_reads.py).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TAIL = ["unread", "waiting", "ticket_id", "inbox_id"]
INDEXES = {
    "ix_conv_time": ["last_message_at", "rid"],
    "ix_conv_status": ["status", "last_message_at", "rid"],
    "ix_conv_assignee": ["assignee_id", "status", "last_message_at", "rid"],
    "ix_conv_kind": ["channel_kind", "status", "last_message_at", "rid"],
}


def upgrade() -> None:
    # ix_conv_inbox leads with inbox_id already.
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="conversation")
        op.create_index(name, "conversation", [*columns, *TAIL], unique=False)
