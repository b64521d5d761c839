"""PostgreSQL: the message triggers' WHEN conditions read `meta` with the built-in `->>`,
not json_extract (SQLite: nothing changes).

A trigger's WHEN condition is prepared again for every statement that inserts a message,
and preparing a call of json_extract (a SQL-language function, 0001) inlines it: the
function's body is parsed and planned each time, even for a message whose kind fails the
condition before the call. That was about half of an internal comment's INSERT on the
hub's writer, whose commands are one INSERT statement each (benchmarks/hub_push.py
--postgres; a PL/pgSQL loop of 1,000 comment INSERTs in a private cluster, the two WHENs
rewritten: 65-155 µs each instead of 119-324 µs, wall time on a loaded machine; with no
user trigger at all, 44-81 µs). `meta ->> 'key'` is NULL for a missing key and a JSON null, as
json_extract(meta, '$.key') is; the trigger bodies (run only when the condition holds)
keep json_extract.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from alembic import op

from unibox_tui.core.migrations.postgres import is_postgres

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

WHEN = {  # trigger: (condition before, condition after)
    "report_activity": (
        "new.kind = 'activity' AND json_extract(new.meta, '$.event') IS NOT NULL",
        "new.kind = 'activity' AND (new.meta::json ->> 'event') IS NOT NULL",
    ),
    "report_message_reply": (
        "new.kind = 'outgoing' AND new.author_agent_id IS NOT NULL AND "
        "json_extract(new.meta, '$.bot') IS NULL",
        "new.kind = 'outgoing' AND new.author_agent_id IS NOT NULL AND "
        "(new.meta::json ->> 'bot') IS NULL",
    ),
}


def _replace(which: int) -> None:
    if not is_postgres():
        return
    for name, conditions in WHEN.items():
        # The function (trg_<name>, 0018) stays: only the trigger that calls it is new.
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON message")
        op.execute(
            f"CREATE TRIGGER {name} AFTER INSERT ON message FOR EACH ROW "
            f"WHEN ({conditions[which]}) EXECUTE FUNCTION trg_{name}()"
        )


def upgrade() -> None:
    _replace(1)


def downgrade() -> None:
    _replace(0)
