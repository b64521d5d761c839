"""First response in business hours reads its rows from an index alone: the index the
first-response report scans (by agent and channel kind) also holds `first_reply_at`, so the
business-hours query (core/reports.first_response) needs no table look-up per conversation
(180 days at 100k conversations: 310 -> 75 ms CPU, benchmarks/reports_bench.py).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

COLUMNS = ["first_reply_agent_id", "channel_kind", "first_response_s", "first_in_at", "inbox_id"]


def upgrade() -> None:
    op.drop_index("ix_report_conversation_agent", table_name="report_conversation")
    op.create_index(
        "ix_report_conversation_agent", "report_conversation", [*COLUMNS, "first_reply_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_report_conversation_agent", table_name="report_conversation")
    op.create_index("ix_report_conversation_agent", "report_conversation", COLUMNS)
