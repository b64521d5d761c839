"""The migrations' SQLite SQL, run on PostgreSQL.

The schema has one definition: the migrations, written in SQLite's SQL (triggers with
`BEGIN ... END` bodies, `INSERT OR IGNORE`, `IS NOT` between values, json_extract,
unixepoch, scalar max). A workspace on PostgreSQL runs the same migrations; what SQLite
says differently is handled here, in one of two ways:

- **Functions of the same name** (`COMPAT`, created by 0001 on PostgreSQL): unixepoch,
  json_extract, json_set, two-argument max/min, group_concat, and a case-insensitive
  collation named `nocase`. So the same text means the same thing on both, in migrations
  and in the queries and commands that run at every read and write.
- **Rewrites** (`translate`) where a function cannot do it: `IS [NOT] x` between values,
  `INSERT OR IGNORE`, `char(n)`, `?` placeholders (psycopg's are `%s`), and a SQLite trigger
  (`trigger`) becomes a PL/pgSQL trigger function plus a `FOR EACH ROW` trigger.

`execute(sql)` is what a migration calls for its raw SQL: on SQLite it is `op.execute(sql)`
itself (the SQLite path runs exactly the text it always ran), on PostgreSQL the translation.
Full-text search (FTS5 virtual tables) has no rewrite: 0002 and 0003 build PostgreSQL's
own (tsvector tables with GIN indexes) in a branch of their own.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlalchemy as sa

# A boolean column: SQLite's BOOLEAN (0/1), on PostgreSQL a smallint holding 0/1, so the
# raw SQL that compares, sums and stores flags as numbers (`unread = 1`, `sum(unread)`)
# means the same on both. The models read it through core/models.Flag.
BOOL = sa.Boolean().with_variant(sa.SmallInteger(), "postgresql")

# Created once, by 0001, in a PostgreSQL workspace. IMMUTABLE where the result depends on
# the arguments alone (stored timestamps are fixed-width UTC text, core/clock.py).
COMPAT = [
    # SQLite's unixepoch(text): whole seconds since 1970 (NULL for NULL).
    "CREATE FUNCTION unixepoch(t text) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT "
    "PARALLEL SAFE AS $$ SELECT floor(extract(epoch FROM t::timestamp))::bigint $$",
    # json_extract(text, '$.a.b' / '$[0]') as text (SQLite returns numbers as numbers:
    # compare with text literals, as the code does, or cast). Also on json (json_each's
    # `value`).
    "CREATE FUNCTION json_path(p text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT "
    "PARALLEL SAFE AS $$ SELECT CASE WHEN p = '$' THEN '{}'::text[] ELSE string_to_array("
    r"regexp_replace(regexp_replace(substr(p, 2), '\[(\d+)\]', '.\1', 'g'), '^\.', ''), "
    "'.') END $$",
    "CREATE FUNCTION json_extract(j text, p text) RETURNS text LANGUAGE sql IMMUTABLE "
    "STRICT PARALLEL SAFE AS $$ SELECT j::jsonb #>> json_path(p) $$",
    "CREATE FUNCTION json_extract(j json, p text) RETURNS text LANGUAGE sql IMMUTABLE "
    "STRICT PARALLEL SAFE AS $$ SELECT j #>> json_path(p) $$",
    "CREATE FUNCTION json_set(j text, p text, v text) RETURNS text LANGUAGE sql IMMUTABLE "
    "PARALLEL SAFE AS $$ SELECT jsonb_set(coalesce(j, '{}')::jsonb, "
    "json_path(p), to_jsonb(v))::text $$",
    # Scalar max/min of two values (the aggregates keep their one-argument form): NULL when
    # either is NULL, as in SQLite (GREATEST and LEAST skip NULLs; migration 0026 fixed the
    # first form). A CASE, not STRICT, so the planner can still inline them.
    *(
        f"CREATE FUNCTION {name}(a anycompatible, b anycompatible) RETURNS anycompatible "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN a IS NULL OR b IS NULL "
        f"THEN NULL ELSE {twin}(a, b) END $$"
        for name, twin in (("max", "GREATEST"), ("min", "LEAST"))
    ),
    # group_concat(value, separator): NULLs skipped, as in SQLite.
    "CREATE FUNCTION group_concat_step(acc text, v text, sep text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN v IS NULL THEN acc "
    "WHEN acc IS NULL THEN v ELSE acc || sep || v END $$",
    "CREATE AGGREGATE group_concat(text, text) (SFUNC = group_concat_step, STYPE = text)",
    "CREATE FUNCTION group_concat_any(acc text, v anyelement) RETURNS text LANGUAGE sql "
    "IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN v IS NULL THEN acc "
    "WHEN acc IS NULL THEN v::text ELSE acc || ',' || v::text END $$",
    "CREATE AGGREGATE group_concat(anyelement) (SFUNC = group_concat_any, STYPE = text)",
    # `x = ? COLLATE NOCASE`: ICU's case-insensitive comparison (level 2: case and accents
    # are told apart only at level 3). SQLite's NOCASE folds ASCII only; this folds all.
    "CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
]

# Tables whose rows the code reads in insertion order (`ORDER BY rowid`, SQLite's hidden
# row number): on PostgreSQL a real `rowid` column, numbered as rows are inserted (0001).
# It is local to the database, like SQLite's: never sent (core/changes.py skips it).
ROWID_TABLES = ("contact_identity", "notification", "attachment")

_TRIGGER = re.compile(
    r"\s*CREATE TRIGGER (?P<name>\w+) (?P<when>AFTER|BEFORE) "
    r"(?P<event>INSERT|DELETE|UPDATE(?: OF [\w, ]+?)?) ON (?P<table>\w+)"
    r"(?: WHEN (?P<cond>.*?))?\s+BEGIN\s(?P<body>.*);?\s*END\s*$",
    re.S | re.I,
)
_DROP_TRIGGER = re.compile(r"\s*DROP TRIGGER (?:IF EXISTS )?(?P<name>\w+)\s*$", re.I)
# Literals and quoted names pass through untouched; everything else is rewritten.
_TOKENS = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")|([^'\"]+)", re.S)
_OR_IGNORE = re.compile(r"\bINSERT OR IGNORE INTO\b", re.I)
_BOOL_AFTER = re.compile(
    r"\b((?:WHERE|AND|OR|WHEN|NOT|ON)\s+)([01])(?=\s*(?:\)|\bAND\b|\bOR\b|\bTHEN\b|\bORDER\b"
    r"|\bGROUP\b|\bLIMIT\b|$))",
    re.I,
)
_BOOL_ALONE = re.compile(r"\b((?:WHERE|AND|OR|WHEN|NOT|ON)\s+)\(([01])\)", re.I)
_BOOL_OPEN = re.compile(r"\(([01])(?=\s+(?:AND|OR)\b)", re.I)
_INSERT_INTO = re.compile(r"\bINSERT (?:OR IGNORE )?INTO (\w+)", re.I)
_SELF_UPDATE = re.compile(r"(DO UPDATE SET (\w+) = )(?=\2\b)", re.I)


def _rewrite_code(code: str, placeholders: bool) -> str:
    code = re.sub(r"\bIS NOT (?!NULL\b|DISTINCT\b|TRUE\b|FALSE\b)", "IS DISTINCT FROM ", code)
    code = re.sub(r"\bIS (?!NOT\b|NULL\b|DISTINCT\b|TRUE\b|FALSE\b)", "IS NOT DISTINCT FROM ", code)
    code = re.sub(r"\bchar\(", "chr(", code, flags=re.I)
    # SQLite's planner hints: `INDEXED BY ix`, and unary `+` on a column (keeps an index
    # out of a plan). PostgreSQL plans for itself.
    code = re.sub(r"\s+(?:INDEXED BY \w+|NOT INDEXED)\b", "", code, flags=re.I)
    code = re.sub(r"(^|[\s(,])\+(?=[A-Za-z_])", r"\1", code)
    # `WHERE 1`, `(1 AND ...)`: SQLite's conditions are numbers, PostgreSQL's booleans (the
    # access rule "everything" is the condition 1, "nothing" 0).
    code = _BOOL_AFTER.sub(lambda m: m[1] + ("TRUE" if m[2] == "1" else "FALSE"), code)
    code = _BOOL_OPEN.sub(lambda m: "(" + ("TRUE" if m[1] == "1" else "FALSE"), code)
    code = _BOOL_ALONE.sub(lambda m: m[1] + ("(TRUE)" if m[2] == "1" else "(FALSE)"), code)
    if placeholders:
        code = code.replace("%", "%%").replace("?", "%s")
    return code


@lru_cache(maxsize=4096)
def translate(sql: str, placeholders: bool = False) -> str:
    """One SQLite statement as PostgreSQL runs it (see the module docstring). With
    `placeholders`, `?` becomes psycopg's `%s` and a literal `%` is doubled (psycopg reads
    `%` everywhere in a statement that has parameters, literals included)."""
    out = []
    for literal, code in _TOKENS.findall(sql):
        if literal:
            out.append(literal.replace("%", "%%") if placeholders else literal)
        else:
            out.append(_rewrite_code(code, placeholders))
    text = "".join(out)
    # `DO UPDATE SET n = n + 1`: PostgreSQL asks which n (the row's or excluded's).
    target = _INSERT_INTO.search(text)
    if target and "DO UPDATE SET" in text:
        text = _SELF_UPDATE.sub(rf"\1{target[1]}.", text)
    if _OR_IGNORE.search(text):
        text = _OR_IGNORE.sub("INSERT INTO", text).rstrip().rstrip(";")
        if "ON CONFLICT" not in text.upper():
            text += " ON CONFLICT DO NOTHING"
    return text


def _statements(body: str) -> list[str]:
    """A trigger body's statements (split at `;` outside literals)."""
    parts, current = [], []
    for literal, code in _TOKENS.findall(body):
        if literal:
            current.append(literal)
            continue
        pieces = code.split(";")
        current.append(pieces[0])
        for piece in pieces[1:]:
            parts.append("".join(current))
            current = [piece]
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def trigger(sql: str) -> list[str]:
    """A SQLite `CREATE TRIGGER` as a PL/pgSQL function (`trg_<name>`) and a row trigger.
    The WHEN condition stays on the trigger (PostgreSQL then skips the call) unless it
    holds a subquery, which PostgreSQL refuses there: then it guards the body."""
    m = _TRIGGER.match(sql)
    if m is None:
        raise ValueError(f"not a trigger this translator knows: {sql[:80]}")
    name, table, cond = m["name"], m["table"], m["cond"]
    statements = [translate(s) for s in _statements(m["body"])]
    body = "; ".join(statements) + ";"
    when = ""
    if cond:
        cond = translate(cond.strip())
        if re.search(r"\bSELECT\b", cond, re.I):
            body = f"IF {cond} THEN {body} END IF;"
        else:
            when = f" WHEN ({cond})"
    return [
        f"CREATE OR REPLACE FUNCTION trg_{name}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$fn$ BEGIN {body} RETURN NULL; END $fn$",
        f"CREATE TRIGGER {name} {m['when']} {m['event']} ON {table} FOR EACH ROW{when} "
        f"EXECUTE FUNCTION trg_{name}()",
    ]


def to_postgres(sql: str) -> list[str]:
    """A migration's statement as PostgreSQL statements."""
    if _TRIGGER.match(sql):
        return trigger(sql)
    drop = _DROP_TRIGGER.match(sql)
    if drop:  # dropping the function drops its trigger with it
        return [f"DROP FUNCTION IF EXISTS trg_{drop['name']}() CASCADE"]
    return [translate(sql)]


def is_postgres() -> bool:
    from alembic import op

    return op.get_bind().dialect.name == "postgresql"


def execute(sql: str) -> None:
    """Run a migration's raw SQL: as written on SQLite, translated on PostgreSQL."""
    from alembic import op

    if not is_postgres():
        op.execute(sql)
        return
    for statement in to_postgres(sql):
        op.execute(statement)
