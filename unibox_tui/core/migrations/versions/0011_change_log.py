"""The change log (core/changes.py): every table a client holds carries `seq`/`updated_at`,
deletes leave tombstones, and a replica keeps its pull cursor.

- team_member, inbox_access and setting get `seq` and `updated_at`.
- contact, contact_identity, ticket, attachment and notification index `(seq, id)` instead
  of `(seq)`: one change can hold thousands of their rows, and the log pages through it by id.
- `tombstone`: one row per deleted row (table, id, change number, inbox or agent scope).
- `replica_state`: a client cache's own pull cursor.
- Rows written before this revision without a change number (seq 0) take one new change
  number, so a replay from zero carries them.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NEW_COLUMNS = ("team_member", "inbox_access", "setting")
KEYED = ("contact", "contact_identity", "ticket", "attachment", "notification")
LOGGED = (
    "agent",
    "team",
    "team_member",
    "inbox",
    "inbox_access",
    "channel",
    "contact",
    "contact_identity",
    "ticket",
    "conversation",
    "message",
    "attachment",
    "notification",
    "snippet",
    "setting",
)


def upgrade() -> None:
    for table in NEW_COLUMNS:
        op.add_column(table, sa.Column("updated_at", sa.String(length=26), nullable=True))
        op.add_column(table, sa.Column("seq", sa.Integer(), nullable=False, server_default="0"))
        op.create_index(f"ix_{table}_seq", table, ["seq"], unique=False)
    for table in KEYED:
        op.drop_index(f"ix_{table}_seq", table_name=table)
        op.create_index(f"ix_{table}_seq", table, ["seq", "id"], unique=False)
    op.create_table(
        "tombstone",
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("row_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=True),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("table_name", "row_id"),
    )
    op.create_index("ix_tombstone_seq", "tombstone", ["seq", "table_name", "row_id"])
    op.create_table(
        "replica_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    unstamped = " UNION ALL ".join(f"SELECT 1 FROM {t} WHERE seq = 0" for t in LOGGED)
    op.execute(f"UPDATE sequence SET value = value + 1 WHERE name = 'seq' AND EXISTS ({unstamped})")
    for table in LOGGED:
        op.execute(
            f"UPDATE {table} SET seq = (SELECT value FROM sequence WHERE name = 'seq') "
            "WHERE seq = 0"
        )
