"""Threading that does not depend on arrival order, and merged conversations.

- `message_ref`: the Message-IDs an incoming message refers to (In-Reply-To, References),
  one row each, keyed by the id referred to. With it, a message arriving after a reply to it
  finds the reply's conversation (core/threading.py). Derived data of the workspace that
  ingests: never synced (a client cache never threads). A trigger drops a message's rows
  with the message. Mail stored before this revision kept no references: there is nothing
  to fill it from.
- `conversation_merge`: a conversation merged into another (core/commands/merging.py) is
  deleted with a tombstone and leaves this row, so its id still leads somewhere (the CLI's
  `conversations show`, the TUI, a customer's reply carrying its thread token). Synced.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import execute

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Idempotent: a file whose revision was set back (tests/core/test_demo.py) runs it again.
    if "message_ref" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "message_ref",
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("message_rid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ref", "message_rid"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_message_ref_message", "message_ref", ["message_rid"])
    execute(
        "CREATE TRIGGER message_ref_delete AFTER DELETE ON message "
        "BEGIN DELETE FROM message_ref WHERE message_rid = old.rid; END"
    )
    op.create_table(
        "conversation_merge",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("into_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversation_merge_seq", "conversation_merge", ["seq", "id"])
    op.create_index("ix_conversation_merge_into", "conversation_merge", ["into_id"])


def downgrade() -> None:
    execute("DROP TRIGGER IF EXISTS message_ref_delete")
    op.drop_table("conversation_merge")
    op.drop_table("message_ref")
