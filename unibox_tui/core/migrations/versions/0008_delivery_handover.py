"""The outbox records when a message was handed to the provider (the point after which it may
have arrived), so an engine that dies then does not send it again on its own: it becomes
"delivery uncertain" for an agent to resend or mark as sent (issue 15 item 1).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("handed_over_at", sa.String(26), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("handed_over_at")
