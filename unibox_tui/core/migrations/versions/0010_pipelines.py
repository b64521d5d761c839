"""Ticket pipelines with ordered stages, and each inbox's default pipeline and stage.

Every workspace gets the default "Support" pipeline (New, Waiting on contact, Waiting on us,
Closed), new ones and existing ones alike, and every existing inbox names it (stage New) as
its default. The rows take a change number of their own, like any other write, so a client
syncing the change log receives them. Tickets keep their pipeline and stage as text, so
older tickets whose stage is not in the pipeline stay as they were.

Revision ID: 0010
Revises: 0009
"""

import os
import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DEFAULT_PIPELINE = "Support"
DEFAULT_STAGES = ("New", "Waiting on contact", "Waiting on us", "Closed")


def _uuid7(n: int) -> str:
    """A UUIDv7 (the migration does not import the package's ids module: it must keep
    working however that module changes)."""
    value = ((int(time.time() * 1000) + n) << 80) | (0x7 << 76) | (0b10 << 62)
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value |= (int.from_bytes(os.urandom(2), "big") & 0xFFF) << 64
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def upgrade() -> None:
    op.create_table(
        "pipeline",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_pipeline_seq"), "pipeline", ["seq"], unique=False)
    op.create_table(
        "pipeline_stage",
        sa.Column("updated_at", sa.String(length=26), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("pipeline_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipeline.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pipeline_id", "name"),
    )
    op.create_index(op.f("ix_pipeline_stage_seq"), "pipeline_stage", ["seq"], unique=False)
    op.create_index(
        op.f("ix_pipeline_stage_pipeline_id"), "pipeline_stage", ["pipeline_id"], unique=False
    )
    # Plain ADD COLUMN (SQLite allows a REFERENCES clause on a column whose default is
    # NULL): a batch copy of `inbox` would drop the table channels and conversations point at.
    op.execute("ALTER TABLE inbox ADD COLUMN default_pipeline_id VARCHAR REFERENCES pipeline (id)")
    op.execute(
        "ALTER TABLE inbox ADD COLUMN default_stage_id VARCHAR REFERENCES pipeline_stage (id)"
    )

    # The default pipeline, written as one change of its own.
    conn = op.get_bind()
    seq = conn.exec_driver_sql(
        "UPDATE sequence SET value = value + 1 WHERE name = 'seq' RETURNING value"
    ).scalar_one()
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    pipeline = _uuid7(0)
    conn.exec_driver_sql(
        "INSERT INTO pipeline (updated_at, seq, id, name, position) VALUES (?, ?, ?, ?, 0)",
        (now, seq, pipeline, DEFAULT_PIPELINE),
    )
    stages = [_uuid7(i + 1) for i in range(len(DEFAULT_STAGES))]
    conn.exec_driver_sql(
        "INSERT INTO pipeline_stage (updated_at, seq, id, pipeline_id, name, position) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (now, seq, stage, pipeline, name, i)
            for i, (stage, name) in enumerate(zip(stages, DEFAULT_STAGES, strict=True))
        ],
    )
    conn.exec_driver_sql(
        "UPDATE inbox SET default_pipeline_id = ?, default_stage_id = ?, seq = ?, updated_at = ?",
        (pipeline, stages[0], seq, now),
    )
