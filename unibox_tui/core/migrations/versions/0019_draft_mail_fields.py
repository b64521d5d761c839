"""Drafts keep the e-mail composer's fields (To, Cc, Bcc, attached file paths, the quote
toggle) as JSON in `draft.meta`. Self-contained: one column with a default.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite takes one with a default in place; no table copy).
    op.add_column("draft", sa.Column("meta", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("draft") as batch:
        batch.drop_column("meta")
