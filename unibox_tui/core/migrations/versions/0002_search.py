"""Full-text search: FTS5 over message bodies, conversation subjects and contact names.

Kept current by triggers, so every write path (commands, bulk sync, the demo) indexes the
same way. Activity lines ("Ana closed this") are not indexed. Existing rows are indexed by
this migration, so a workspace made by 0001 becomes searchable when it is opened.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from unibox_tui.core.migrations.postgres import execute, is_postgres

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TOKENIZE = "tokenize = 'unicode61 remove_diacritics 2'"
CONTACT_TEXT = "(SELECT name || ' ' || coalesce(company, '') FROM contact WHERE id = {})"

STATEMENTS = [
    f"CREATE VIRTUAL TABLE message_fts USING fts5("
    f"body, content='message', content_rowid='rid', {TOKENIZE})",
    """CREATE TRIGGER message_fts_insert AFTER INSERT ON message WHEN new.kind != 'activity'
    BEGIN INSERT INTO message_fts(rowid, body) VALUES (new.rid, new.body); END""",
    """CREATE TRIGGER message_fts_delete AFTER DELETE ON message WHEN old.kind != 'activity'
    BEGIN INSERT INTO message_fts(message_fts, rowid, body) VALUES ('delete', old.rid, old.body);
    END""",
    """CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message
    WHEN old.kind != 'activity' BEGIN
    INSERT INTO message_fts(message_fts, rowid, body) VALUES ('delete', old.rid, old.body);
    INSERT INTO message_fts(rowid, body) VALUES (new.rid, new.body); END""",
    f"CREATE VIRTUAL TABLE conversation_fts USING fts5(subject, contact, {TOKENIZE})",
    f"""CREATE TRIGGER conversation_fts_insert AFTER INSERT ON conversation BEGIN
    INSERT INTO conversation_fts(rowid, subject, contact)
    VALUES (new.rid, new.subject, {CONTACT_TEXT.format("new.contact_id")}); END""",
    f"""CREATE TRIGGER conversation_fts_update AFTER UPDATE OF subject, contact_id ON conversation
    BEGIN DELETE FROM conversation_fts WHERE rowid = old.rid;
    INSERT INTO conversation_fts(rowid, subject, contact)
    VALUES (new.rid, new.subject, {CONTACT_TEXT.format("new.contact_id")}); END""",
    """CREATE TRIGGER conversation_fts_delete AFTER DELETE ON conversation
    BEGIN DELETE FROM conversation_fts WHERE rowid = old.rid; END""",
    """CREATE TRIGGER contact_fts_update AFTER UPDATE OF name, company ON contact BEGIN
    DELETE FROM conversation_fts WHERE rowid IN
      (SELECT rid FROM conversation WHERE contact_id = new.id);
    INSERT INTO conversation_fts(rowid, subject, contact)
      SELECT rid, subject, new.name || ' ' || coalesce(new.company, '')
      FROM conversation WHERE contact_id = new.id; END""",
    # Index what a 0001 workspace already holds.
    "INSERT INTO message_fts(rowid, body) SELECT rid, body FROM message WHERE kind != 'activity'",
    f"""INSERT INTO conversation_fts(rowid, subject, contact)
    SELECT c.rid, c.subject, {CONTACT_TEXT.format("c.contact_id")} FROM conversation c""",
]


# PostgreSQL: tables of the same names keyed by `rowid` (the rid they index), holding a
# tsvector with a GIN index. Messages keep only the vector (the body stays in `message`,
# as with FTS5's external content); conversations keep subject and contact, the vector
# generated from them (subject weighted above the contact). Kept current as on SQLite:
# new rows at each write's end (search_index.index_new), edits and deletes by triggers.
MESSAGE_VECTOR = "to_tsvector('simple', {})"
POSTGRES = [
    "CREATE TABLE message_fts (rowid integer PRIMARY KEY, doc tsvector NOT NULL)",
    "CREATE INDEX ix_message_fts_doc ON message_fts USING gin (doc)",
    "CREATE TRIGGER message_fts_delete AFTER DELETE ON message WHEN old.kind != 'activity' "
    "BEGIN DELETE FROM message_fts WHERE rowid = old.rid; END",
    "CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message "
    "WHEN old.kind != 'activity' BEGIN "
    f"UPDATE message_fts SET doc = {MESSAGE_VECTOR.format('new.body')} WHERE rowid = new.rid; END",
    "CREATE TABLE conversation_fts (rowid integer PRIMARY KEY, subject text, contact text, "
    "doc tsvector GENERATED ALWAYS AS (setweight(to_tsvector('simple', coalesce(subject, '')), "
    "'A') || setweight(to_tsvector('simple', coalesce(contact, '')), 'B')) STORED)",
    "CREATE INDEX ix_conversation_fts_doc ON conversation_fts USING gin (doc)",
    *(s for s in STATEMENTS if "TRIGGER conversation_fts" in s or "TRIGGER contact_fts" in s),
    f"INSERT INTO message_fts(rowid, doc) SELECT rid, {MESSAGE_VECTOR.format('body')} "
    "FROM message WHERE kind != 'activity'",
    STATEMENTS[-1],
]


def upgrade() -> None:
    if is_postgres():
        for statement in POSTGRES:
            execute(statement)
        return
    for statement in STATEMENTS:
        op.execute(statement)
