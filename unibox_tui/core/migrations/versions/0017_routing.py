"""Routing: `routing_rule` (how an inbox, or one channel of it, assigns new conversations;
its business hours; tickets by rule), synced like other settings, and `routing_cursor`
(round robin's last pick per rule), which stays where conversations are created and is
never synced. Self-contained: two new tables, nothing else changes.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import BOOL

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_rule",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("inbox_id", sa.String(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("rules", sa.String(), nullable=True),
        sa.Column("agent_ids", sa.Text(), nullable=False),
        sa.Column("team_ids", sa.Text(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=True),
        sa.Column("only_available", BOOL, nullable=False),
        sa.Column("tickets", BOOL, nullable=True),
        sa.Column("hours", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_routing_rule_seq"), "routing_rule", ["seq"], unique=False)
    op.create_index(op.f("ix_routing_rule_inbox_id"), "routing_rule", ["inbox_id"], unique=False)
    op.create_index(
        op.f("ix_routing_rule_channel_id"), "routing_rule", ["channel_id"], unique=False
    )
    op.create_table(
        "routing_cursor",
        sa.Column("rule_id", sa.String(), nullable=False),
        sa.Column("last_agent_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )


def downgrade() -> None:
    op.drop_table("routing_cursor")
    op.drop_table("routing_rule")
