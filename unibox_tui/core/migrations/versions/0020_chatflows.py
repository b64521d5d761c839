"""Chatflows, bot sessions and their events, knowledge base articles; an agent's meeting
link; a message's bot author. All synced like other tables (`seq`, `updated_at`;
core/changes.py). Self-contained: four new tables and two nullable columns.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import BOOL

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _changed() -> list[sa.Column]:
    return [
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("agent", sa.Column("meeting_link", sa.String(), nullable=True))
    op.add_column("message", sa.Column("author_bot", sa.String(), nullable=True))
    op.create_table(
        "chatflow",
        *_changed(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("enabled", BOOL, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["channel.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_chatflow_seq"), "chatflow", ["seq"], unique=False)
    op.create_index(op.f("ix_chatflow_channel_id"), "chatflow", ["channel_id"], unique=False)
    op.create_table(
        "bot_session",
        *_changed(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("chatflow_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("waiting_step", sa.String(), nullable=True),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.String(length=26), nullable=True),
        sa.Column("last_activity_at", sa.String(length=26), nullable=True),
        sa.Column("ended_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(["chatflow_id"], ["chatflow.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index(op.f("ix_bot_session_seq"), "bot_session", ["seq"], unique=False)
    op.create_index(
        "ix_bot_session_idle", "bot_session", ["status", "last_activity_at"], unique=False
    )
    op.create_table(
        "chatflow_event",
        *_changed(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("chatflow_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("step_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(["chatflow_id"], ["chatflow.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_chatflow_event_seq"), "chatflow_event", ["seq"], unique=False)
    op.create_index(
        "ix_chatflow_event_flow", "chatflow_event", ["chatflow_id", "kind", "step_id"], unique=False
    )
    op.create_table(
        "kb_article",
        *_changed(),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("title"),
    )
    op.create_index(op.f("ix_kb_article_seq"), "kb_article", ["seq"], unique=False)


def downgrade() -> None:
    op.drop_table("kb_article")
    op.drop_table("chatflow_event")
    op.drop_table("bot_session")
    op.drop_table("chatflow")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("author_bot")
    with op.batch_alter_table("agent") as batch:
        batch.drop_column("meeting_link")
