"""The bot report counts chatflow events: a trigger turns each `chatflow_event` row (what
the chatflow runner records: started, step, completed, handed_off, abandoned) into the
report counters the bots section reads (`bot_started`, `bot_step`, ..., with the chatflow's
name and the step as the detail), and the events stored before this revision are counted
once here. (0018 counted activity lines with a `bot_` event, which the runner does not
write: chatflow_event is the one record of what bots did.)

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from unibox_tui.core.migrations.postgres import execute

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

METRIC = (
    "CASE {e}.kind WHEN 'started' THEN 'bot_started' WHEN 'completed' THEN 'bot_completed' "
    "WHEN 'handed_off' THEN 'bot_handoff' WHEN 'abandoned' THEN 'bot_abandoned' "
    "WHEN 'step' THEN 'bot_step' END"
)
DETAIL = (
    "coalesce((SELECT name FROM chatflow WHERE id = {e}.chatflow_id), '') || "
    "CASE WHEN {e}.kind = 'step' AND {e}.step_id IS NOT NULL THEN char(31) || {e}.step_id "
    "ELSE '' END"
)
KEY = "metric, hour, inbox_id, channel_kind, agent_id, detail"


def _count(e: str, where: str, n: str) -> str:
    return (
        f"INSERT INTO report_count ({KEY}, n) SELECT {METRIC.format(e=e)}, "
        f"coalesce(unixepoch({e}.created_at), 0) / 3600, c.inbox_id, c.channel_kind, '', "
        f"{DETAIL.format(e=e)}, {n} FROM {where} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET n = n + excluded.n"
    )


# What happened before: grouped, so each counter row is written once (the day rows through
# report_count's triggers). Also core/derived.py: a cache's first fill.
BACKFILL = _count(
    "e",
    "chatflow_event e JOIN conversation c ON c.id = e.conversation_id WHERE e.kind IN "
    "('started', 'completed', 'handed_off', 'abandoned', 'step') GROUP BY 1, 2, 3, 4, 6",
    "count(*)",
)


def upgrade() -> None:
    execute(
        "CREATE TRIGGER report_chatflow_event AFTER INSERT ON chatflow_event WHEN new.kind IN "
        "('started', 'completed', 'handed_off', 'abandoned', 'step') BEGIN "
        + _count("new", "conversation c WHERE c.id = new.conversation_id", "1")
        + "; END"
    )
    execute(BACKFILL)


def downgrade() -> None:
    execute("DROP TRIGGER IF EXISTS report_chatflow_event")
