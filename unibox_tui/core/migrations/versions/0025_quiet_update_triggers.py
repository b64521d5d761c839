"""Update triggers that fire only when their columns really change.

`AFTER UPDATE OF col` fires whenever `col` is in an UPDATE's SET list, changed or not. A
client's cache writes every row a pull brings with one upsert that sets every column
(core/changes._upsert): each comment, assignment or close re-indexed the conversation's
subject and contact for search (an FTS5 delete and insert) and rewrote its report row,
with nothing changed. A `WHEN` on the old and new values leaves those alone: applying a
comment's page in a cache took ~20% less CPU (benchmarks/hub_team.py fanout, 50 caches).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from unibox_tui.core.migrations.postgres import execute, is_postgres

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

CONTACT_TEXT = (
    "(SELECT name || ' ' || coalesce(company, '') FROM contact WHERE id = new.contact_id)"
)
OLD = {
    "conversation_fts_update": (
        "CREATE TRIGGER conversation_fts_update AFTER UPDATE OF subject, contact_id "
        "ON conversation BEGIN DELETE FROM conversation_fts WHERE rowid = old.rid; "
        "INSERT INTO conversation_fts(rowid, subject, contact) "
        f"VALUES (new.rid, new.subject, {CONTACT_TEXT}); END"
    ),
    "message_fts_update": (
        "CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message "
        "WHEN old.kind != 'activity' BEGIN "
        "INSERT INTO message_fts(message_fts, rowid, body) VALUES ('delete', old.rid, old.body); "
        "INSERT INTO message_fts(rowid, body) VALUES (new.rid, new.body); END"
    ),
    "report_conversation_move": (
        "CREATE TRIGGER report_conversation_move AFTER UPDATE OF inbox_id, channel_kind "
        "ON conversation BEGIN UPDATE report_conversation SET inbox_id = new.inbox_id, "
        "channel_kind = new.channel_kind WHERE rid = new.rid; END"
    ),
}
NEW = {
    "conversation_fts_update": (
        "CREATE TRIGGER conversation_fts_update AFTER UPDATE OF subject, contact_id "
        "ON conversation WHEN old.subject IS NOT new.subject "
        "OR old.contact_id IS NOT new.contact_id "
        "BEGIN DELETE FROM conversation_fts WHERE rowid = old.rid; "
        "INSERT INTO conversation_fts(rowid, subject, contact) "
        f"VALUES (new.rid, new.subject, {CONTACT_TEXT}); END"
    ),
    "message_fts_update": (
        "CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message "
        "WHEN old.kind != 'activity' AND old.body IS NOT new.body BEGIN "
        "INSERT INTO message_fts(message_fts, rowid, body) VALUES ('delete', old.rid, old.body); "
        "INSERT INTO message_fts(rowid, body) VALUES (new.rid, new.body); END"
    ),
    "report_conversation_move": (
        "CREATE TRIGGER report_conversation_move AFTER UPDATE OF inbox_id, channel_kind "
        "ON conversation WHEN old.inbox_id IS NOT new.inbox_id "
        "OR old.channel_kind IS NOT new.channel_kind "
        "BEGIN UPDATE report_conversation SET inbox_id = new.inbox_id, "
        "channel_kind = new.channel_kind WHERE rid = new.rid; END"
    ),
}


# PostgreSQL keeps a message's search vector in place (0002's branch): the same rule, its
# own statement.
PG_MESSAGE_UPDATE = (
    "CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message "
    "WHEN old.kind != 'activity'{} BEGIN "
    "UPDATE message_fts SET doc = to_tsvector('simple', new.body) WHERE rowid = new.rid; END"
)
PG = {"message_fts_update": PG_MESSAGE_UPDATE.format(" AND old.body IS NOT new.body")}
PG_OLD = {"message_fts_update": PG_MESSAGE_UPDATE.format("")}


def _replace(triggers: dict[str, str], postgres: dict[str, str]) -> None:
    on_postgres = is_postgres()
    for name, sql in triggers.items():
        execute(f"DROP TRIGGER IF EXISTS {name}")
        execute(postgres.get(name, sql) if on_postgres else sql)


def upgrade() -> None:
    _replace(NEW, PG)


def downgrade() -> None:
    _replace(OLD, PG_OLD)
