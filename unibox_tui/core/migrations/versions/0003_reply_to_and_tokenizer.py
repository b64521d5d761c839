"""Replies go where the customer wrote from; search keeps combining marks inside words.

- conversation.reply_to: the identity value (address, number, visitor id) the customer uses
  on this conversation. A contact can have several e-mail addresses or numbers; a reply must
  go to the one they wrote from, not to whichever was stored first. Filled for existing
  conversations from their contact's identity of the channel's kind.
- The FTS tables are rebuilt with a tokenizer that keeps combining marks (Unicode M*) inside
  tokens, so Devanagari, Bengali, Tamil, ... words are not split at every vowel sign.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import is_postgres

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TOKENIZE = "tokenize = \"unicode61 remove_diacritics 2 categories 'L* N* Co M*'\""


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("reply_to", sa.String(), nullable=True))
    # (PostgreSQL tables have no rowid: there the identity's id, a UUIDv7, is its age.)
    first = "i.id" if is_postgres() else "i.rowid"
    op.execute(
        f"""UPDATE conversation SET reply_to = (
             SELECT i.value FROM contact_identity i WHERE i.contact_id = conversation.contact_id
             AND i.kind = CASE conversation.channel_kind WHEN 'form' THEN 'email'
                          ELSE conversation.channel_kind END
             ORDER BY {first} LIMIT 1)"""
    )
    if is_postgres():
        return  # the tokenizer is FTS5's; PostgreSQL's tables (0002) stay as they are
    op.execute("DROP TABLE message_fts")
    op.execute(
        f"CREATE VIRTUAL TABLE message_fts USING fts5("
        f"body, content='message', content_rowid='rid', {TOKENIZE})"
    )
    op.execute(
        "INSERT INTO message_fts(rowid, body) SELECT rid, body FROM message WHERE kind != 'activity'"
    )
    op.execute("DROP TABLE conversation_fts")
    op.execute(f"CREATE VIRTUAL TABLE conversation_fts USING fts5(subject, contact, {TOKENIZE})")
    op.execute(
        "INSERT INTO conversation_fts(rowid, subject, contact) SELECT c.rid, c.subject, "
        "(SELECT name || ' ' || coalesce(company, '') FROM contact WHERE id = c.contact_id) "
        "FROM conversation c"
    )
