"""Reads: conversation lists by view, counts, threads, contacts, search.

Plain SQL over the indexes the models declare: every list page is one keyset range scan
(ORDER BY last_message_at DESC, rid DESC), and a view's count sums a few rows of the counter
table the triggers of migration 0013 keep (a view built by hand is counted through an index),
so both stay in milliseconds at 100k conversations / 1M messages (benchmarks/access_reads.py).
Rows come back as small dataclasses; text in them is as stored (widgets clean it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any, cast

from . import clock, list_order
from .access import Access, for_agent
from .db import ReadConnection as Connection
from .db import Workspace
from .errors import InvalidRequest, NotFound
from .kinds import CHANNEL_KINDS, IDENTITY_KINDS
from .list_order import NEWEST, Order
from .search_query import SearchQuery, find_terms, fragment, search_words
from .search_query import parse as parse_search
from .when import parse_when

# ---------------------------------------------------------------------------------- views

FIXED_VIEWS = ("mine", "unassigned", "open", "snoozed", "closed", "all")
VIEW_LABELS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "open": "All open",
    "snoozed": "Snoozed",
    "closed": "Closed",
    "all": "Everything",
    "email": "E-mail",
    "chat": "Live chat",
    "messenger": "Messenger",
    "whatsapp": "WhatsApp",
    "form": "Forms",
    "fallback": "Forwarded",  # mail forwarded to the fallback address
}


@dataclass(frozen=True)
class View:
    """A named list of conversations: `mine`, `open`, `inbox:<id>`, `kind:email`, ...

    `where` selects its conversations (alias `c`). `counted`, when set, is the same view as a
    condition on the `conversation_count` table (alias `k`, migration 0013) with its
    parameters: its count is then a sum over a few counter rows instead of a count of every
    conversation in it. A view built by hand without it is counted row by row (still right)."""

    key: str
    label: str
    where: str
    params: tuple[Any, ...] = ()
    counted: tuple[str, tuple[Any, ...]] | None = None
    order: Order = NEWEST  # how its rows are sorted (list_order.py); the count is the same


NO_ACCESS = "not found or no access"  # never confirm that something hidden exists


def reader(ws: Workspace, agent_id: str | None) -> Access:
    """What `agent_id` may read (None: the system, which reads everything)."""
    with ws.read() as conn:
        return for_agent(conn, agent_id)


def view(key: str, me: str | None = None, ws: Workspace | None = None, *, access: Access) -> View:
    """Resolve a view key for a reader. `inbox:NAME` is accepted too when `ws` is given.

    Every view keeps only the inboxes `access` may see (core/access.py), so lists, counts,
    filters and new-conversation checks built on it are filtered the same way."""
    v = _view(key, me, ws, access)
    if access.sees_all:
        return v
    clause, params = access.where()
    counted = None
    if v.counted is not None:
        k_clause, k_params = access.where("k.inbox_id")
        counted = (f"{v.counted[0]} AND {k_clause}", (*v.counted[1], *k_params))
    return View(v.key, v.label, f"{v.where} AND {clause}", (*v.params, *params), counted)


def _view(key: str, me: str | None, ws: Workspace | None, access: Access) -> View:
    if key == "mine":
        if not me:
            raise InvalidRequest("the view 'mine' needs to know who you are (set agent in config)")
        return View(
            key,
            "Mine",
            "c.assignee_id = ? AND c.status = 'open'",
            (me,),
            ("k.assignee_id = ? AND k.status = 'open'", (me,)),
        )
    if key == "unassigned":
        return View(
            key,
            "Unassigned",
            "c.assignee_id IS NULL AND c.status = 'open'",
            (),
            ("k.assignee_id = '' AND k.status = 'open'", ()),
        )
    if key in ("open", "snoozed", "closed"):
        return View(key, VIEW_LABELS[key], "c.status = ?", (key,), ("k.status = ?", (key,)))
    if key == "all":
        return View(key, VIEW_LABELS[key], "1", (), ("1", ()))
    if key.startswith("kind:") and key[5:] in CHANNEL_KINDS:
        kind = key[5:]
        return View(
            key,
            VIEW_LABELS[kind],
            "c.channel_kind = ? AND c.status = 'open'",
            (kind,),
            ("k.channel_kind = ? AND k.status = 'open'", (kind,)),
        )
    if key.startswith("inbox:"):
        ref = key[6:]
        name = ref
        if ws is not None:
            found = next(
                (
                    i
                    for i in inboxes(ws)
                    if (ref in (i.id, i.name) or i.name.lower() == ref.lower())
                    and access.can_see(i.id)
                ),
                None,
            )
            if found is None:
                raise NotFound(f"no inbox {ref!r} ({NO_ACCESS})")
            ref, name = found.id, found.name
        return View(
            f"inbox:{ref}",
            name,
            "c.inbox_id = ? AND c.status = 'open'",
            (ref,),
            ("k.inbox_id = ? AND k.status = 'open'", (ref,)),
        )
    if key.startswith("tag:") and key[4:]:
        # Open conversations with the tag. No counter row knows tags: `counted` stays None,
        # so its count goes through the (tag_id, conversation_id) index.
        name = key[4:].lstrip("#").lower()
        return View(
            f"tag:{name}",
            f"#{name}",
            "c.status = 'open' AND c.id IN (SELECT x.conversation_id FROM conversation_tag x "
            "JOIN tag g ON g.id = x.tag_id WHERE g.name = ?)",
            (name,),
        )
    raise InvalidRequest(
        f"unknown view {key!r}; use one of {', '.join(FIXED_VIEWS)}, kind:KIND, inbox:NAME "
        "or tag:NAME"
    )


# ---------------------------------------------------------------------------------- rows


@dataclass
class ConversationRow:
    id: str
    rid: int
    inbox_id: str
    inbox: str
    channel_id: str
    channel_kind: str
    status: str
    subject: str
    preview: str
    contact_id: str
    contact_name: str
    identity: str | None
    assignee_id: str | None
    assignee: str | None  # handle
    assignee_name: str | None
    team: str | None
    unread: bool
    waiting: bool
    message_count: int
    created_at: datetime
    last_message_at: datetime
    snoozed_until: datetime | None
    closed_at: datetime | None
    first_response_at: datetime | None
    ticket_id: str | None
    cc: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    customer_at: datetime | None = None  # the customer's last message (list_order.py)
    ticket_priority: str | None = None

    def cursor(self) -> str:
        return f"{clock.to_db(self.last_message_at)}|{self.rid}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inbox": self.inbox,
            "channel": self.channel_kind,
            "status": self.status,
            "subject": self.subject,
            "preview": self.preview,
            "contact": {
                "id": self.contact_id,
                "name": self.contact_name,
                "identity": self.identity,
            },
            "assignee": self.assignee,
            "team": self.team,
            "last_message_at": clock.iso(self.last_message_at),
            "created_at": clock.iso(self.created_at),
            "snoozed_until": clock.iso(self.snoozed_until),
            "closed_at": clock.iso(self.closed_at),
            "first_response_at": clock.iso(self.first_response_at),
            "unread": self.unread,
            "waiting": self.waiting,
            "message_count": self.message_count,
            "ticket_id": self.ticket_id,
            "cc": self.cc,
            "tags": self.tags,
        }


ROW_COLUMNS = """
    c.id, c.rid, c.inbox_id, i.name, c.channel_id, c.channel_kind, c.status, c.subject,
    c.preview, c.contact_id, ct.name,
    coalesce(c.reply_to,
      (SELECT ci.value FROM contact_identity ci WHERE ci.contact_id = c.contact_id AND ci.kind =
        (CASE c.channel_kind WHEN 'form' THEN 'email' ELSE c.channel_kind END) LIMIT 1),
      (SELECT ci.value FROM contact_identity ci WHERE ci.contact_id = c.contact_id LIMIT 1)),
    c.assignee_id, a.handle, a.name, t.name, c.unread, c.waiting, c.message_count,
    c.created_at, c.last_message_at, c.snoozed_until, c.closed_at, c.first_response_at,
    c.ticket_id, c.meta,
    (SELECT group_concat(g.name, ' ') FROM conversation_tag x JOIN tag g ON g.id = x.tag_id
      WHERE x.conversation_id = c.id),
    c.customer_at, (SELECT k.priority FROM ticket k WHERE k.id = c.ticket_id)
"""
# LEFT JOINs keep `conversation` the outer loop, so the planner walks the view's index and
# looks the rest up by primary key for just the rows of the page.
ROW_FROM = """
    FROM conversation c
    LEFT JOIN inbox i ON i.id = c.inbox_id
    LEFT JOIN contact ct ON ct.id = c.contact_id
    LEFT JOIN agent a ON a.id = c.assignee_id
    LEFT JOIN team t ON t.id = c.team_id
"""


def _row(r: Any) -> ConversationRow:
    meta = json.loads(r[25] or "{}")
    return ConversationRow(  # type: ignore[call-arg]  # *r[:16]: mypy cannot count it
        *r[:16],
        bool(r[16]),
        bool(r[17]),
        r[18],
        clock.from_db(r[19]),  # type: ignore[arg-type]
        clock.from_db(r[20]),  # type: ignore[arg-type]
        clock.from_db(r[21]),
        clock.from_db(r[22]),
        clock.from_db(r[23]),
        r[24],
        meta.get("cc", []),
        sorted(r[26].split()) if r[26] else [],
        clock.from_db(r[27]),
        r[28],
    )


@dataclass
class Page:
    rows: list[ConversationRow]
    next_cursor: str | None  # pass as `after` for the next page; None at the end


def _parse_cursor(cursor: str) -> tuple[str, int]:
    try:
        when, rid = cursor.rsplit("|", 1)
        clock.from_db(when)
        if not 0 <= int(rid) < 2**63:
            raise ValueError(rid)
        return when, int(rid)
    except (ValueError, OverflowError) as e:
        raise InvalidRequest(
            f"bad cursor {cursor!r}; pass back a next_cursor you were given"
        ) from e


def list_conversations(
    ws: Workspace, v: View, *, after: str | None = None, limit: int = 50
) -> Page:
    """One page of a view, newest activity first; `after` is the previous page's cursor."""
    with ws.read() as conn:
        return list_page(conn, v, after=after, limit=limit)


