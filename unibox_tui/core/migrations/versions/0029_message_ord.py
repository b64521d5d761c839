"""`message.ord`: a message's place in its thread among messages of the same instant, as the
hub numbered it (NULL where this file numbered it itself: an embedded workspace, the hub).

A thread is read in time order, and messages written at one instant (a reply and the hub's
"took this by replying" line) in the order their rows were inserted (`rid`). Each cache
numbers its rows itself, so the same instant read differently from one cache to another: the
replier's cache held its own copy of the reply before the hub's activity line arrived.
The change log sends `coalesce(ord, rid)` as `ord` (core/changes.py), so every cache orders
by the hub's numbers (queries.thread_on). Self-contained: one nullable column.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("message", sa.Column("ord", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE message DROP COLUMN ord")
