"""`conversation.newest_message_rid`: the rowid of the conversation's newest searchable
message (any kind but 'activity'), or higher. PostgreSQL's operator-driven search
(queries._driven_scan) reads the conversations an operator names newest match first, and
needs for each an upper bound of its matches' rowids; it took it with a probe of the
message index per conversation (`refund from:okafor` on the 100k demo: 2,922 probes,
~15 ms of a ~60 ms search).

Kept where the search index is (core/search_index.index_new: new messages raise it at each
write's end, and a rebuild computes it), and by the trigger below when a message moves to
another conversation (merging; a cache applying a merge). It only ever rises: a message
deleted or moved away leaves it high, which a bound allows. Filled here from the stored
messages (one lookup per conversation through ix_message_conv).

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import execute

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

# `AFTER UPDATE OF` fires whenever the column is in the SET list (a cache's upsert sets
# every column): the WHEN keeps it to real moves (migration 0025 says why).
MOVED = (
    "CREATE TRIGGER message_moved_newest AFTER UPDATE OF conversation_id ON message "
    "WHEN old.conversation_id IS NOT new.conversation_id AND new.kind != 'activity' BEGIN "
    "UPDATE conversation SET newest_message_rid = new.rid WHERE id = new.conversation_id "
    "AND (newest_message_rid IS NULL OR newest_message_rid < new.rid); END"
)


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default: SQLite adds it in place, no table copy).
    op.add_column("conversation", sa.Column("newest_message_rid", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE conversation SET newest_message_rid = (SELECT max(m.rid) FROM message m "
        "WHERE m.conversation_id = conversation.id AND m.kind != 'activity')"
    )
    execute(MOVED)


def downgrade() -> None:
    execute("DROP TRIGGER IF EXISTS message_moved_newest")
    op.execute("ALTER TABLE conversation DROP COLUMN newest_message_rid")