def list_page(conn: Connection, v: View, *, after: str | None = None, limit: int = 50) -> Page:
    sql = f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE {v.where}"
    params: list[Any] = list(v.params)
    if after and v.order is NEWEST:
        when, rid = _parse_cursor(after)
        sql += " AND (c.last_message_at, c.rid) < (?, ?)"
        params += [when, rid]
    elif after:
        # Another order: the cursor names the page's last conversation, and the next page is
        # what sorts after it now (its sort key is read again: a sorted list is a queue).
        last = _order_cursor_row(conn, v, after)
        cond, cond_params = v.order.after(last)
        sql += f" AND {cond}"
        params += cond_params
    sql += f" ORDER BY {v.order.order_by} LIMIT ?"
    params.append(limit + 1)
    rows = [_row(r) for r in conn.exec_driver_sql(sql, tuple(params)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    if not (more and rows):
        return Page(rows, None)
    last_row = rows[-1]
    cursor = last_row.cursor() if v.order is NEWEST else f"{v.order.key}:{last_row.rid}"
    return Page(rows, cursor)


def _order_cursor_row(conn: Connection, v: View, cursor: str) -> ConversationRow:
    key, _, rid = cursor.partition(":")
    found = None
    if key == v.order.key and rid.isdigit() and int(rid) < 2**63:
        found = conn.exec_driver_sql(
            f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.rid = ?", (int(rid),)
        ).first()
    if found is None:
        raise InvalidRequest(
            f"bad cursor {cursor!r} for --sort {v.order.key}; pass back a next_cursor you were "
            "given with the same --sort"
        )
    return _row(found)


def rows_at(conn: Connection, v: View, offset: int, limit: int) -> list[ConversationRow]:
    """Rows by position (for a scrolling widget jumping far). In the default order the scan
    walks the view's covering index, so even a deep offset costs a few ms at 100k; another
    order sorts the view's index entries (list_order.py: ~5-25 ms for 26k open rows)."""
    order = v.order.order_by
    sql = (
        f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.rid IN (SELECT c.rid FROM conversation c "
        f"WHERE {v.where} ORDER BY {order} LIMIT ? OFFSET ?) ORDER BY {order}"
    )
    rows = conn.exec_driver_sql(sql, (*v.params, limit, offset)).all()
    return [_row(r) for r in rows]


def count(ws: Workspace, v: View) -> tuple[int, int]:
    """(conversations, unread) in a view."""
    with ws.read() as conn:
        return count_on(conn, v)


def count_on(conn: Connection, v: View) -> tuple[int, int]:
    if v.counted is not None:  # a few rows of the counter table (migration 0013)
        where, params = v.counted
        r = conn.exec_driver_sql(
            "SELECT coalesce(sum(k.n), 0), coalesce(sum(k.n * k.unread), 0) "
            f"FROM conversation_count k WHERE {where}",
            params,
        ).one()
    else:
        r = conn.exec_driver_sql(
            f"SELECT count(*), coalesce(sum(c.unread), 0) FROM conversation c WHERE {v.where}",
            v.params,
        ).one()
    return int(r[0]), int(r[1])


def conversation(ws: Workspace, conversation_id: str, *, access: Access) -> ConversationRow:
    """One conversation, if `access` may see it; a hidden one is "not found or no access"."""
    with ws.read() as conn:
        return conversation_on(conn, conversation_id, access=access)


def conversation_on(conn: Connection, conversation_id: str, *, access: Access) -> ConversationRow:
    r = conn.exec_driver_sql(
        f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.id = ?", (conversation_id,)
    ).first()
    if r is None or not access.can_see(r[2]):
        raise NotFound(f"no conversation {conversation_id} ({NO_ACCESS})")
    return _row(r)


def merged_into(conn: Connection, conversation_id: str) -> str | None:
    """The conversation that `conversation_id` was merged into, None if it was not merged
    (core/commands/merging.py leaves the redirect)."""
    return conn.exec_driver_sql(  # type: ignore[no-any-return]
        "SELECT into_id FROM conversation_merge WHERE id = ?", (conversation_id,)
    ).scalar()


def resolve_conversation(ws: Workspace, conversation_id: str) -> str:
    """The id a conversation id leads to now: itself, or the one it was merged into."""
    with ws.read() as conn:
        return merged_into(conn, conversation_id) or conversation_id


def rows_by_id(conn: Connection, v: View, ids: set[str] | list[str]) -> list[ConversationRow]:
    """The rows of the given conversations that are in view `v` (a live refresh redraws
    them in place)."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = conn.exec_driver_sql(
        f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.id IN ({marks}) AND {v.where}",
        (*ids, *v.params),
    ).all()
    return [_row(r) for r in rows]


def index_of(conn: Connection, v: View, row: ConversationRow) -> int:
    """Position of a row in a view (how many rows sort before it)."""
    before, params = v.order.before(row)
    sql = f"SELECT count(*) FROM conversation c WHERE {v.where} AND {before}"
    return int(conn.exec_driver_sql(sql, (*v.params, *params)).scalar_one())


def ids_in_view(conn: Connection, v: View, limit: int) -> list[str]:
    """The ids of a view's first `limit` conversations, in list order ("select all"): in
    the default order one range scan of the view's index, bounded by `limit` whatever the
    view's size; in another, a sort of the view's index entries."""
    order = v.order.order_by
    # The sort carries rids only (the view's index has them); ids are read for the `limit`
    # rows it keeps (reading each row's id first cost ~60 ms for 26k rows in another order).
    sql = (
        f"SELECT c.id FROM conversation c WHERE c.rid IN (SELECT c.rid FROM conversation c "
        f"WHERE {v.where} ORDER BY {order} LIMIT ?) ORDER BY {order}"
    )
    return list(conn.exec_driver_sql(sql, (*v.params, limit)).scalars())


def rows_of(conn: Connection, ids: list[str], *, access: Access) -> list[ConversationRow]:
    """The rows of these conversations that `access` may see, in any view and status (what
    a bulk decision changes, kept to undo it)."""
    out: list[ConversationRow] = []
    for i in range(0, len(ids), 400):
        chunk = ids[i : i + 400]
        marks = ",".join("?" * len(chunk))
        rows = conn.exec_driver_sql(
            f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.id IN ({marks})", tuple(chunk)
        ).all()
        out += [_row(r) for r in rows if access.can_see(r[2])]
    return out


def contains(conn: Connection, v: View, conversation_id: str) -> bool:
    """Whether a conversation is in a view (one primary-key lookup)."""
    sql = f"SELECT 1 FROM conversation c WHERE c.id = ? AND ({v.where})"
    return conn.exec_driver_sql(sql, (conversation_id, *v.params)).first() is not None


# ---------------------------------------------------------------------------------- thread


@dataclass
class AttachmentRow:
    id: str
    filename: str
    content_type: str
    size: int
    stored: bool
    note: str | None


@dataclass
class MessageRow:
    id: str
    kind: str
    author: str  # display name
    author_handle: str | None  # agents only
    body: str
    body_html: str | None
    created_at: datetime
    delivery_state: str | None
    delivery_error: str | None
    channel_kind: str | None
    external_id: str | None
    flags: list[str]
    meta: dict[str, Any]
    attachments: list[AttachmentRow] = field(default_factory=list)
    body_cut: bool = False  # `body` is only the start of it (thread(..., body_limit=N))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "author": self.author,
            "author_handle": self.author_handle,
            "body": self.body,
            "created_at": clock.iso(self.created_at),
            "delivery_state": self.delivery_state,
            "delivery_error": self.delivery_error,
            "channel": self.channel_kind,
            "flags": self.flags,
            "attachments": [
                {
                    "id": a.id,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "stored": a.stored,
                    "note": a.note,
                }
                for a in self.attachments
            ],
        }


def thread(
    ws: Workspace, conversation_id: str, *, access: Access, body_limit: int | None = None
) -> list[MessageRow]:
    """Every message of a conversation in time order (if `access` may see it). With
    `body_limit`, bodies hold at most that many characters (`body_cut` says there is more)
    and no HTML: the screen shows the start of a body of megabytes without reading all of it."""
    with ws.read() as conn:
        return thread_on(conn, conversation_id, access=access, body_limit=body_limit)


def _require_visible(conn: Connection, conversation_id: str, access: Access) -> None:
    if access.sees_all:
        return
    inbox = conn.exec_driver_sql(
        "SELECT inbox_id FROM conversation WHERE id = ?", (conversation_id,)
    ).scalar()
    if inbox is None or not access.can_see(inbox):
        raise NotFound(f"no conversation {conversation_id} ({NO_ACCESS})")


def thread_on(
    conn: Connection, conversation_id: str, *, access: Access, body_limit: int | None = None
) -> list[MessageRow]:
    _require_visible(conn, conversation_id, access)
    if body_limit is None:
        body, html = "m.body", "m.body_html"
    else:  # one character more than wanted tells whether there is more
        body, html = f"substr(m.body, 1, {int(body_limit) + 1})", "NULL"
    rows = conn.exec_driver_sql(
        f"""SELECT m.id, m.kind, coalesce(a.name, m.author_bot || ' (bot)', ct.name, 'Unibox'),
                  a.handle, {body},
                  {html}, m.created_at, m.delivery_state, m.delivery_error, ch.kind,
                  m.external_id, m.flags, m.meta
           FROM message m
           LEFT JOIN agent a ON a.id = m.author_agent_id
           LEFT JOIN contact ct ON ct.id = m.author_contact_id
           LEFT JOIN channel ch ON ch.id = m.channel_id
           WHERE m.conversation_id = ? ORDER BY m.created_at, coalesce(m.ord, m.rid)""",
        (conversation_id,),
    ).all()
    messages = [
        MessageRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4] if body_limit is None else r[4][:body_limit],
            r[5],
            clock.from_db(r[6]),  # type: ignore[arg-type]
            r[7],
            r[8],
            r[9],
            r[10],
            (r[11] or "").split(),
            json.loads(r[12] or "{}"),
            body_cut=body_limit is not None and len(r[4]) > body_limit,
        )
        for r in rows
    ]
    if messages:
        by_id = {m.id: m for m in messages}
        marks = ",".join("?" * len(by_id))
        # Stored: its bytes are here, or (a hub's cache, whose change log carries no bytes)
        # nobody noted why they were not kept: every ingest that keeps no bytes says why.
        for a in conn.exec_driver_sql(
            f"SELECT id, message_id, filename, content_type, size,"
            f" data IS NOT NULL OR path IS NOT NULL OR note IS NULL,"
            f" note FROM attachment WHERE message_id IN ({marks}) ORDER BY filename",
            tuple(by_id),
        ):
            by_id[a[1]].attachments.append(AttachmentRow(a[0], a[2], a[3], a[4], bool(a[5]), a[6]))
    return messages


def message_text(
    ws: Workspace, message_id: str, length: int, *, access: Access
) -> tuple[str, bool]:
    """(the first `length` characters of a message's body, whether there is more)."""
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT substr(m.body, 1, ?), c.inbox_id FROM message m "
            "JOIN conversation c ON c.id = m.conversation_id WHERE m.id = ?",
            (int(length) + 1, message_id),
        ).first()
    if row is None or not access.can_see(row[1]):
        raise NotFound(f"no message {message_id} ({NO_ACCESS})")
    text = row[0] or ""
    return text[:length], len(text) > length


def attachment_bytes(ws: Workspace, attachment_id: str, *, access: Access) -> tuple[str, bytes]:
    with ws.read() as conn:
        r = conn.exec_driver_sql(
            "SELECT a.filename, a.data, a.path, c.inbox_id FROM attachment a "
            "JOIN message m ON m.id = a.message_id JOIN conversation c ON c.id = m.conversation_id "
            "WHERE a.id = ?",
            (attachment_id,),
        ).first()
    if r is None or not access.can_see(r[3]):
        raise NotFound(f"no attachment {attachment_id} ({NO_ACCESS})")
    if r[1] is not None:
        return r[0], r[1]
    if r[2]:
        with open(r[2], "rb") as f:
            return r[0], f.read()
    if ws.remote is not None:  # a hub client's cache: bytes are fetched when opened
        return r[0], ws.remote.fetch_attachment(attachment_id)
    raise NotFound(f"attachment {r[0]!r} was not stored (over the size limit)")


# ---------------------------------------------------------------------------------- search


@dataclass
class SearchHit:
    row: ConversationRow
    snippet: str  # plain text around the match
    highlights: list[tuple[int, int]]  # (start, end) of matched words within snippet
    message_id: str | None = None  # the message the snippet is from (None: subject, name)


@dataclass
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None  # pass as `after` for the next page; None at the end


_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"


def _split_marks(marked: str) -> tuple[str, list[tuple[int, int]]]:
    plain, spans, start = [], [], None
    pos = 0
    for ch in marked:
        if ch == _MARK_OPEN:
            start = pos
        elif ch == _MARK_CLOSE and start is not None:
            spans.append((start, pos))
            start = None
        else:
            plain.append(ch)
            pos += 1
    return "".join(plain), spans


class _Fts5:
    """Full text on SQLite: FTS5 (migrations 0002/0003) reads the query text of
    SearchQuery.fts(); highlight() and snippet() mark matches in SQL."""

    postgres = False

    def __init__(self, query: SearchQuery) -> None:
        self.query = query
        self.text = query.fts()

    def match(self, table: str, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """`table`'s rows that match (`alias`: what the table is called in the FROM)."""
        return f"{table} MATCH ?", (self.text,)

    @staticmethod
    def word_rids(column: str, words: list[str]) -> tuple[str, tuple[Any, ...]]:
        """The rowids (conversation rids) of conversations with every word in one column of
        conversation_fts."""
        query = " AND ".join(f'{column} : "{w}"' for w in words)
        return "SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH ?", (query,)

    @classmethod
    def words(cls, column: str, words: list[str]) -> tuple[str, tuple[Any, ...]]:
        """Conversations with every word in one column of conversation_fts."""
        sql, params = cls.word_rids(column, words)
        return f"c.rid IN ({sql})", params


class _PgText:
    """Full text on PostgreSQL: tsvector tables with GIN indexes (migration 0002), of the
    words as FTS5 reads them (`search_text`, 0026). The query is built in SQL from the
    words alone: each one quoted as a lexeme after search_text (which leaves no quote or
    backslash), a phrase through phraseto_tsquery (which reads no operators), so nothing
    typed is ever tsquery syntax. Subject words carry weight A, the contact's B (0002).
    Matches are marked in Python (search_query.find_terms / fragment), on plain text."""

    postgres = True
    LEXEME = "to_tsquery('simple', quote_literal(search_text(?)) || ?)"

    def __init__(self, query: SearchQuery) -> None:
        self.query = query
        parts: list[tuple[str, tuple[str, ...]]] = [
            ("phraseto_tsquery('simple', search_text(?))", (" ".join(p),)) for p in query.phrases
        ]
        parts += [(self.LEXEME, (w, ":*" if prefix else "")) for w, prefix in query.typed_words()]
        self.tsquery = "(" + " && ".join(sql for sql, _ in parts) + ")"
        self.params = tuple(p for _, params in parts for p in params)

    def match(self, table: str, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        return f"{alias or table}.doc @@ {self.tsquery}", self.params

    @classmethod
    def _column_words(cls, column: str, words: list[str]) -> tuple[str, tuple[Any, ...]]:
        weight = {"subject": ":A", "contact": ":B"}[column]
        sql = " && ".join([cls.LEXEME] * len(words))
        return f"w.doc @@ ({sql})", tuple(p for w in words for p in (w, weight))

    @classmethod
    def word_rids(cls, column: str, words: list[str]) -> tuple[str, tuple[Any, ...]]:
        sql, params = cls._column_words(column, words)
        return f"SELECT w.rowid FROM conversation_fts w WHERE {sql}", params

    @classmethod
    def words(cls, column: str, words: list[str]) -> tuple[str, tuple[Any, ...]]:
        sql, params = cls._column_words(column, words)
        # EXISTS, not IN: the planner may probe the conversation's own row or read every
        # match once, as fits. IN is always the read of every match, and with a word
        # search it chose to test all 100k conversations against that set rather than the
        # one that matched the words ("refund from:okafor": 390 ms, EXISTS 0.2 ms).
        return f"EXISTS (SELECT 1 FROM conversation_fts w WHERE w.rowid = c.rid AND {sql})", params


_FullText = _Fts5 | _PgText


def _full_text(conn: Connection, query: SearchQuery) -> _FullText | None:
    """The one place a search picks its database's full text (None: no words to find)."""
    if not query.has_text:
        return None
    return _PgText(query) if _is_postgres(conn) else _Fts5(query)


def _is_postgres(conn: Any) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def search(
    ws: Workspace,
    text: str,
    *,
    access: Access,
    limit: int = 50,
    after: str | None = None,
    me: str | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> list[SearchHit]:
    """The first page of `search_page` (its hits only)."""
    return search_page(
        ws, text, access=access, limit=limit, after=after, me=me, now=now, tz=tz
    ).hits


def search_page(
    ws: Workspace,
    text: str,
    *,
    access: Access,
    limit: int = 50,
    after: str | None = None,
    me: str | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> SearchPage:
    """One page of what a search line finds (core/search_query.py reads the line); only
    inboxes `access` may see. `me` is who `assignee:me` is (default: the reader); `now` and
    `tz` read `before:` / `after:`. InvalidRequest for an operator it cannot use."""
    query = parse_search(text)
    with ws.read() as conn:
        return search_on(conn, query, limit, access=access, after=after, me=me, now=now, tz=tz)


SEARCH_SCAN_CAP = 20_000  # stop reading after this many matches (bounded time on huge sets)
_SCAN_TOP = 2**62  # the message scan's start position (above every rowid)


_Sql = tuple[str, tuple[Any, ...]]


@dataclass
class _Cond:
    """One operator's condition on `conversation c`; `rids`, when the operator can name
    the conversations it may pass from an index (a customer's identities or name words, a
    subject's words, a tag): a SELECT of their rids, to drive the message scan."""

    sql: str
    params: tuple[Any, ...]
    rids: _Sql | None = None


def _either(conds: list[_Cond]) -> _Cond:
    """Any of these conditions; its rids only when each one names its own."""
    rids = [c.rids for c in conds]
    return _Cond(
        "(" + " OR ".join(c.sql for c in conds) + ")",
        tuple(p for c in conds for p in c.params),
        None
        if any(r is None for r in rids)
        else (
            " UNION ALL ".join(sql for sql, _ in cast(list[_Sql], rids)),
            tuple(p for _, params in cast(list[_Sql], rids) for p in params),
        ),
    )


class _Conditions:
    """A search's operators as SQL over `conversation c` (joined with `message m` in the
    message scan): one condition per operator, the same key twice is either."""

    def __init__(
        self,
        conn: Connection,
        query: SearchQuery,
        access: Access,
        me: str | None,
        now: datetime,
        tz: tzinfo | None,
    ) -> None:
        self.parts: list[tuple[str, _Cond]] = []  # (operator, its condition)
        self.times: list[tuple[str, str]] = []  # ("<" or ">=", db time)
        visible, vparams = access.where()
        if visible != "1":
            self.parts.append(("", _Cond(visible, vparams)))
        keys = dict.fromkeys(k for k, _ in query.filters)
        for key in keys:
            values = query.values(key)
            if key in ("before", "after"):
                for value in values:
                    try:
                        at = parse_when(value, now, tz, past=True)
                    except InvalidRequest as e:
                        raise InvalidRequest(f"{key}: {e}") from e
                    self.times.append(("<" if key == "before" else ">=", clock.to_db(at) or ""))
                continue
            self.parts.append(
                (key, _either([_condition(conn, key, v, access, me) for v in values]))
            )

    def sql(self, time_column: str | None, skip: str | None = None) -> _Sql:
        """All conditions (' AND ...', or ''), times compared with `time_column` (None:
        without the times), but the operator `skip`'s."""
        parts = [(c.sql, c.params) for key, c in self.parts if key != skip]
        if time_column is not None:
            parts += [(f"{time_column} {op} ?", (t,)) for op, t in self.times]
        return "".join(f" AND {sql}" for sql, _ in parts), tuple(
            p for _, params in parts for p in params
        )

    def times_sql(self, time_column: str) -> _Sql:
        """The times alone (' AND ...', or ''), compared with `time_column`."""
        return "".join(f" AND {time_column} {op} ?" for op, _ in self.times), tuple(
            t for _, t in self.times
        )

    def driver(self) -> tuple[str, _Sql] | None:
        """The first operator that names the conversations it may pass (see _Cond.rids)."""
        return next(((key, c.rids) for key, c in self.parts if c.rids is not None), None)


def _fts_words(conn: Connection, column: str, value: str) -> _Cond:
    """Conversations with every word of `value` in one column of conversation_fts (quoted
    tokens only)."""
    words = search_words(value)
    if not words:  # callers check first; an empty FTS5 query would be a syntax error
        raise InvalidRequest(f"no words to look for in {value!r}")
    text = _PgText if _is_postgres(conn) else _Fts5
    return _Cond(*text.words(column, words), text.word_rids(column, words))


def _condition(conn: Connection, key: str, value: str, access: Access, me: str | None) -> _Cond:
    if key == "channel":
        return _Cond("c.channel_kind = ?", (value,))
    if key == "status":
        return _Cond("c.status = ?", (value,))
    if key == "subject":
        return _fts_words(conn, "subject", value)
    if key == "in":
        found = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT id FROM inbox WHERE id = ? OR name = ? COLLATE NOCASE", (value, value)
            )
            if access.can_see(r[0])
        ]
        if not found:
            raise NotFound(f"in: no inbox {value!r} ({NO_ACCESS})")
        return _Cond(f"c.inbox_id IN ({','.join('?' * len(found))})", tuple(found))
    if key == "assignee":
        if value.lower() == "none":
            return _Cond("c.assignee_id IS NULL", ())
        if value.lower() == "me":
            if not me:
                raise InvalidRequest("assignee:me needs to know who you are (set agent in config)")
            return _Cond("c.assignee_id = ?", (me,))
        return _Cond("c.assignee_id = ?", (_agent_id(conn, value, key),))
    if key == "tag":
        tagged = (
            "FROM conversation_tag x JOIN tag g ON g.id = x.tag_id "
            "WHERE {} g.name = ? COLLATE NOCASE"
        )
        name = (value.lstrip("#"),)
        return _Cond(
            f"EXISTS (SELECT 1 {tagged.format('x.conversation_id = c.id AND')})",
            name,
            (
                "SELECT t.rid FROM conversation t WHERE t.id IN "
                f"(SELECT x.conversation_id {tagged.format('')})",
                name,
            ),
        )
    # from / to: the customer (an address or number exactly, or the words of a name), an
    # agent's replies (from:@ana, or from:ana when ana is a handle), our address (to:).
    kinds = ",".join(f"'{k}'" for k in IDENTITY_KINDS)  # leads the (kind, value) index
    identities = (
        f"(SELECT contact_id FROM contact_identity WHERE kind IN ({kinds}) AND value IN (?, ?))"
    )
    exact = (value, value.lower())
    ors = [
        _Cond(
            f"c.contact_id IN {identities}",
            exact,
            (f"SELECT t.rid FROM conversation t WHERE t.contact_id IN {identities}", exact),
        )
    ]
    # Our address, a channel's name or an agent's replies: conversations by the thousand,
    # with no index to find them by (no `rids`: these never drive the message scan).
    if "@" in value[1:]:
        if key == "to":
            ors.append(
                _Cond(
                    "c.channel_id IN (SELECT id FROM channel WHERE lower(address) = ?)",
                    (value.lower(),),
                )
            )
    else:
        handle = conn.exec_driver_sql(
            "SELECT id FROM agent WHERE handle = ? COLLATE NOCASE", (value.lstrip("@"),)
        ).scalar()
        if value.startswith("@") and handle is None:
            raise NotFound(f"{key}: no agent {value!r}")
        if value.startswith("@") and key == "to":
            raise InvalidRequest("to: takes an address or a name; from:@handle finds replies")
        if handle is not None and key == "from":
            # `LIMIT 1 OFFSET 0`: asked of each conversation the search reads (an index
            # probe), never turned into one read of all the agent's replies: PostgreSQL
            # made it a hashed set from a scan of every message (70,000 replies of ana's
            # at 100k conversations, 250 ms of CPU); an OFFSET keeps it from doing so.
            ors.append(
                _Cond(
                    "EXISTS (SELECT 1 FROM message am WHERE am.conversation_id = c.id "
                    "AND am.kind = 'outgoing' AND am.author_agent_id = ? LIMIT 1 OFFSET 0)",
                    (handle,),
                )
            )
        if not value.startswith("@") and search_words(value):
            ors.append(_fts_words(conn, "contact", value))
            if key == "to":
                ors.append(
                    _Cond(
                        "c.channel_id IN (SELECT id FROM channel WHERE name = ? COLLATE NOCASE)",
                        (value,),
                    )
                )
    return _either(ors)


def _agent_id(conn: Connection, value: str, key: str) -> str:
    found = conn.exec_driver_sql(
        "SELECT id FROM agent WHERE handle = ? COLLATE NOCASE OR id = ?",
        (value.lstrip("@"), value),
    ).scalar()
    if found is None:
        raise NotFound(f"{key}: no agent {value!r}; use a handle, me or none")
    return found


def _search_cursor(cursor: str, has_text: bool) -> tuple[str, Any]:
    """('c', (time, rid)): an operator-only list after that row; ('s', rid): subject and
    name matches below that conversation rowid; ('m', rid): the message scan below that
    message rowid."""
    phase, _, rest = cursor.partition(":")
    if phase == "c" and not has_text:
        return "c", _parse_cursor(rest)
    if phase in ("s", "m") and has_text:
        try:
            rid = int(rest)
            if 0 < rid <= _SCAN_TOP:
                return phase, rid
        except ValueError:
            pass
    raise InvalidRequest(f"bad cursor {cursor!r}; pass back a next_cursor you were given")


def search_on(
    conn: Connection,
    query: SearchQuery | str,
    limit: int,
    *,
    access: Access,
    after: str | None = None,
    me: str | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> SearchPage:
    """One page of a search, in two parts read one after the other:

    1. conversations whose subject or contact name matches the words, newest conversation
       first (the index's own order: sorting thousands of subject matches by activity cost
       50-150 ms at 100k); with operators only, every conversation they select, newest
       activity first, a keyset range of the list order like `list_page`;
    2. conversations with a matching message, by their newest match: the message index is
       read newest rowid first (one query, stepped) until `limit` new conversations are
       found or SEARCH_SCAN_CAP matches were read; a conversation with hundreds of matches
       costs one slot. A conversation shown in part 1 or on an earlier page is left out
       (one indexed check per batch of new ones).

    Each page shows its rows newest activity (part 1) or newest match (part 2) first; the
    index order only decides which rows are on which page.

    Operators are conditions on the conversation in both parts (`before:`/`after:` compare
    the matching message's time in part 2, the last activity in part 1); matches in inboxes
    the reader cannot see are skipped in SQL, so they never take a slot. The cursor says
    which part and where (`s:<rid>`, `m:<rowid>`, or `c:<time>|<rid>` for operators only)."""
    if isinstance(query, str):
        query = parse_search(query)
    limit = max(1, limit)
    now = now or clock.utcnow()
    conds = _Conditions(conn, query, access, me or access.agent_id, now, tz)
    fts = _full_text(conn, query)
    if _is_postgres(conn):
        # A plan for these words, not a generic one: psycopg prepares a statement run five
        # times on a connection, and PostgreSQL may then plan it once for any parameters,
        # blind to how common the words are and how wide the rowid window is (a rare word
        # searched again and again went from 5 ms to 1.6 s once the message scan read in
        # windows, _pg_scan). For this read transaction only.
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        # No parallel workers and no JIT for a search's small reads: starting workers cost
        # ~10 ms on a batch of the driven scan that takes ~1 ms, and the JIT compiled the
        # scan's widest window (~35 ms) to save less than that.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        conn.exec_driver_sql("SET LOCAL jit = off")
    start = ("s", _SCAN_TOP) if fts is not None else ("c", None)
    phase, pos = _search_cursor(after, fts is not None) if after else start
    hits: list[SearchHit] = []
    if phase in ("c", "s"):
        rows = _conversation_part(conn, fts, conds, pos, limit + 1)
        hits = rows[:limit]
        last = hits[-1].row if hits else None
        if fts is not None:  # a page reads in index order and shows newest activity first
            hits.sort(key=lambda h: (h.row.last_message_at, h.row.rid), reverse=True)
        if len(rows) > limit and last is not None:
            return SearchPage(hits, f"s:{last.rid}" if fts is not None else f"c:{last.cursor()}")
        if fts is None:
            return SearchPage(hits, None)
        phase, pos = "m", _SCAN_TOP
    if fts is None:  # an operator-only query has no message part (its cursors are c:)
        return SearchPage(hits, None)
    more, next_pos = _message_part(conn, fts, conds, cast(int, pos), limit - len(hits), hits)
    return SearchPage(hits, f"m:{next_pos}" if more else None)


def _conversation_part(
    conn: Connection, fts: _FullText | None, conds: _Conditions, after: Any, limit: int
) -> list[SearchHit]:
    where, params = conds.sql("c.last_message_at")
    if fts is not None:
        # What the hit shows: subject — contact, matches marked (PostgreSQL: in Python).
        shown = (
            "f.subject || ' — ' || f.contact"
            if fts.postgres
            else "highlight(conversation_fts, 0, char(2), char(3)) || ' — ' || "
            "highlight(conversation_fts, 1, char(2), char(3))"
        )
        match, match_params = fts.match("conversation_fts", "f")
        joins = ROW_FROM[ROW_FROM.index("LEFT JOIN") :]
        if fts.postgres:
            # The page's rows first, then what they show: PostgreSQL's planner (which reads
            # two correlated words as rare) joined every match to the contact, agent and
            # team before the sort (3,400 subject matches of "invoice vat": ~100 ms).
            inner = "JOIN conversation c ON c.rid = f.rowid " if where else ""
            select = (
                f"SELECT {ROW_COLUMNS}, {shown} FROM (SELECT f.rowid, f.subject, f.contact "
                f"FROM conversation_fts f {inner}WHERE {match} AND f.rowid < ?{where} "
                f"ORDER BY f.rowid DESC LIMIT ?) f JOIN conversation c ON c.rid = f.rowid "
                f"{joins} ORDER BY f.rowid DESC"
            )
            rows = conn.exec_driver_sql(select, (*match_params, after, *params, limit)).all()
            return [_pg_subject_hit(fts, r) for r in rows]
        select = (
            f"SELECT {ROW_COLUMNS}, {shown} FROM conversation_fts f "
            f"JOIN conversation c ON c.rid = f.rowid {joins}"
            f" WHERE {match} AND f.rowid < ?{where} ORDER BY f.rowid DESC"
        )
        params = (*match_params, after, *params)
    else:
        select = f"SELECT {ROW_COLUMNS}, NULL {ROW_FROM} WHERE 1{where}"
        if after is not None:
            select += " AND (c.last_message_at, c.rid) < (?, ?)"
            params = (*params, *after)
        select += " ORDER BY c.last_message_at DESC, c.rid DESC"
    rows = conn.exec_driver_sql(f"{select} LIMIT ?", (*params, limit)).all()
    hits = []
    for r in rows:
        row = _row(r)
        marked = r[-1] if r[-1] is not None else (row.subject or row.preview)
        plain, spans = _split_marks(" ".join(marked.split()))
        hits.append(SearchHit(row, plain, spans))
    return hits


def _pg_subject_hit(fts: _FullText, r: Any) -> SearchHit:
    """A subject or name match on PostgreSQL: its matches marked in Python."""
    row = _row(r)
    if r[-1] is None:
        return SearchHit(row, " ".join((row.subject or row.preview).split()), [])
    plain = " ".join(r[-1].split())
    return SearchHit(row, plain, find_terms(plain, fts.query.terms()))


def _message_part(
    conn: Connection,
    fts: _FullText,
    conds: _Conditions,
    below: int,
    wanted: int,
    hits: list[SearchHit],
) -> tuple[bool, int]:
    """Fill `hits` with up to `wanted` conversations from the message scan below rowid
    `below`; returns (whether there may be more, the position to continue from).

    One FTS5 query read lazily, newest rowid first: each query loads the term's whole
    doclist (several ms for a common word), so it is started once and stepped until the
    page is full, never re-run per chunk (PostgreSQL's driver fetches a whole result:
    there, chunks that grow, `_pg_scan`). Operators are a flag per row (not a WHERE) so
    the rows read are counted and the scan stays bounded.

    A common word with an operator that passes few conversations (`refund from:okafor`)
    reads many matches to find a few that pass; there the operator drives instead
    (`_driven_scan`, PostgreSQL), with the same pages."""
    driven = _driven_scan(conn, fts, conds, below, wanted, hits) if fts.postgres else None
    if driven is not None:
        _add_message_hits(conn, fts, driven[0], hits)
        return driven[1], driven[2]
    where, params = conds.sql("m.created_at")
    join = "JOIN conversation c ON c.id = m.conversation_id " if where else ""
    match, match_params = fts.match("message_fts", "f")
    # The snippet: FTS5's, for each row that passes; PostgreSQL's for the page's hits only.
    snippet = (
        "''" if fts.postgres else "coalesce(snippet(message_fts, 0, char(2), char(3), '…', 12), '')"
    )
    flag = f"SELECT f.rowid, m.conversation_id, m.id, m.created_at, CASE WHEN (1{where}) THEN "
    if fts.postgres:
        rows: Iterable[Any] = _pg_scan(
            conn, cast(_PgText, fts), flag + "'' END", join, params, below, wanted
        )
    else:
        sql = (
            f"{flag}{snippet} END FROM message_fts f JOIN message m ON m.rid = f.rowid {join}"
            f"WHERE {match} AND f.rowid < ? ORDER BY f.rowid DESC"
        )
        rows = conn.exec_driver_sql(sql, (*params, *match_params, below))
    shown = {h.row.id for h in hits}
    subject_rids: dict[str, set[int]] = {}
    found: dict[str, tuple[str, str, str]] = {}  # conversation -> (time, snippet, message)
    pos, scanned, more = below, 0, False
    it = iter(rows)
    batch: list[Any] = []
    while wanted > 0:
        # A batch of rows that pass, of conversations not shown yet; then one check of
        # which of them earlier pages (or the conversation part) showed.
        batch.clear()
        new_ids: dict[str, None] = {}
        for row in it:
            scanned += 1
            batch.append(row)
            if row[4] is not None and row[1] not in shown and row[1] not in found:
                new_ids[row[1]] = None
                if len(new_ids) >= min(wanted, 64):
                    break
            if scanned >= SEARCH_SCAN_CAP:
                break
        if not batch:
            break
        seen = (
            _already_shown(conn, fts, conds, list(new_ids), below, subject_rids)
            if new_ids
            else set()
        )
        for rowid, conv_id, message_id, created, snip in batch:
            pos = rowid
            if snip is None or conv_id in shown or conv_id in found or conv_id in seen:
                continue
            found[conv_id] = (created, snip, message_id)
            wanted -= 1
            if wanted == 0:
                break
        if scanned >= SEARCH_SCAN_CAP and wanted > 0:
            more = True  # bounded: the next page reads on from here
            break
    if wanted == 0:
        more = (bool(batch) and batch[-1][0] != pos) or next(it, None) is not None
    _add_message_hits(conn, fts, found, hits)
    return more, pos


def _add_message_hits(
    conn: Connection, fts: _FullText, found: dict[str, tuple[str, str, str]], hits: list[SearchHit]
) -> None:
    """Append the message scan's conversations to `hits`: `found` is conversation ->
    (time, snippet, message) of the match each one shows (snippet: FTS5's, marked; '' on
    PostgreSQL, made here from the message's body)."""
    if found and fts.postgres:
        marks = ",".join("?" * len(found))
        bodies = dict(
            conn.exec_driver_sql(
                f"SELECT id, body FROM message WHERE id IN ({marks})",
                tuple(m for _, _, m in found.values()),
            ).all()
        )
        terms = fts.query.terms()
        found = {
            conv_id: (
                created,
                _marked(fragment(bodies.get(message_id) or "", terms), terms),
                message_id,
            )
            for conv_id, (created, _, message_id) in found.items()
        }
    if found:
        marks = ",".join("?" * len(found))
        by_id = {
            r[0]: _row(r)
            for r in conn.exec_driver_sql(
                f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.id IN ({marks})", tuple(found)
            )
        }
        # Newest match first within the page (rowids are arrival order: an initial sync
        # stores old mail late).
        for conv_id, (_, snip, message_id) in sorted(
            found.items(), key=lambda item: item[1][0], reverse=True
        ):
            plain, spans = _split_marks(" ".join(snip.split()))
            hits.append(SearchHit(by_id[conv_id], plain, spans, message_id))


DRIVE_MAX = 5_000  # conversations an operator may name and still drive the message scan
DRIVE_RATIO = 4  # ... when their messages are at most this many times the word's matches


def _driven_scan(
    conn: Connection,
    fts: _FullText,
    conds: _Conditions,
    below: int,
    wanted: int,
    hits: list[SearchHit],
) -> tuple[dict[str, tuple[str, str, str]], bool, int] | None:
    """The message scan driven by an operator (PostgreSQL): the same page as the scan
    (`found`, whether there may be more, the position to continue from), or None when the
    operator does not pay (no operator names its conversations, more than DRIVE_MAX of
    them, or their messages outnumber the word's matches DRIVE_RATIO times).

    The scan reads the word's matches newest first and keeps those that pass: each match
    costs a join to its message and conversation (~20 µs a row on PostgreSQL), and a
    common word with a rare operator ("refund from:okafor": 29,000 matches, 2,900 of
    100k conversations) read ~10,000 of them for a page (~200 ms of the server's CPU).
    Here the conversations that pass come first (the operator's index: identities,
    conversation_fts, tags), each with a bound of its messages' rowids below `below` (its
    newest searchable message or higher: a bound is all the order needs), and the words are
    checked in their messages, highest bound first, in batches: a conversation's newest
    passing match is at or below its bound, so once `wanted` conversations have a match
    above the bound of every conversation left, the page is the scan's. The cap is
    DRIVE_RATIO x SEARCH_SCAN_CAP messages of the conversations checked (their
    message_count; a message here costs a probe, ~1/8 of a row of the scan): at the cap
    the page holds the conversations known to come first and the next one reads on below
    them."""
    driver = conds.driver()
    if driver is None or wanted <= 0:  # none wanted: the scan says if any match is left
        return None
    key, (rids, rids_params) = driver
    match, match_params = fts.match("message_fts", "f")
    # The planner's estimates first (~1 ms): reading the conversations costs ~10 µs each.
    words = _estimated_rows(conn, f"SELECT 1 FROM message_fts f WHERE {match}", match_params)
    messages = _estimated_rows(
        conn,
        "SELECT 1 FROM conversation c JOIN message m ON m.conversation_id = c.id "
        f"WHERE c.rid IN ({rids})",
        rids_params,
    )
    if messages > DRIVE_RATIO * words:
        return None
    where, params = conds.sql(None, skip=key)  # the driver is the IN below; times: per match
    # `= ANY(ARRAY(...))`: the conversations read in rid order (IN: hashed, ~30% slower).
    # Each one's bound is `newest_message_rid` (migration 0030) where that is below `below`
    # (every conversation, on the first page); otherwise (a later page, or NULL) the newest
    # message below it, from the index (~3-5 µs a conversation).
    found = conn.exec_driver_sql(
        "SELECT c.id, c.message_count, CASE WHEN c.newest_message_rid < ? "
        "THEN c.newest_message_rid ELSE (SELECT max(m.rid) FROM message m "
        f"WHERE m.conversation_id = c.id AND m.rid < ?) END FROM conversation c "
        f"WHERE c.rid = ANY(ARRAY({rids})){where} LIMIT ?",
        (below, below, *rids_params, *params, DRIVE_MAX + 1),
    ).all()
    if len(found) > DRIVE_MAX or sum(r[1] for r in found) > DRIVE_RATIO * words:
        return None
    candidates = [r for r in found if r[2] is not None]  # with messages below `below`
    candidates.sort(key=lambda r: r[2], reverse=True)
    times, times_params = conds.times_sql("m.created_at")
    shown = {h.row.id for h in hits}
    subject_rids: dict[str, set[int]] = {}
    newest: dict[str, tuple[int, str, str]] = {}  # conversation -> (rowid, time, message)
    matches: list[int] = []  # the rowids of every passing match read
    ranked: list[tuple[int, str]] = []  # (rowid, conversation) of those the page may show
    done, size, checked = 0, _first_batch(conn, words, found, wanted), 0
    while done < len(candidates):
        batch = candidates[done : done + size]
        done = done + len(batch)
        checked += sum(r[1] for r in batch)
        marks = ",".join("?" * len(batch))
        # Each message's own row of message_fts (`OFFSET 0`: a probe per message): for a few
        # hundred conversations the planner read every match of the word instead (the
        # GIN index, then a hash join: 27 ms for 448 conversations, the probes 12 ms).
        for rowid, conv_id, message_id, created in conn.exec_driver_sql(
            "SELECT m.rid, m.conversation_id, m.id, m.created_at FROM message m "
            f"WHERE m.conversation_id IN ({marks}) AND m.rid < ?{times} AND EXISTS "
            f"(SELECT 1 FROM message_fts f WHERE f.rowid = m.rid AND {match} OFFSET 0)",
            (*(r[0] for r in batch), below, *times_params, *match_params),
        ):
            matches.append(rowid)
            if conv_id not in newest or rowid > newest[conv_id][0]:
                newest[conv_id] = (rowid, created, message_id)
        new = [r[0] for r in batch if r[0] in newest and r[0] not in shown]
        seen = _already_shown(conn, fts, conds, new, below, subject_rids) if new else set()
        ranked += [(newest[c][0], c) for c in new if c not in seen]
        ranked.sort(reverse=True)
        left = candidates[done][2] if done < len(candidates) else 0  # the newest unread
        if len(ranked) >= wanted and ranked[wanted - 1][0] > left:
            break
        size = _next_batch(done, len(ranked), wanted)
        if checked >= DRIVE_RATIO * SEARCH_SCAN_CAP and done < len(candidates):
            # Bounded: what is known to come first, and the next page reads on below it.
            page = [r for r in ranked if r[0] > left][:wanted]
            return _found(page, newest), True, left + 1
    page = ranked[:wanted]
    if len(page) < wanted:
        return _found(page, newest), False, below
    pos = page[-1][0]
    # As the scan says: whether any match of the words is left below, passing or not.
    more = any(rowid < pos for rowid in matches) or (
        conn.exec_driver_sql(
            f"SELECT 1 FROM message_fts f WHERE {match} AND f.rowid < ? LIMIT 1",
            (*match_params, pos),
        ).first()
        is not None
    )
    return _found(page, newest), more, pos


DRIVE_FIRST = 64  # conversations the driven scan checks in a batch, at least
DRIVE_FIRST_MOST = 512  # ... and at most in its first (matches cluster: the newest may do)


def _batch_size(missing: int, rate: float) -> int:
    """Conversations to check for `missing` more rows of the page when `rate` of them have
    a match: two thirds more than that count (the page is full once its last match is
    above every bound left, and conversations the conversation part showed do not
    count), at least DRIVE_FIRST. Doubling from 64 overshot or took round trips:
    `refund from:okafor` (1 in 5 conversations match) needs 285 of its 2,922 and checked
    64 + 128 + 256 in three; sized, it checks 336 in one."""
    return max(DRIVE_FIRST, math.ceil(5 * max(missing, 1) / (3 * rate)))


def _first_batch(conn: Connection, words: int, found: list[Any], wanted: int) -> int:
    """The first batch, at the rate the planner's estimate of the word's matches (`words`)
    gives if they fell evenly over the messages; within DRIVE_FIRST..DRIVE_FIRST_MOST."""
    total = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = 'message_fts'::regclass"
    ).scalar()
    if not found or not total or total <= 0 or words <= 0:
        return DRIVE_FIRST
    average = sum(r[1] for r in found) / len(found)
    rate = 1 - (1 - min(1.0, words / total)) ** average  # a conversation has a match
    return DRIVE_FIRST_MOST if rate <= 0 else min(DRIVE_FIRST_MOST, _batch_size(wanted, rate))


def _next_batch(done: int, ranked: int, wanted: int) -> int:
    """The next batch, at the rate the `done` conversations checked so far showed (`ranked`
    of them the page may show); doubling while none was found."""
    return done * 2 if ranked == 0 else _batch_size(wanted - ranked, ranked / done)


def _found(
    page: list[tuple[int, str]], newest: dict[str, tuple[int, str, str]]
) -> dict[str, tuple[str, str, str]]:
    return {c: (newest[c][1], "", newest[c][2]) for _, c in page}


def _estimated_rows(conn: Connection, select: str, params: tuple[Any, ...]) -> int:
    """PostgreSQL's estimate of the rows `select` returns (its statistics: a word's share
    of the messages, from ANALYZE), without running it."""
    plan = conn.exec_driver_sql(f"EXPLAIN {select}", params).scalar() or ""
    found = re.search(r" rows=(\d+)", plan)
    return int(found.group(1)) if found else 0


PG_WINDOW = 16_384  # message rowids the first window of the PostgreSQL scan spans
PG_FEW = 2_000  # matches left below the windows that one plain GIN read takes at once


def _pg_scan(
    conn: Connection,
    fts: _PgText,
    select: str,
    join: str,
    params: tuple[Any, ...],
    below: int,
    wanted: int,
) -> Iterator[Any]:
    """The message scan's rows on PostgreSQL, newest rowid first, up to SEARCH_SCAN_CAP.

    PostgreSQL's GIN index gives its matches in no order, and its planner reads the words
    of a query as independent: for "429 errors" (15,000 matches, the two words always
    together) it expected 400, read and joined every match to sort them (~320 ms, twice
    for an agent who sees half the inboxes), where a walk down the rowid index would
    have found a page in ~8,000 rows; for two common words that seldom meet, the walk is
    what it picks, through the whole table. So the scan reads windows of rowids, newest
    first: whichever plan the planner picks for a window (the walk, or the GIN bitmap
    ANDed with the rowid range) costs at most the window. A window grows 4 times while
    it finds too little; once the matches seen say that few are left below
    (PG_FEW), one GIN read with no walk possible (`+ 0`) takes the rest. In each read
    only the rowids are sorted and limited; the message and conversation (the flag of
    the operators) are joined for the rows returned."""
    match, match_params = fts.match("message_fts", "f")
    top = conn.exec_driver_sql(
        "SELECT max(rowid) FROM message_fts WHERE rowid < ?", (below,)
    ).scalar()
    if top is None:
        return
    width: int | None = PG_WINDOW  # None: the rest in one read
    hi, size, read, seen, spanned = top + 1, max(64, 2 * wanted), 0, 0, 0
    while read < SEARCH_SCAN_CAP and hi > 0:
        size = min(size, SEARCH_SCAN_CAP - read)
        rest = width is None or (spanned > 0 and seen * hi <= PG_FEW * spanned)
        lo = 0 if rest else max(0, hi - cast(int, width))
        # `+ 0` keeps the rowid index out of the order: a phrase's words are read as if
        # anywhere in the message, so the planner expects a match soon and walks.
        order = "f.rowid + 0" if rest or fts.query.phrases else "f.rowid"
        sql = (
            f"{select} FROM (SELECT f.rowid FROM message_fts f WHERE {match} AND f.rowid < ? "
            f"AND f.rowid >= ? ORDER BY {order} DESC LIMIT ?) f "
            f"JOIN message m ON m.rid = f.rowid {join}ORDER BY f.rowid DESC"
        )
        rows = conn.exec_driver_sql(sql, (*params, *match_params, hi, lo, size)).all()
        yield from rows
        read += len(rows)
        if len(rows) == size:  # the window goes on below the last row
            spanned += hi - rows[-1][0]
            seen += len(rows)
            hi, size = rows[-1][0], size * 4
            continue
        spanned += hi - lo
        seen += len(rows)
        if lo == 0:
            return
        hi, width = lo, None if rest else cast(int, width) * 4


def _marked(text: str, terms: list[tuple[str, bool]]) -> str:
    """`text` with its matching words between the marks _split_marks reads."""
    out, pos = [], 0
    for start, end in find_terms(text, terms):
        out += [text[pos:start], _MARK_OPEN, text[start:end], _MARK_CLOSE]
        pos = end
    return "".join(out) + text[pos:]


def _already_shown(
    conn: Connection,
    fts: _FullText,
    conds: _Conditions,
    ids: list[str],
    below: int,
    subject_rids: dict[str, set[int]],
) -> set[str]:
    """Which of these conversations a search showed before the message scan reached
    `below`: in the conversation part, or with a newer matching message. `subject_rids`
    keeps the rowids of every subject/name match across the batches of one page (one read
    of that index; probing it with each batch's ids cost a full scan of it per batch)."""
    marks = ",".join("?" * len(ids))
    if "" not in subject_rids:
        match, match_params = fts.match("conversation_fts")
        subject_rids[""] = {
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT rowid FROM conversation_fts WHERE {match}", match_params
            )
        }
    where_c, params_c = conds.sql("c.last_message_at")
    shown = {
        r[0]
        for r in conn.exec_driver_sql(
            f"SELECT c.id, c.rid FROM conversation c WHERE c.id IN ({marks}){where_c}",
            (*ids, *params_c),
        )
        if r[1] in subject_rids[""]
    }
    if below < _SCAN_TOP:
        where_m, params_m = conds.sql("m.created_at")
        match, match_params = fts.match("message_fts")
        shown |= {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT DISTINCT m.conversation_id FROM message m "
                "JOIN conversation c ON c.id = m.conversation_id "
                f"WHERE m.conversation_id IN ({marks}) AND m.rid >= ? AND m.rid IN "
                f"(SELECT rowid FROM message_fts WHERE {match} AND rowid >= ?)"
                f"{where_m}",
                (*ids, below, *match_params, below, *params_m),
            )
        }
    return shown


# ---------------------------------------------------------------------------------- people


@dataclass
class AgentRow:
    id: str
    name: str
    handle: str
    email: str | None
    availability: str
    teams: list[str]
    role: str = "agent"
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def agents(ws: Workspace) -> list[AgentRow]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT a.id, a.name, a.handle, a.email, a.availability, "
            "(SELECT group_concat(t.name, '\x1f') FROM team_member m JOIN team t ON t.id = m.team_id "
            " WHERE m.agent_id = a.id), a.role, a.active FROM agent a ORDER BY a.name"
        ).all()
    return [
        AgentRow(r[0], r[1], r[2], r[3], r[4], r[5].split("\x1f") if r[5] else [], r[6], bool(r[7]))
        for r in rows
    ]


def open_counts_by_assignee(ws: Workspace, *, access: Access) -> dict[str, int]:
    """Open conversations per assignee, in the inboxes the reader may see (the team view)."""
    where, params = access.where("c.inbox_id")
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.assignee_id, count(*) FROM conversation c WHERE c.status = 'open' "
            f"AND c.assignee_id IS NOT NULL AND {where} GROUP BY c.assignee_id",
            params,
        ).all()
    return {r[0]: int(r[1]) for r in rows}


@dataclass
class NamedRow:
    id: str
    name: str
    detail: str = ""


def teams(ws: Workspace) -> list[NamedRow]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT t.id, t.name, (SELECT count(*) FROM team_member m WHERE m.team_id = t.id) "
            "FROM team t ORDER BY t.name"
        ).all()
    return [NamedRow(r[0], r[1], f"{r[2]} members") for r in rows]


