"""Agents get a role (admin or agent) and can be deactivated (history kept).

The default agent of an existing workspace (setting `default_agent`, an id or handle), else the
oldest agent, becomes its admin, so every workspace has one.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from unibox_tui.core.migrations.postgres import BOOL

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent") as batch:
        batch.add_column(sa.Column("role", sa.String(), nullable=False, server_default="agent"))
        batch.add_column(sa.Column("active", BOOL, nullable=False, server_default="1"))
    op.execute(
        """UPDATE agent SET role = 'admin' WHERE id = COALESCE(
             (SELECT a.id FROM agent a, setting s WHERE s.key = 'default_agent'
              AND json_extract(s.value, '$') IN (a.id, a.handle)),
             (SELECT id FROM agent ORDER BY id LIMIT 1))"""
    )
