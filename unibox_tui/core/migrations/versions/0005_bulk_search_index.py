"""New messages and conversations enter the search index once per transaction, in bulk.

The per-row insert triggers of migration 0002 are dropped; `Tx.finish` indexes what the
transaction inserted (core/search_index.py says why: FTS5 behind a row trigger was a third
of an initial sync's write time). The update and delete triggers stay.

Revision ID: 0005
Revises: 0004
"""

from unibox_tui.core.migrations.postgres import execute

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute("DROP TRIGGER IF EXISTS message_fts_insert")
    execute("DROP TRIGGER IF EXISTS conversation_fts_insert")