def tags(ws: Workspace) -> list[str]:
    """Every tag's name, for completion (tags are everyone's: core/commands/tags.py)."""
    with ws.read() as conn:
        return list(conn.exec_driver_sql("SELECT name FROM tag ORDER BY name").scalars())


def inboxes(ws: Workspace) -> list[NamedRow]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql("SELECT id, name, access FROM inbox ORDER BY name").all()
    return [NamedRow(*r) for r in rows]


def visible_inboxes(ws: Workspace, agent_id: str | None) -> list[NamedRow]:
    """Inboxes the agent may see (core/access.py), by name."""
    rule = reader(ws, agent_id)
    return [i for i in inboxes(ws) if rule.can_see(i.id)]


def agents_for_inbox(ws: Workspace, inbox_id: str) -> list[AgentRow]:
    """Active agents who may act in an inbox: whom the assign picker and the @ popup offer."""
    with ws.read() as conn:
        allowed = {a.id for a in agents(ws) if a.active and for_agent(conn, a.id).can_act(inbox_id)}
    return [a for a in agents(ws) if a.id in allowed]


@dataclass
class ChannelRow:
    id: str
    inbox_id: str
    inbox_name: str
    kind: str
    name: str
    address: str | None
    enabled: bool
    settings: dict[str, Any]
    status: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inbox": self.inbox_name,
            "kind": self.kind,
            "name": self.name,
            "address": self.address,
            "enabled": self.enabled,
            "status": self.status,
            "settings": self.settings,
        }


