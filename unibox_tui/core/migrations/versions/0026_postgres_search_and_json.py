"""PostgreSQL: the search index compares words as FTS5 does, json_each reads arrays, and
scalar max/min give NULL for a NULL as SQLite's do (SQLite: nothing changes).

0002 gave PostgreSQL `to_tsvector('simple', text)`: its parser keeps `carla@example.com`,
`x.io/a` and `v1.2.3` as one word each and reads `order-1234` as `order` and `-1234`, and
nothing removes accents, so `carla`, `1234` or `jose` found nothing that FTS5
(unicode61, remove_diacritics) finds. `search_text(t)` makes the text the index and the
queries read: lower case, compatibility-decomposed (NFKD), combining accents removed, ASCII
punctuation as spaces (left to the parser are words of letters and digits), the first
100,000 characters (a tsvector's size is bounded). The vectors are
rebuilt with it: message_fts's in place, conversation_fts's generated column anew.
core/queries.py builds its tsquery through the same function, so the two always agree.

`json_each(text)`: SQLite's json_each walks an array or an object; PostgreSQL's only an
object (json_array_elements is its array twin). The reports bind the business-hours
calendar as a JSON array of rows (core/reports.py); this one takes both, `key` the index or
the member's name and `value` the element, as SQLite's columns of those names.

`max(a, b)` / `min(a, b)` (0001's twins) were GREATEST / LEAST, which skip a NULL: SQLite's
give NULL. The business-hours report reads a reply outside its calendar as NULL and builds
the calendar again; on PostgreSQL it read 0 seconds.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from unibox_tui.core.migrations.postgres import execute, is_postgres

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# ASCII punctuation (string.punctuation) to spaces; `'` doubled inside the SQL literal.
PUNCTUATION = "!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~"
SPACES = " " * 32
# The Unicode blocks of combining diacritical marks (what NFKD splits off Latin, Greek and
# Cyrillic letters; Python's unicodedata.combining, as search_query.fold removes them).
MARKS = r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"

# Only the first 100,000 characters: a tsvector holds at most 1 MB, and a longer text of
# distinct words (a pasted log, base64) failed the write that stored it. 100,000 characters
# make at most ~0.7 MB (4 bytes a character, 2 a position, 4 a distinct word). FTS5 indexes
# the whole text; the rest of such a text is not searchable here.
INDEXED_CHARS = 100_000
SEARCH_TEXT = (
    "CREATE FUNCTION search_text(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
    f"PARALLEL SAFE AS $$ SELECT translate(regexp_replace(normalize(lower(left(t, "
    f"{INDEXED_CHARS})), NFKD), '{MARKS}', '', 'g'), '{PUNCTUATION}', '{SPACES}') $$"
)

JSON_EACH = (
    "CREATE FUNCTION json_each(j text) RETURNS TABLE (key text, value json) LANGUAGE sql "
    "IMMUTABLE STRICT PARALLEL SAFE AS $$ "
    "SELECT (n - 1)::text, e FROM json_array_elements(CASE WHEN json_typeof(j::json) = 'array' "
    "THEN j::json END) WITH ORDINALITY AS a(e, n) UNION ALL "
    "SELECT o.key, o.value FROM json_each(CASE WHEN json_typeof(j::json) = 'object' "
    "THEN j::json END) AS o $$"
)

MIN_MAX = [
    f"CREATE OR REPLACE FUNCTION {name}(a anycompatible, b anycompatible) RETURNS anycompatible "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL "
    f"THEN NULL ELSE {twin}(a, b) END $$"
    for name, twin in (("max", "GREATEST"), ("min", "LEAST"))
]
OLD_MIN_MAX = [
    f"CREATE OR REPLACE FUNCTION {name}(a anycompatible, b anycompatible) RETURNS anycompatible "
    f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {twin}(a, b) $$"
    for name, twin in (("max", "GREATEST"), ("min", "LEAST"))
]


def _vectors(vector: str) -> list[str]:
    """The statements that rebuild both indexes with `vector` ('{}': the text)."""
    subject, contact = (vector.format(f"coalesce({c}, '')") for c in ("subject", "contact"))
    conversation = f"setweight({subject}, 'A') || setweight({contact}, 'B')"
    return [
        "ALTER TABLE conversation_fts DROP COLUMN doc",  # its GIN index goes with it
        f"ALTER TABLE conversation_fts ADD COLUMN doc tsvector GENERATED ALWAYS AS "
        f"({conversation}) STORED",
        "CREATE INDEX ix_conversation_fts_doc ON conversation_fts USING gin (doc)",
        "DROP TRIGGER IF EXISTS message_fts_update",
        "CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message "
        "WHEN old.kind != 'activity' AND old.body IS NOT new.body BEGIN "
        f"UPDATE message_fts SET doc = {vector.format('new.body')} WHERE rowid = new.rid; END",
        f"UPDATE message_fts SET doc = {vector.format('m.body')} FROM message m "
        "WHERE m.rid = message_fts.rowid",
    ]


def upgrade() -> None:
    if not is_postgres():
        return  # FTS5's tokenizer already reads words this way (0003)
    assert len(PUNCTUATION.replace("''", "'")) == len(SPACES)
    execute(SEARCH_TEXT)
    execute(JSON_EACH)
    for statement in MIN_MAX:
        execute(statement)
    for statement in _vectors("to_tsvector('simple', search_text({}))"):
        execute(statement)


def downgrade() -> None:
    if not is_postgres():
        return
    for statement in _vectors("to_tsvector('simple', {})"):
        execute(statement)
    execute("DROP FUNCTION search_text(text)")
    execute("DROP FUNCTION json_each(text)")
    for statement in OLD_MIN_MAX:
        execute(statement)
