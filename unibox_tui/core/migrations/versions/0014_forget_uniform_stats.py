"""Forget the query-planner statistics a demo build recorded for the external-id and change-
number indexes (core/demo.py FORGET_UNIFORM_STATS): they said those indexes select nothing,
so an incoming message's duplicate check scanned every message (~200 ms at 1M messages).

Revision ID: 0014
Revises: 0013
"""

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # SQLite's planner statistics: nothing to forget elsewhere
    has_stats = bind.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).first()
    if has_stats:
        op.execute(
            "DELETE FROM sqlite_stat1 WHERE idx = 'ix_message_external' OR idx LIKE 'ix_%_seq'"
        )


def downgrade() -> None:
    pass