def channels(ws: Workspace) -> list[ChannelRow]:
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.id, c.inbox_id, i.name, c.kind, c.name, c.address, c.enabled, c.settings, "
            "c.status FROM channel c JOIN inbox i ON i.id = c.inbox_id ORDER BY i.name, c.kind, c.name"
        ).all()
    return [ChannelRow(*r[:6], bool(r[6]), json.loads(r[7] or "{}"), r[8]) for r in rows]  # type: ignore[call-arg]


def sync_state(ws: Workspace, channel_id: str, key: str) -> dict[str, Any]:
    with ws.read() as conn:
        value = conn.exec_driver_sql(
            "SELECT state FROM sync_state WHERE channel_id = ? AND key = ?", (channel_id, key)
        ).scalar()
    return json.loads(value) if value else {}


@dataclass
class SnippetRow:
    id: str
    name: str
    body: str


def snippets(ws: Workspace) -> list[SnippetRow]:
    with ws.read() as conn:
        return [
            SnippetRow(*r)
            for r in conn.exec_driver_sql("SELECT id, name, body FROM snippet ORDER BY name")
        ]


@dataclass
class TicketRow:
    id: str
    number: int
    title: str
    pipeline: str
    stage: str
    priority: str
    owner: str | None
    status: str
    created_at: datetime
    closed_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["created_at"], d["closed_at"] = clock.iso(self.created_at), clock.iso(self.closed_at)
        return d


