"""Tags on conversations: `tag` (a name, unique) and `conversation_tag` (which conversation
has which tag). Both are synced like other tables (`seq`, `updated_at`; core/changes.py).
Self-contained: two new tables, nothing else changes.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_tag_seq"), "tag", ["seq"], unique=False)
    op.create_table(
        "conversation_tag",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("tag_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "tag_id"),
    )
    op.create_index(op.f("ix_conversation_tag_seq"), "conversation_tag", ["seq"], unique=False)
    op.create_index(
        "ix_conversation_tag_tag", "conversation_tag", ["tag_id", "conversation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("conversation_tag")
    op.drop_table("tag")
