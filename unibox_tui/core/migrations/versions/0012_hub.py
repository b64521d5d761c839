"""The team hub's own tables (issue 10) and a client cache's queue of commands.

On the hub (never sent to clients, so not in core/changes.TABLES):
- `agent_token`: an agent's sign-in token, stored as its SHA-256 (the token itself is shown
  once); `revoked_at` set when revoked or replaced.
- `hub_client`: per connected client (a TUI or CLI cache), the last mutation number applied,
  so a retransmitted mutation applies once and a gap waits for the missing one.
- `hub_mutation`: each applied mutation's answer (ok or rejected, the result), kept so a
  retransmission after a lost ack gets the same answer.

In a client's cache:
- `pending_mutation`: commands made while the hub has not confirmed them yet (offline or in
  flight), in order, with the local change number of their optimistic write.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_token",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(length=26), nullable=False),
        sa.Column("revoked_at", sa.String(length=26), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_token_hash", "agent_token", ["token_hash"], unique=True)
    op.create_index("ix_agent_token_agent", "agent_token", ["agent_id"])
    op.create_table(
        "hub_client",
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("last_mutation_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "hub_mutation",
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("mutation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("client_id", "mutation_id"),
    )
    op.create_table(
        "pending_mutation",
        sa.Column("mutation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.String(), nullable=True),
        sa.Column("local_seq", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("mutation_id"),
    )
    op.create_index("ix_pending_mutation_local_seq", "pending_mutation", ["local_seq"])


def downgrade() -> None:
    op.drop_table("pending_mutation")
    op.drop_table("hub_mutation")
    op.drop_table("hub_client")
    op.drop_table("agent_token")