TICKET_SQL = """SELECT t.id, t.number, t.title, t.pipeline, t.stage, t.priority, a.handle, t.status,
    t.created_at, t.closed_at FROM ticket t LEFT JOIN agent a ON a.id = t.owner_id"""


def _ticket(r: Any) -> TicketRow:
    return TicketRow(*r[:8], clock.from_db(r[8]), clock.from_db(r[9]))  # type: ignore[call-arg]


def ticket(ws: Workspace, ticket_id: str) -> TicketRow:
    with ws.read() as conn:
        # By id or by number (a number as a number: PostgreSQL compares no text to it).
        number = int(ticket_id) if ticket_id.isascii() and ticket_id.isdigit() else None
        r = conn.exec_driver_sql(
            f"{TICKET_SQL} WHERE t.id = ? OR t.number = ?", (ticket_id, number)
        ).first()
    if r is None:
        raise NotFound(f"no ticket {ticket_id}")
    return _ticket(r)


@dataclass
class ContactDetail:
    id: str
    name: str
    company: str | None
    owner: str | None
    notes: str
    identities: list[tuple[str, str]]
    conversations: list[ConversationRow]
    tickets: list[TicketRow]
    hidden: int = 0  # conversations in inboxes the reader cannot see ("+2 in other inboxes")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "company": self.company,
            "owner": self.owner,
            "notes": self.notes,
            "identities": [{"kind": k, "value": v} for k, v in self.identities],
            "conversations": [c.to_json() for c in self.conversations],
            "tickets": [t.to_json() for t in self.tickets],
            "hidden_conversations": self.hidden,
        }


