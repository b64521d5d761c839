"""A customer message dated before the first reply but stored after it (mail synced out of
order) moves the conversation's first customer message earlier; its first response is now
measured from there too. The 0018 trigger moved `first_in_at` and left `first_response_s`
at the old figure, so the plain first-response report and the business-hours one (which
reads `first_in_at`) disagreed for that conversation. Existing rows are put right.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import importlib

from unibox_tui.core.migrations.postgres import execute

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_0018 = importlib.import_module("unibox_tui.core.migrations.versions.0018_reports")
AT = "coalesce(unixepoch(new.created_at), 0)"
TRIGGER = (
    "CREATE TRIGGER report_message_in AFTER INSERT ON message WHEN new.kind = 'incoming' BEGIN "
    + _0018._bump("'in'", "new", "new.created_at", "''", "''", "1")
    + f" UPDATE report_conversation SET first_in_at = {AT}, "
    f"first_response_s = CASE WHEN first_reply_at IS NULL THEN first_response_s "
    f"ELSE first_reply_at - {AT} END "
    f"WHERE rid = {_0018.CONV_RID} AND (first_in_at IS NULL OR first_in_at > {AT}); END"
)
# The rows the old trigger left behind (a reply can only be before first_in_at when the
# first customer message was moved earlier).
BACKFILL = (
    "UPDATE report_conversation SET first_response_s = first_reply_at - first_in_at "
    "WHERE first_reply_at IS NOT NULL AND first_in_at IS NOT NULL "
    "AND first_response_s IS NOT first_reply_at - first_in_at"
)


def upgrade() -> None:
    execute("DROP TRIGGER IF EXISTS report_message_in")
    execute(TRIGGER)
    execute(BACKFILL)


def downgrade() -> None:
    execute("DROP TRIGGER IF EXISTS report_message_in")
    execute(next(s for s in _0018.TRIGGERS if "TRIGGER report_message_in " in s))
