"""What the search index holds, and when new rows enter it.

The FTS5 tables (migrations 0002/0003) index message bodies, and conversation subjects with
the contact's name and company. New rows are indexed once per write transaction, in bulk,
just before it commits (`Tx.finish`), not by a trigger per inserted row (migration 0005):
FTS5 reached through a row trigger cost ~45 µs a message, an `INSERT ... SELECT` of the same
rows at commit ~15 µs. In an initial e-mail sync that was a second of the single writer's
time per 20,000 messages.

Edits and deletes still go through the row triggers of migration 0002. They are rare, and the
app never edits or deletes a message it inserted in the same transaction (the external-content
message index would be handed a 'delete' for a row it never saw).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Run = Callable[[str, tuple], Any]

# Where each table's rowids stood when the transaction began: everything above is new.
MARKS_SQL = "SELECT (SELECT max(rid) FROM message), (SELECT max(rid) FROM conversation)"

CONTACT_TEXT = "(SELECT name || ' ' || coalesce(company, '') FROM contact WHERE id = c.contact_id)"


MESSAGES = (
    "INSERT INTO message_fts(rowid, body) SELECT rid, body FROM message "
    "WHERE rid > ? AND kind != 'activity'"
)
# Each conversation's newest searchable message (`newest_message_rid`, migration 0030:
# PostgreSQL's operator-driven search orders by it), raised by the messages indexed.
_RAISE_NEWEST = (
    "UPDATE conversation SET newest_message_rid = x.top FROM (SELECT conversation_id, "
    "max(rid) AS top FROM {new} GROUP BY conversation_id) AS x "
    "WHERE conversation.id = x.conversation_id "
    "AND (conversation.newest_message_rid IS NULL OR conversation.newest_message_rid < x.top)"
)
NEWEST = _RAISE_NEWEST.format(new="message WHERE rid > ? AND kind != 'activity'")
# PostgreSQL: the body's vector, of its words as FTS5 reads them (migration 0026), and the
# bound, in one statement: the hub's writer pays a round trip per statement.
POSTGRES_MESSAGES = (
    "WITH new AS (SELECT rid, conversation_id, body FROM message "
    "WHERE rid > ? AND kind != 'activity'), indexed AS (INSERT INTO message_fts(rowid, doc) "
    "SELECT rid, to_tsvector('simple', search_text(body)) FROM new) "
    + _RAISE_NEWEST.format(new="new")
)


def marks(run: Run) -> tuple[int, int]:
    """The newest message and conversation rowids now (0 for an empty table)."""
    message, conversation = run(MARKS_SQL, ()).fetchone()
    return message or 0, conversation or 0


def index_new(run: Run, since: tuple[int, int], *, postgres: bool = False) -> None:
    """Index the messages and conversations inserted after `since` (from `marks`), and raise
    their conversations' `newest_message_rid`. On PostgreSQL message_fts holds the body's
    tsvector, not the body (migration 0002)."""
    message_mark, conversation_mark = since
    if postgres:
        run(POSTGRES_MESSAGES, (message_mark,))
    else:
        run(MESSAGES, (message_mark,))
        run(NEWEST, (message_mark,))
    # A conversation made in this transaction may already be indexed: renaming its contact
    # (or changing its subject) in the same transaction re-indexes it through a trigger.
    run(
        f"INSERT INTO conversation_fts(rowid, subject, contact) "
        f"SELECT c.rid, c.subject, {CONTACT_TEXT} FROM conversation c WHERE c.rid > ? "
        f"AND NOT EXISTS (SELECT 1 FROM conversation_fts f WHERE f.rowid = c.rid)",
        (conversation_mark,),
    )