def contact(ws: Workspace, contact_id: str, *, access: Access, history: int = 50) -> ContactDetail:
    """A contact with identities, recent conversations (newest first) and linked tickets.
    Conversations (and their tickets) in inboxes the reader cannot see are left out and
    counted in `hidden`."""
    visible, vparams = access.where()
    with ws.read() as conn:
        seen: set[str] = set()
        while True:  # a merged contact forwards to the one it was merged into
            r = conn.exec_driver_sql(
                "SELECT c.id, c.name, c.company, a.handle, c.notes, c.merged_into_id "
                "FROM contact c LEFT JOIN agent a ON a.id = c.owner_id WHERE c.id = ?",
                (contact_id,),
            ).first()
            if r is None:
                raise NotFound(f"no contact with id {contact_id}")
            seen.add(r[0])
            if not r[5] or r[5] in seen:
                break
            contact_id = r[5]
        idents = conn.exec_driver_sql(
            "SELECT kind, value FROM contact_identity WHERE contact_id = ? ORDER BY kind, value",
            (contact_id,),
        ).all()
        convs = [
            _row(x)
            for x in conn.exec_driver_sql(
                f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.contact_id = ? AND {visible} "
                "ORDER BY c.last_message_at DESC LIMIT ?",
                (contact_id, *vparams, history),
            )
        ]
        tickets = [
            _ticket(x)
            for x in conn.exec_driver_sql(
                f"{TICKET_SQL} WHERE t.id IN (SELECT c.ticket_id FROM conversation c "
                f"WHERE c.contact_id = ? AND {visible}) ORDER BY t.number DESC",
                (contact_id, *vparams),
            )
        ]
        hidden = 0
        if not access.sees_all:
            hidden = int(
                conn.exec_driver_sql(
                    f"SELECT count(*) FROM conversation c WHERE c.contact_id = ? AND NOT ({visible})",
                    (contact_id, *vparams),
                ).scalar_one()
            )
    return ContactDetail(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        [tuple(i) for i in idents],
        convs,
        tickets,
        hidden,  # type: ignore[misc]
    )


