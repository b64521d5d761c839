"""The outbox records which parts of a reply were delivered: a Messenger or WhatsApp reply
with files goes out as several messages (the text, then one per file), and when one of them
fails after others went out, trying again sends only what did not (never a part twice).
`outbox.parts` is JSON, part -> the provider's id for it ({"text": mid, "file:<attachment
id>": mid}). Self-contained: one column with a default.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite takes one with a default in place; no table copy).
    op.add_column("outbox", sa.Column("parts", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parts")
