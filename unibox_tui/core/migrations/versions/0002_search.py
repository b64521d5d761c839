"""Full-text search: FTS5 over message bodies, conversation subjects and contact names.

Kept current by triggers, so every write path (commands, bulk sync, the demo) indexes the
same way. Activity lines ("Ana closed this") are not indexed. Existing rows are indexed by
this migration, so a workspace made by 0001 becomes searchable when it is opened.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

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


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