@dataclass
class NotificationRow:
    id: str
    kind: str
    text: str
    conversation_id: str | None
    created_at: datetime
    read: bool
    comment: str | None = None  # a mention: the start of the comment that mentions you
    actor: str | None = None  # who did it (display name)
    subject: str | None = None  # the conversation's subject (customer text)
    actor_handle: str | None = None

    @property
    def summary(self) -> str:
        """One line to show: for a mention, who and what they wrote (not the subject the
        stored text quotes); otherwise the stored text. Customer text: show it cleaned."""
        if self.kind == "mention" and self.comment is not None:
            return f"{self.actor or 'A teammate'} mentioned you: {' '.join(self.comment.split())}"
        return self.text


# Notifications with what a reader shows: the comment of a mention (its first characters),
# who acted, the conversation's subject.
_NOTE_SQL = (
    "SELECT n.id, n.kind, n.text, n.conversation_id, n.created_at, n.read_at IS NOT NULL, "
    "CASE WHEN n.kind = 'mention' THEN substr(m.body, 1, coalesce(?, length(m.body))) END, "
    "a.name, c.subject, a.handle "
    "FROM notification n LEFT JOIN message m ON m.id = n.message_id "
    "LEFT JOIN agent a ON a.id = n.actor_id LEFT JOIN conversation c ON c.id = n.conversation_id "
)


def _note(r: Any) -> NotificationRow:
    return NotificationRow(
        r[0],
        r[1],
        r[2],
        r[3],
        clock.from_db(r[4]),  # type: ignore[arg-type]
        bool(r[5]),
        r[6],
        r[7],
        r[8],
        r[9],
    )


def notifications(
    ws: Workspace,
    agent_id: str,
    *,
    unread_only: bool = False,
    limit: int = 100,
    comment_chars: int | None = 400,
) -> list[NotificationRow]:
    """The agent's own notifications, newest first; those about conversations of inboxes the
    agent can no longer see are left out. The one reader for the TUI's screen and the CLI
    (`comment_chars`: how much of a mentioning comment to bring; None, all of it, for the CLI)."""
    sql = _NOTE_SQL + "WHERE n.agent_id = ?"
    if unread_only:
        sql += " AND n.read_at IS NULL"
    with ws.read() as conn:
        visible, vparams = for_agent(conn, agent_id).where()
        sql += (
            " AND (n.conversation_id IS NULL OR EXISTS (SELECT 1 FROM conversation c "
            f"WHERE c.id = n.conversation_id AND {visible})) "
            "ORDER BY n.created_at DESC, n.id DESC LIMIT ?"
        )
        rows = conn.exec_driver_sql(sql, (comment_chars, agent_id, *vparams, limit)).all()
    return [_note(r) for r in rows]


def notifications_since(ws: Workspace, agent_id: str, seq: int) -> list[NotificationRow]:
    """New notifications for the agent written after change number `seq` (for toasts)."""
    with ws.read() as conn:
        visible, vparams = for_agent(conn, agent_id).where()
        rows = conn.exec_driver_sql(
            _NOTE_SQL + "WHERE n.seq > ? AND n.agent_id = ? AND n.read_at IS NULL AND "
            "(n.conversation_id IS NULL OR EXISTS (SELECT 1 FROM conversation c "
            f"WHERE c.id = n.conversation_id AND {visible})) ORDER BY n.seq",
            (400, seq, agent_id, *vparams),
        ).all()
    return [_note(r) for r in rows]


@dataclass
class DraftRow:
    conversation_id: str
    mode: str  # reply | comment
    text: str
    via_channel_id: str | None
    mail: dict | None = None  # the e-mail composer's fields (composing.MailFields)


def drafts(ws: Workspace, agent_id: str) -> dict[str, DraftRow]:
    """An agent's own unsent drafts by conversation (nobody else's: drafts are private)."""
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT conversation_id, mode, text, via_channel_id, meta FROM draft "
            "WHERE agent_id = ?",
            (agent_id,),
        ).all()
    return {r[0]: DraftRow(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}") or None) for r in rows}


def stats(ws: Workspace) -> dict[str, int]:
    with ws.read() as conn:
        out = {}
        for table in (
            "conversation",
            "message",
            "contact",
            "agent",
            "team",
            "inbox",
            "channel",
            "ticket",
            "snippet",
        ):
            out[table] = int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
        return out


# ---------------------------------------------------------------------------------- TUI reads
# Appended for the agent TUI (unibox_tui/screens): read-only, each one indexed.

LIST_FILTERS = {
    "unread": ("Unread only", "c.unread = 1"),
    "waiting": ("Waiting for us", "c.waiting = 1"),
    # `+` keeps the planner on the view's own index (ordered, stops after a page) instead of
    # the ticket index followed by a sort of every match (100+ ms at 100k).
    "ticket": ("With a ticket", "+c.ticket_id IS NOT NULL"),
    "no_ticket": ("Without a ticket", "+c.ticket_id IS NULL"),
}


# Each filter as a condition on the counter table (migration 0013), for the filtered count.
FILTER_COUNTS = {
    "unread": "k.unread = 1",
    "waiting": "k.waiting = 1",
    "ticket": "k.ticket = 1",
    "no_ticket": "k.ticket = 0",
}


def filtered(v: View, name: str) -> View:
    """A view narrowed by one of LIST_FILTERS (the list's `f` key)."""
    if name not in LIST_FILTERS:
        raise InvalidRequest(f"unknown filter {name!r}; use one of {', '.join(LIST_FILTERS)}")
    label, where = LIST_FILTERS[name]
    counted = None
    if v.counted is not None:
        counted = (f"({v.counted[0]}) AND {FILTER_COUNTS[name]}", v.counted[1])
    return View(
        f"{v.key}|{name}",
        f"{v.label} · {label.lower()}",
        f"({v.where}) AND {where}",
        v.params,
        counted,
        v.order,
    )


def sorted_by(v: View, order_key: str) -> View:
    """The same view in another order (list_order.ORDERS; the list's `O` key)."""
    return replace(v, order=list_order.order(order_key))


def view_counts(conn: Connection, views: list[View]) -> dict[str, tuple[int, int]]:
    """(conversations, unread) for several views on one connection (the views pane)."""
    return {v.key: count_on(conn, v) for v in views}


def max_conversation_rid(conn: Connection) -> int:
    """The newest conversation's rid (new conversations get larger ones)."""
    return int(conn.exec_driver_sql("SELECT coalesce(max(rid), 0) FROM conversation").scalar_one())


def conversations_after(
    conn: Connection, v: View, rid: int, limit: int = 20
) -> list[ConversationRow]:
    """Conversations of a view created after `rid` (a primary-key range: cheap), newest
    first; the TUI toasts them for the views an agent watches."""
    rows = conn.exec_driver_sql(
        f"SELECT {ROW_COLUMNS} {ROW_FROM} WHERE c.rid > ? AND {v.where} ORDER BY c.rid DESC LIMIT ?",
        (rid, *v.params, limit),
    ).all()
    return [_row(r) for r in rows]


def answering_channel(ws: Workspace, inbox_id: str, kind: str) -> str | None:
    """The channel of `kind` that answers for the inbox (the rule: core/answering.py)."""
    from .answering import inbox_channel

    with ws.read() as conn:
        return inbox_channel(conn, inbox_id, kind)


@dataclass
class MailChannel:
    id: str
    name: str
    address: str
    signature: str  # the channel's setting, tokens not yet filled (composing.signature_for)


@dataclass
class ReplyAddresses:
    """What the e-mail composer starts from: the inbox's e-mail channels (the From choices,
    the answering one first), the customer's address, everyone else on the thread (reply
    all), and the newest customer message (to quote)."""

    channels: list[MailChannel]
    customer: str | None
    customer_name: str
    others: list[str]
    quote_id: str | None


def reply_addresses(ws: Workspace, conversation_id: str) -> ReplyAddresses:
    from .answering import inbox_channel

    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT c.inbox_id, c.reply_to, c.meta, ct.name, c.contact_id, c.channel_kind "
            "FROM conversation c JOIN contact ct ON ct.id = c.contact_id WHERE c.id = ?",
            (conversation_id,),
        ).first()
        if row is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        inbox_id, reply_to, meta, name, contact_id, kind = row
        first = inbox_channel(conn, inbox_id, "email")
        channels = []
        for cid, cname, address, settings in conn.exec_driver_sql(
            "SELECT id, name, coalesce(address, ''), settings FROM channel "
            "WHERE inbox_id = ? AND kind = 'email' ORDER BY enabled DESC, id",
            (inbox_id,),
        ).all():
            signature = json.loads(settings or "{}").get("signature") or ""
            channels.append(MailChannel(cid, cname, address, str(signature)))
        channels.sort(key=lambda c: c.id != first)
        customer = reply_to if kind in ("email", "form") and reply_to else None
        if customer is None or "@" not in customer:
            customer = conn.exec_driver_sql(
                "SELECT value FROM contact_identity WHERE contact_id = ? AND kind = 'email' "
                "ORDER BY rowid LIMIT 1",
                (contact_id,),
            ).scalar()
        quote_id = conn.exec_driver_sql(
            "SELECT id FROM message WHERE conversation_id = ? AND kind = 'incoming' "
            "ORDER BY created_at DESC, rid DESC LIMIT 1",
            (conversation_id,),
        ).scalar()
    others = [a for a in json.loads(meta or "{}").get("cc") or [] if isinstance(a, str)]
    return ReplyAddresses(channels, customer, name or "", others, quote_id)


CHANGED_CAP = 500  # more changed rows than this: refresh everything instead


def changed_conversations(conn: Connection, after_seq: int) -> set[str] | None:
    """Ids of the conversations a write after change number `after_seq` touched: the row
    itself (or its deletion), one of its messages, its contact (or the contact's identities) or its ticket.
    None means "refresh everything": more than CHANGED_CAP rows changed (a bulk sync), or
    something every row may show changed (an agent, a team, an inbox, a channel). Each scan is
    a range of a `seq` index that stops after CHANGED_CAP + 1 rows."""
    for table in ("agent", "team", "inbox", "channel"):
        if conn.exec_driver_sql(
            f"SELECT 1 FROM {table} WHERE seq > ? LIMIT 1", (after_seq,)
        ).first():
            return None

    def bounded(sql: str, *params: Any) -> list[Any] | None:
        rows = conn.exec_driver_sql(f"{sql} LIMIT ?", (*params, CHANGED_CAP + 1)).all()
        return None if len(rows) > CHANGED_CAP else [r[0] for r in rows]

    parts = [
        bounded("SELECT id FROM conversation WHERE seq > ?", after_seq),
        bounded("SELECT conversation_id FROM message WHERE seq > ?", after_seq),
        # Gone (merged into another): a list showing it drops it.
        bounded(
            "SELECT row_id FROM tombstone WHERE seq > ? AND table_name = 'conversation'",
            after_seq,
        ),
    ]
    for owner, sql in (
        ("contact_id", "SELECT id FROM contact WHERE seq > ?"),
        ("contact_id", "SELECT contact_id FROM contact_identity WHERE seq > ?"),
        ("ticket_id", "SELECT id FROM ticket WHERE seq > ?"),
    ):
        ids = bounded(sql, after_seq)
        if ids:
            marks = ",".join("?" * len(ids))
            ids = bounded(f"SELECT id FROM conversation WHERE {owner} IN ({marks})", *ids)
        parts.append(ids)
    if any(p is None for p in parts):
        return None
    return {cid for p in parts for cid in p}  # type: ignore[union-attr]


def known_identities(ws: Workspace, kind: str, values: list[str]) -> set[str]:
    """Which of `values` are identities of `kind` some contact already has."""
    if not values:
        return set()
    marks = ",".join("?" * len(values))
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT value FROM contact_identity WHERE kind = ? AND value IN ({marks})",
            (kind, *values),
        ).all()
    return {r[0] for r in rows}
