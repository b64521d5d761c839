"""The change log a replica syncs from (DESIGN.md "Sync", research/hub-and-channels.md §I).

Every write transaction takes one change number (`Tx.seq`: the `sequence` row 'seq',
updated inside the transaction, so numbers become visible in number order on PostgreSQL
too) and stamps every row it writes with it (`seq`, `updated_at`). A delete leaves a
tombstone (`Tx.delete`, the one place rows are deleted). So "what changed since N" is, per
table, `WHERE seq > N` on an index, and a row is sent in its current state: a replica that
has applied every change up to N and then the rows and tombstones after N holds what the
workspace holds.

`changes_since(source, cursor, agent_id, limit)` returns one page of that, in change order,
filtered by what the agent may see (core/access.py); `apply_changes(replica, page)` writes a
page into a replica (a client's cache: a migrated workspace file written only by pulls);
`pull` is the client's loop. `snapshot` makes a new replica without the log (the same
rows, copied inside SQLite): a first sync of a large workspace in seconds, not a minute.

**Two forms of a page, one content.** `Changes` holds one dict per change (`{"table",
"row"}` / `{"table", "deleted"}`); `changes_since(..., columnar=True)` returns the same
changes in the same order as `ColumnarChanges`: runs of consecutive changes of one table
and kind, each table's column names once per page, rows as lists. That is the wire form
(what a hub sends): at 100k conversations a replay from zero is 440 MB of JSON instead of
750 MB, encoded and decoded in a third of the time, and a replica inserts the rows as they
come. `apply_changes` takes either form, or a mix across pages.

**Order and paging.** Changes are ordered by (change number, table, key): tombstones first
(a row deleted and made again in one change must end up present), then the tables parents
first. One change can touch thousands of rows (an ingest batch, the demo's single change),
so the cursor is compound: `"N"` means every change up to N is in; `"[N, table, key...]"`
means change N is in up to that row. Rows never move to a lower change number, and change
numbers commit in order, so a row skipped because it moved past the cursor is sent again at
its new number: paging never skips a change (a row may come twice, in its newer state the
second time), and a replica that pulled until `more` is false equals the workspace as of
`cursor`. Between the pages of one pull it may
hold part of a change (rows whose parents come later): replicas do not enforce foreign keys.

**Who sees what** (`VISIBLE`, one SQL condition per table, from access.for_agent):
- conversations, channels: of visible inboxes; messages, attachments: of those
  conversations; notifications: the agent's own only;
- tickets, contacts and their identities: when a visible conversation uses them, or no
  conversation at all (a merged contact counts the conversations of the one it forwards to);
  a contact seen only in an invisible inbox is not sent. A new conversation re-sends its
  contact and identities (`touch_contact`), so a contact that becomes visible arrives;
- agents, teams, team members, inboxes, inbox access, snippets: to everyone (a client
  needs them to apply the same access rule and to offer @mentions);
- settings: to everyone, except hub-only keys (`PRIVATE_SETTINGS`, e.g. the HMAC key of
  e-mail thread tokens); outbox, sync_state and the counters are never sent;
- attachment bytes (and their local path) are not in the log: a page stays small and
  JSON, a 25 MB file does not hold up a pull, and most attachments are never opened; the
  client fetches bytes on demand by attachment id (the hub issue), after an access check.
- tombstones: those of a visible inbox (conversation, message, attachment, ticket,
  channel), the agent's own (notification), the rest to everyone (an id says nothing).

**Limits (the hub issue backfills):** the filter is applied to rows as they change. When an
agent gains an inbox (access list, team membership, role) rows of it that did not change
since their cursor are not sent: the hub must send a scoped snapshot (the inbox's
conversations, messages, attachments, tickets, contacts, from seq 0 with `VISIBLE` of the
new access; `snapshot` copies a whole workspace into a new file, a per-inbox variant that
upserts into an existing replica is what is needed) and, when an agent loses an inbox, tell the client to drop that inbox's rows
(nothing in the log says so). Moving a conversation to another inbox re-sends it with
its messages, attachments, ticket and contact (`resend_conversation`), so agents of the new
inbox get all of it; an agent who sees only the old inbox keeps a stale copy until the hub
tells the client to drop it (a tombstone scoped to the old inbox would do, but a second move
before the client pulls must not overwrite it: tombstones are one per row today).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from . import access, derived, search_index

if TYPE_CHECKING:
    from sqlmodel import SQLModel

    from .db import Tx, Workspace

# Settings that stay on the hub: secrets the workspace itself made (not channel passwords,
# which are never in the database at all).
PRIVATE_SETTINGS = ("email.thread_key",)


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]  # the order within one change number (and the cursor's key)
    ident: tuple[str, ...]  # what names the row in every database (upserts, tombstones)
    scope: str  # which VISIBLE rule
    skip: tuple[str, ...] = ()  # columns not sent
    replace: bool = False  # has unique columns besides its key: see _upsert


TOMBSTONE = "tombstone"
# Parents first, so a replica that applies a whole change in order has each parent first.
TABLES: tuple[Table, ...] = (
    Table("agent", ("id",), ("id",), "all", replace=True),
    Table("team", ("id",), ("id",), "all", replace=True),
    Table("team_member", ("team_id", "agent_id"), ("team_id", "agent_id"), "all"),
    Table("pipeline", ("id",), ("id",), "all", replace=True),
    Table("pipeline_stage", ("id",), ("id",), "all", replace=True),
    Table("inbox", ("id",), ("id",), "all", replace=True),
    Table("inbox_access", ("id",), ("id",), "all"),
    Table("channel", ("id",), ("id",), "inbox"),
    Table("contact", ("id",), ("id",), "contact"),
    Table("contact_identity", ("id",), ("id",), "identity", replace=True),
    Table("ticket", ("id",), ("id",), "ticket", replace=True),
    Table("conversation", ("rid",), ("id",), "inbox", skip=("rid", "newest_message_rid")),
    # Where a merged conversation went (an id says nothing: everyone may hold it).
    Table("conversation_merge", ("id",), ("id",), "all"),
    Table("message", ("rid",), ("id",), "message", skip=("rid",)),
    Table("attachment", ("id",), ("id",), "attachment", skip=("data", "path")),
    Table("notification", ("id",), ("id",), "notification"),
    Table("draft", ("id",), ("id",), "mine", replace=True),  # an agent's drafts: theirs only
    Table("tag", ("id",), ("id",), "all", replace=True),
    Table("conversation_tag", ("id",), ("id",), "message", replace=True),  # by its inbox
    Table("snippet", ("id",), ("id",), "all", replace=True),
    Table("routing_rule", ("id",), ("id",), "all"),  # core/routing.py; its cursor stays put
    Table("kb_article", ("id",), ("id",), "all", replace=True),
    Table("chatflow", ("id",), ("id",), "all", replace=True),
    # A bot's state and report events go where the conversation's messages go.
    Table("bot_session", ("id",), ("id",), "message", replace=True),
    Table("chatflow_event", ("id",), ("id",), "message"),
    Table("setting", ("key",), ("key",), "setting"),
)
BY_NAME = {t.name: t for t in TABLES}
# Position in change order: tombstones before every table.
RANK = {TOMBSTONE: 0, **{t.name: i + 1 for i, t in enumerate(TABLES)}}

# Who may see a row: an SQL condition on alias `t`. {inboxes} is the agent's visible-inbox
# condition on `c.inbox_id` (access.Access.where), {me} the agent's id.
_USED = (
    "(EXISTS (SELECT 1 FROM conversation c WHERE c.{col} = {val} AND {inboxes}) OR NOT EXISTS "
    "(SELECT 1 FROM conversation c WHERE c.{col} = {val}))"
)
VISIBLE = {
    "all": "1",
    "inbox": "{inboxes_t}",
    "message": "EXISTS (SELECT 1 FROM conversation c WHERE c.id = t.conversation_id AND {inboxes})",
    "attachment": "EXISTS (SELECT 1 FROM message m JOIN conversation c ON c.id = "
    "m.conversation_id WHERE m.id = t.message_id AND {inboxes})",
    "contact": _USED.format(
        col="contact_id", val="coalesce(t.merged_into_id, t.id)", inboxes="{inboxes}"
    ),
    "identity": _USED.format(col="contact_id", val="t.contact_id", inboxes="{inboxes}"),
    "ticket": _USED.format(col="ticket_id", val="t.id", inboxes="{inboxes}"),
    "notification": "{mine}",
    "mine": "{mine} AND EXISTS (SELECT 1 FROM conversation c WHERE c.id = t.conversation_id "
    "AND {inboxes})",
    "setting": f"t.key NOT IN ({','.join(repr(k) for k in PRIVATE_SETTINGS)})",
    TOMBSTONE: "(t.inbox_id IS NULL OR {inboxes_t}) AND (t.agent_id IS NULL OR {mine})",
}


@dataclass
class Changes:
    """One page of the change log.

    `changes`: `{"table": name, "row": {column: value}}` for a row (its current state) or
    `{"table": name, "deleted": {key column: value}}` for a tombstone, in change order.
    `cursor`: pass it to the next call. `more`: whether changes remain after this page.
    `head`: the newest change number when the page was read."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = "0"
    more: bool = False
    head: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "cursor": self.cursor,
            "more": self.more,
            "head": self.head,
        }


@dataclass
class ColumnarChanges:
    """One page of the change log in columnar form: what a hub sends a client (`to_json`).

    The same changes as `Changes`, in the same order, grouped into runs of consecutive
    changes of one table and kind: `{"table": name, "rows": [[value, ...], ...]}` with the
    values in the order of `columns[name]` (each table's column names once per page), or
    `{"table": name, "deleted": [[key value, ...], ...]}` with the values of the table's
    ident (`Table.ident`). Lists instead of one dict per row: 40% fewer bytes, JSON in a
    third of the time, and rows a replica inserts as they come (module docstring)."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = "0"
    more: bool = False
    head: int = 0

    def __len__(self) -> int:
        return _count(self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "runs": self.runs,
            "cursor": self.cursor,
            "more": self.more,
            "head": self.head,
        }

    def as_changes(self) -> Changes:
        """The same page as `Changes` (one dict per change)."""
        out: list[dict[str, Any]] = []
        for run in self.runs:
            table = run["table"]
            if "deleted" in run:
                ident = BY_NAME[table].ident
                out += [
                    {"table": table, "deleted": dict(zip(ident, k, strict=True))}
                    for k in run["deleted"]
                ]
            else:
                names = self.columns[table]
                out += [
                    {"table": table, "row": dict(zip(names, r, strict=True))} for r in run["rows"]
                ]
        return Changes(out, self.cursor, self.more, self.head)


def _count(data: dict[str, Any]) -> int:
    """How many changes a page holds, in either form (as `to_json` gives it)."""
    if "runs" in data:
        return sum(len(run.get("rows") or run.get("deleted") or ()) for run in data["runs"])
    return len(data["changes"])


Position = tuple[int, int, tuple[Any, ...]]  # (seq, rank, key); rank None: all of seq


def parse_cursor(cursor: str | int | None) -> tuple[int, int | None, tuple[Any, ...]]:
    """(seq, rank, key): everything before that position is in. rank None: all of seq."""
    if cursor is None or cursor == "":
        return 0, None, ()
    if isinstance(cursor, int):
        return cursor, None, ()
    text = str(cursor).strip()
    if text.isdigit():
        return int(text), None, ()
    try:
        seq, table, *key = json.loads(text)
        return int(seq), RANK[table], tuple(key)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"not a change log cursor: {text[:80]!r}") from e


def cursor_seq(cursor: str | int | None) -> int:
    """The newest change number a replica at `cursor` holds entirely."""
    seq, rank, _ = parse_cursor(cursor)
    return seq if rank is None else seq - 1


def _format_cursor(seq: int, table: str, key: tuple[Any, ...]) -> str:
    return json.dumps([seq, table, *key], separators=(",", ":"))


class _Reader:
    """Runs SQL on any connection the workspace hands out: a sqlite3 connection, our read
    connection, or a write transaction's SQLAlchemy connection."""

    def __init__(self, conn: Any) -> None:
        raw = getattr(conn, "con", conn)  # db.ReadConnection wraps a sqlite3 connection
        if not isinstance(raw, sqlite3.Connection):
            driver = getattr(getattr(conn, "connection", None), "driver_connection", None)
            raw = driver if isinstance(driver, sqlite3.Connection) else None
        self.raw: sqlite3.Connection | None = raw
        self.conn = conn
        self.postgres = getattr(conn, "dialect", "sqlite") == "postgresql"

    def rows(self, sql: str, params: tuple = ()) -> list[Any]:
        if self.raw is not None:
            return self.raw.execute(sql, params).fetchall()
        return list(self.conn.exec_driver_sql(sql, params).all())

    def exec_driver_sql(self, sql: str, params: Any = ()) -> Any:  # for access.for_agent
        if self.raw is not None:
            from .db import Rows

            return Rows(self.raw.execute(sql, tuple(params)))
        return self.conn.exec_driver_sql(sql, params)


_COLUMNS: dict[tuple[bool, str], tuple[str, ...]] = {}
PG_COLUMNS = (
    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name = ? ORDER BY ordinal_position"
)


# What a column is sent as, where not as it is: a message's `ord` is its place among the
# messages of its instant as the sender numbered it (a hub: its `rid`; a cache passing rows
# on: the `ord` it was given), so every cache orders a thread alike (migration 0029).
SENT_AS = {("message", "ord"): "coalesce(t.ord, t.rid)"}


def selected(table: str, columns: tuple[str, ...] | list[str]) -> str:
    """The select list that reads `columns` of `table` (alias t) as they are sent."""
    return ", ".join(SENT_AS.get((table, c), f"t.{c}") for c in columns)


def _columns(reader: _Reader, table: str) -> tuple[str, ...]:
    """The columns of `table` that are sent (read once per process and database kind: one
    schema per code)."""
    found = _COLUMNS.get((reader.postgres, table))
    if found is None:
        if reader.postgres:  # (rowid: PostgreSQL's twin of SQLite's hidden row number)
            names = [r[0] for r in reader.rows(PG_COLUMNS, (table,)) if r[0] != "rowid"]
        else:
            names = [r[1] for r in reader.rows(f"PRAGMA table_info({table})")]
        skip = BY_NAME[table].skip if table in BY_NAME else ()
        found = _COLUMNS[(reader.postgres, table)] = tuple(n for n in names if n not in skip)
    return found


def _conditions(
    rule: access.Access, personal: bool = True
) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Each VISIBLE rule made concrete for one agent: (SQL on alias t, parameters).
    Without `personal`, the rows that belong to one agent (notifications, drafts, their
    tombstones) are nobody's: the page every agent of `rule`'s inboxes shares
    (`shared_pages`)."""
    inboxes, inbox_params = rule.where("c.inbox_id")
    inboxes_t, _ = rule.where("t.inbox_id")
    mine = "1" if rule.agent_id is None else "t.agent_id = ?"
    mine_params: tuple[Any, ...] = () if rule.agent_id is None else (rule.agent_id,)
    if not personal:
        mine, mine_params = "0", ()
    out: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for scope, template in VISIBLE.items():
        sql = template.format(inboxes=inboxes, inboxes_t=inboxes_t, mine=mine)
        # Parameters in the order their placeholders appear.
        params: list[Any] = []
        for piece in _placeholders(template):
            params += {"inboxes": inbox_params, "inboxes_t": inbox_params, "mine": mine_params}[
                piece
            ]
        out[scope] = (sql, tuple(params))
    if rule.sees_all:
        # Every inbox: a contact, identity or ticket is used by a visible conversation or by
        # none (always true), and a message or attachment has its conversation (foreign
        # keys are on in a workspace). Not asked per row: a third of reading an admin's log.
        for scope in ("message", "attachment", "contact", "identity", "ticket"):
            out[scope] = ("1", ())
    if not personal:
        out["notification"] = out["mine"] = ("0", ())
    return out


def _placeholders(template: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


@overload
def changes_since(
    source: Workspace | Any,
    cursor: str | int | None = ...,
    agent_id: str | None = ...,
    limit: int = ...,
    *,
    columnar: Literal[False] = ...,
    only_inbox: str | None = ...,
    heads: Heads | None = ...,
) -> Changes: ...
@overload
def changes_since(
    source: Workspace | Any,
    cursor: str | int | None = ...,
    agent_id: str | None = ...,
    limit: int = ...,
    *,
    columnar: Literal[True],
    only_inbox: str | None = ...,
    heads: Heads | None = ...,
) -> ColumnarChanges: ...
@overload
def changes_since(
    source: Workspace | Any,
    cursor: str | int | None = ...,
    agent_id: str | None = ...,
    limit: int = ...,
    *,
    columnar: bool,
    only_inbox: str | None = ...,
    heads: Heads | None = ...,
) -> Changes | ColumnarChanges: ...
def changes_since(
    source: Workspace | Any,
    cursor: str | int | None = 0,
    agent_id: str | None = None,
    limit: int = 1000,
    *,
    columnar: bool = False,
    only_inbox: str | None = None,
    heads: Heads | None = None,
) -> Changes | ColumnarChanges:
    """The rows and tombstones after `cursor` that `agent_id` may see (None: the system,
    which sees everything), in change order, at most `limit` of them: a `Changes`, or with
    `columnar` the same page as `ColumnarChanges` (what a hub sends). `only_inbox`: of that
    inbox only (and the tables everyone holds): a backfill when the agent gains it.
    `heads` (from `table_heads`): tables with nothing after the cursor are not asked, when
    the log has not moved since they were read."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    from .db import Workspace

    if isinstance(source, Workspace):
        with source.read() as conn:
            return changes_since(
                conn, cursor, agent_id, limit, columnar=columnar, only_inbox=only_inbox, heads=heads
            )
    reader = _Reader(source)
    rule = access.for_agent(reader, agent_id)
    if only_inbox is not None:
        rule = _narrowed(rule, only_inbox)
    return _page(reader, cursor, rule, limit, columnar, heads)


@dataclass(frozen=True)
class Heads:
    """The log's head and each table's newest change number, read in one snapshot."""

    head: int
    tables: dict[str, int]


def table_heads(source: Workspace | Any) -> Heads:
    """Each table's newest change number (one statement along the seq indexes). A hub reads
    it once per poke: the fifty pulls that follow ask only the tables that changed, not all
    of them (an incremental pull was ~20 empty queries, 1.2-1.5 ms; benchmarks/hub_team.py
    fan-out)."""
    from .db import Workspace

    names = (TOMBSTONE, *BY_NAME)
    sql = "SELECT (SELECT value FROM sequence WHERE name = 'seq'), " + ", ".join(
        f"(SELECT max(seq) FROM {n} INDEXED BY ix_{n}_seq)" for n in names
    )
    if isinstance(source, Workspace):
        with source.read() as conn:
            row = conn.exec_driver_sql(sql).one()
    else:
        row = _Reader(source).rows(sql)[0]
    return Heads(int(row[0]), {n: int(v or 0) for n, v in zip(names, row[1:], strict=True)})


def shared_pages(
    source: Workspace | Any,
    cursor: str,
    agent_ids: Iterable[str],
    limit: int,
    *,
    heads: Heads | None = None,
    rules: Mapping[str, access.Access] | None = None,
) -> dict[str, ColumnarChanges]:
    """Each agent's page since `cursor`: what `changes_since(..., columnar=True)` answers
    each of them, read in one snapshot. Agents who may see the same inboxes and have no
    rows of their own after the cursor (notifications, drafts, their tombstones) get ONE
    page, read once: the same object. How a hub pokes a team (hub/server.py): fifty agents
    of one access cost one page, not fifty (each took ~0.5 ms; benchmarks/hub_push.py).
    `rules`: the agents' access as `access.for_agent` gives it, when the caller holds it."""
    from .db import Workspace

    if isinstance(source, Workspace):
        with source.read() as conn:
            return shared_pages(conn, cursor, agent_ids, limit, heads=heads, rules=rules)
    reader = _Reader(source)
    own = _personal(reader, cursor_seq(cursor), heads)
    out: dict[str, ColumnarChanges] = {}
    shared: dict[frozenset[str] | None, ColumnarChanges] = {}
    for agent_id in agent_ids:
        rule = (rules or {}).get(agent_id) or access.for_agent(reader, agent_id)
        if agent_id in own:
            out[agent_id] = _page(reader, cursor, rule, limit, True, heads)  # type: ignore[assignment]
            continue
        # `see` is all a page depends on besides the agent's own rows (_conditions).
        page = shared.get(rule.see)
        if page is None:
            page = shared[rule.see] = _page(  # type: ignore[assignment]
                reader, cursor, rule, limit, True, heads, personal=False
            )
        out[agent_id] = page  # type: ignore[assignment]
    return out


# The tables whose rows belong to one agent (VISIBLE's {mine}), and the tombstones of them.
_PERSONAL = (
    ("notification", ""),
    ("draft", ""),
    (TOMBSTONE, " AND agent_id IS NOT NULL"),
)


def _personal(reader: _Reader, after: int, heads: Heads | None) -> set[str]:
    """The agents with rows of their own after change `after`."""
    head = int(reader.rows("SELECT value FROM sequence WHERE name = 'seq'")[0][0])
    tops = heads.tables if heads is not None and heads.head == head else {}
    found: set[str] = set()
    for table, extra in _PERSONAL:
        if tops.get(table, after + 1) <= after:
            continue  # nothing after the cursor in this table
        found.update(
            r[0]
            for r in reader.rows(
                f"SELECT DISTINCT agent_id FROM {table} INDEXED BY ix_{table}_seq "
                f"WHERE seq > ?{extra}",
                (after,),
            )
        )
    return found


def _narrowed(rule: access.Access, inbox_id: str) -> access.Access:
    """`rule` seeing at most one inbox."""
    from dataclasses import replace

    see = frozenset({inbox_id}) if rule.can_see(inbox_id) else frozenset()
    return replace(rule, see=see)


def _page(
    reader: _Reader,
    cursor: str | int | None,
    rule: access.Access,
    limit: int,
    columnar: bool,
    heads: Heads | None = None,
    personal: bool = True,
) -> Changes | ColumnarChanges:
    seq, rank, key = parse_cursor(cursor)
    head = int(reader.rows("SELECT value FROM sequence WHERE name = 'seq'")[0][0])
    # Read at this very head, the table heads say which tables have nothing after the
    # cursor (read at another, they might miss a row: then every table is asked).
    tops = heads.tables if heads is not None and heads.head == head else None
    where = _conditions(rule, personal)
    want = limit + 1  # one more than asked: tells whether more remain
    hits: list[tuple[str, int, list[Any]]] = []  # (table, columns sent, rows) per table
    seqs: list[int] = []  # the change numbers of the rows found, sorted, at most `want`
    for name in (TOMBSTONE, *BY_NAME):
        r = RANK[name]
        top = tops.get(name) if tops is not None else None
        if top is not None and (top < seq or (top == seq and (rank is None or r < rank))):
            continue  # nothing after the cursor in this table
        visible, vparams = where[TOMBSTONE if name == TOMBSTONE else BY_NAME[name].scope]
        if visible == "0":
            continue  # nothing of this table is sent (a shared page's notifications)
        keys = ("table_name", "row_id") if name == TOMBSTONE else BY_NAME[name].key
        # After the cursor: a later change, or the same change at a later table or key
        # (asked apart: `seq = ? AND key > ?` walks the (seq, key) index from the cursor).
        if rank is None or r < rank:
            parts = [("t.seq > ?", [seq])]
        elif r == rank:
            cols = ", ".join(f"t.{k}" for k in keys)
            marks = ", ".join("?" * len(keys))
            parts = [(f"t.seq = ? AND ({cols}) > ({marks})", [seq, *key]), ("t.seq > ?", [seq])]
        else:
            parts = [("t.seq >= ?", [seq])]
        # Before the page's end: once `want` rows are found, a later table's rows count only
        # at a lower change number (at the same number they come after every row found).
        upper: list[int] = []
        if len(seqs) >= want:
            if seqs[want - 1] <= seq and not (rank is None or r < rank):
                continue
            upper = [seqs[want - 1]]
        columns = ("table_name", "row_id") if name == TOMBSTONE else _columns(reader, name)
        # Row layout: the columns sent, then seq, then the key (for the cursor).
        select = selected(name, (*columns, "seq", *keys))
        order = ", ".join(f"t.{k}" for k in keys)
        rows: list[Any] = []
        for after, params in parts:
            if len(rows) >= want:
                break
            # The log is always read along the change-number index: a plan that takes an
            # index of the visibility condition (inbox, agent) would sort a whole table.
            sql = (
                f"SELECT {select} FROM {name} t INDEXED BY ix_{name}_seq WHERE {after}"
                f"{' AND t.seq < ?' if upper else ''} AND {visible} "
                f"ORDER BY t.seq, {order} LIMIT {want - len(rows)}"
            )
            rows += reader.rows(sql, (*params, *upper, *vparams))
        if rows:
            n = len(columns)
            hits.append((name, n, rows))
            seqs = sorted(seqs + [row[n] for row in rows])[:want]  # two sorted runs: linear
    # Change order. Tables were read in rank order and each in key order, so a stable sort
    # on the change number alone is enough (and one table needs none: a replay's pages).
    if len(hits) == 1 and hits[0][0] != TOMBSTONE:  # a replay's pages: in order already
        name, n, rows = hits[0]
        more = len(rows) > limit
        del rows[limit:]
        runs = [(name, n, rows)]
    else:
        ordered = [(name, n, row) for name, n, rows in hits for row in rows]
        ordered.sort(key=lambda hit: hit[2][hit[1]])
        more = len(ordered) > limit
        del ordered[limit:]
        runs = _grouped(ordered)
    if more:
        name, n, rows = runs[-1]
        row = rows[-1]
        next_cursor = _format_cursor(row[n], name, tuple(row[n + 1 :]))
    else:
        last = max((rows[-1][n] for _, n, rows in runs[-1:]), default=0)
        next_cursor = str(max(head, seq, last))
    if columnar:
        return _columnar(reader, runs, next_cursor, more, head)
    out: list[dict[str, Any]] = []
    append = out.append
    for name, _n, rows in runs:
        if name == TOMBSTONE:
            for row in rows:
                append({"table": row[0], "deleted": _key_of(row[0], row[1])})
        else:  # zip stops at the columns sent; seq and the key follow them in `row`
            sent = _columns(reader, name)
            for row in rows:
                append({"table": name, "row": dict(zip(sent, row, strict=False))})
    return Changes(out, next_cursor, more, head)


def _grouped(ordered: list[tuple[str, int, Any]]) -> list[tuple[str, int, list[Any]]]:
    """Consecutive rows of one table, together; tombstones also split by the table they
    name (a run of the columnar form is one table and one kind)."""
    runs: list[tuple[str, int, list[Any]]] = []
    last: tuple[str, str] | None = None
    for name, n, row in ordered:
        this = (name, row[0] if name == TOMBSTONE else "")
        if this != last:
            runs.append((name, n, []))
            last = this
        runs[-1][2].append(row)
    return runs


def _columnar(
    reader: _Reader, runs: list[tuple[str, int, list[Any]]], cursor: str, more: bool, head: int
) -> ColumnarChanges:
    columns: dict[str, list[str]] = {}
    out: list[dict[str, Any]] = []
    for name, n, rows in runs:
        if name == TOMBSTONE:
            table = rows[0][0]
            single = len(BY_NAME[table].ident) == 1
            out.append(
                {
                    "table": table,
                    "deleted": [[r[1]] if single else json.loads(r[1]) for r in rows],
                }
            )
            continue
        if name not in columns:
            columns[name] = list(_columns(reader, name))
        # The columns sent, without the change number and key that follow them in `row`.
        out.append({"table": name, "rows": [row[:n] for row in rows]})
    return ColumnarChanges(columns, out, cursor, more, head)


# -- writing the log: tombstones and re-sends ------------------------------------------------


def tombstone_id(table: str, row: dict[str, Any] | Any) -> str:
    """A row's key as a tombstone stores it: the id, or a JSON list for a composite key."""
    ident = BY_NAME[table].ident
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    values = [get(k) for k in ident]
    return str(values[0]) if len(values) == 1 else json.dumps(values)


def _key_of(table: str, row_id: str) -> dict[str, Any]:
    ident = BY_NAME[table].ident
    values = [row_id] if len(ident) == 1 else json.loads(row_id)
    return dict(zip(ident, values, strict=True))


_SCOPE_SQL = {
    "conversation": "SELECT inbox_id FROM conversation WHERE id = ?",
    "message": "SELECT c.inbox_id FROM message m JOIN conversation c ON c.id = m.conversation_id "
    "WHERE m.id = ?",
    "attachment": "SELECT c.inbox_id FROM attachment a JOIN message m ON m.id = a.message_id "
    "JOIN conversation c ON c.id = m.conversation_id WHERE a.id = ?",
    "ticket": "SELECT inbox_id FROM conversation WHERE ticket_id = ? LIMIT 1",
    "channel": "SELECT inbox_id FROM channel WHERE id = ?",
}


def write_tombstone(tx: Tx, row: SQLModel) -> None:
    """Record that `row` (about to be deleted in `tx`) is gone, if a client holds its table."""
    table = getattr(row, "__tablename__", "")
    if table not in BY_NAME:
        return  # hub-only (outbox, sync_state): no client has it
    conn = tx.session.connection()
    row_id = tombstone_id(table, row)
    inbox_id = agent_id = None
    if table in _SCOPE_SQL:
        inbox_id = conn.exec_driver_sql(_SCOPE_SQL[table], (row_id,)).scalar()
    elif table in ("notification", "draft"):
        agent_id = row.agent_id  # type: ignore[attr-defined]
    conn.exec_driver_sql(
        "INSERT INTO tombstone (table_name, row_id, seq, inbox_id, agent_id) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name, row_id) DO UPDATE SET "
        "seq = excluded.seq, inbox_id = excluded.inbox_id, agent_id = excluded.agent_id",
        (table, row_id, tx.seq, inbox_id, agent_id),
    )


def resend_conversation(run: Callable[[str, tuple], Any], conversation_id: str, seq: int) -> None:
    """Send a conversation's rows again at change `seq`: it moved to another inbox, and
    agents who see only the new one have none of its messages, attachments, ticket or
    contact. Only `seq` moves (see touch_contact)."""
    run(
        "UPDATE message SET seq = ? WHERE conversation_id = ? AND seq < ?",
        (seq, conversation_id, seq),
    )
    run(
        "UPDATE attachment SET seq = ? WHERE seq < ? AND message_id IN "
        "(SELECT id FROM message WHERE conversation_id = ?)",
        (seq, seq, conversation_id),
    )
    run(
        "UPDATE ticket SET seq = ? WHERE seq < ? AND id = "
        "(SELECT ticket_id FROM conversation WHERE id = ?)",
        (seq, seq, conversation_id),
    )
    contact = run("SELECT contact_id FROM conversation WHERE id = ?", (conversation_id,))
    touch_contact(run, contact.fetchone()[0], seq)


def touch_contact(run: Callable[[str, tuple], Any], contact_id: str, seq: int) -> None:
    """Send a contact and its identities again at change `seq` (a conversation of theirs
    was made or moved: agents who could not see them before may now). Only `seq` moves:
    the data did not change, so `updated_at` keeps saying when it last did."""
    run("UPDATE contact SET seq = ? WHERE id = ? AND seq < ?", (seq, contact_id, seq))
    run(
        "UPDATE contact_identity SET seq = ? WHERE contact_id = ? AND seq < ?",
        (seq, contact_id, seq),
    )


# -- a replica --------------------------------------------------------------------------------


def open_replica(path: Any) -> sqlite3.Connection:
    """A connection to a replica file (created and migrated if new) for apply_changes."""
    from .db import _on_connect, open_workspace

    new = not Path(path).exists() or Path(path).stat().st_size == 0
    open_workspace(path).close()
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _on_connect(con, 5000)
    con.execute("PRAGMA foreign_keys=OFF")  # a page may hold a row before its parent
    if new:
        # Everything in a replica comes from the hub: drop what the migrations seed in a new
        # workspace (the default ticket pipeline), or the replica would hold rows twice.
        for table in reversed(TABLES):
            con.execute(f"DELETE FROM {table.name}")
    # A first sync writes ~1M rows into indexes keyed at random (message by conversation):
    # with the 8 MB cache the app's readers keep, most inserts would wait on a page read.
    con.execute("PRAGMA cache_size=-65536")
    if derived.filling(con):  # a first fill was cut short: its triggers go back now
        _resume(con)
    return con


def replica_cursor(con: sqlite3.Connection) -> str:
    row = con.execute("SELECT value FROM replica_state WHERE key = 'cursor'").fetchone()
    return row[0] if row else "0"


def apply_changes(
    replica: sqlite3.Connection,
    page: Changes | ColumnarChanges | dict[str, Any],
    *,
    local: bool = False,
) -> str:
    """Write one page into a replica in one transaction, with its cursor; returns the cursor.
    The page in either form (`Changes`, `ColumnarChanges`, or the `to_json` of either).

    Rows are upserted by their key (conversations and messages by id: their rowid is the
    replica's own); tombstones delete. New conversations and messages enter the replica's
    search index as they do in the workspace (search_index.index_new). A first sync (a pull
    from cursor 0 of more than one page) is a fill: no triggers and no search indexing per
    page; the derived tables and the index are built once with its last page
    (core/derived.py).

    `local` (a client's cache of a hub, sync/): the page takes the cache's own next change
    number and every row it writes is stamped with it, so the app's live refresh, which asks
    "what changed since N" of the cache (queries.changed_conversations), sees pulled rows as
    it sees its own writes. And rows the cache changed optimistically for a command the hub
    has not confirmed yet (their change number is a `pending_mutation.local_seq`) are left
    as they are: the command's own answer settles them (`settle_rows`)."""
    return apply_chain(replica, [page], local=local)


# The replicas whose commits do not wait for the disk (synchronous=OFF: within a first
# sync's pull), by id(): every other one is at the workspace's NORMAL (db._on_connect).
_UNSYNCED: set[int] = set()


def poked_chain(cursor: str, poked: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pages among `poked` (a poke's `from` and `page`, protocol.py) that take a cache at
    `cursor` on, in order: each starts where the one before ends. The first may also start
    before the cursor and end after it: a cache that pulled (a round of its own command's,
    with no poke in hand) stands between two pokes' ends, and the next poke's page starts
    at the last one's. Its rows up to the cursor are ones the cache holds already, at the
    same state or an older one (the page was read later), so writing them again changes
    nothing a pull from the cursor would not; rows of unconfirmed commands are spared
    either way (apply_chain). Without this such a cache pulled at every poke until a pull
    happened to end where a poke did: two thirds of an active agent's rounds were pulls,
    each one a round trip more (benchmarks/chat_bench.py). A cursor inside a change number
    (a cut pull page) is only continued exactly."""
    following = {str(item["from"]): item["page"] for item in poked}
    chain: list[dict[str, Any]] = []
    while True:
        page = following.pop(cursor, None)
        if page is None and not chain:
            seq, rank, _ = parse_cursor(cursor)
            for start in sorted(following, key=cursor_seq):
                end = str(following[start]["cursor"])
                if (
                    rank is None
                    and start.isdigit()
                    and end.isdigit()
                    and int(start) < seq < int(end)
                ):
                    page = following.pop(start)
                    break
        if page is None:
            return chain
        chain.append(page)
        cursor = str(page["cursor"])


def apply_chain(
    replica: sqlite3.Connection,
    pages: Sequence[Changes | ColumnarChanges | dict[str, Any]],
    *,
    local: bool = False,
) -> str:
    """`apply_changes` of pages that follow on from one another (each starts at the cursor
    the one before ends at: what a run of pokes brings), in ONE transaction; returns the
    last one's cursor. A cache that fell behind under a burst of pokes catches up with one
    commit, one search-index pass and one change number, not one per page (the fixed part
    is most of applying a page of a few rows)."""
    datas = [p.to_json() if isinstance(p, (Changes, ColumnarChanges)) else p for p in pages]
    data = datas[-1]
    con = replica
    # Within a pull that has more pages to come (a first sync: ~1.4M rows at 100k
    # conversations), commits do not wait for the disk: the WAL checkpoints of a bulk load
    # took a tenth of its time waiting on fsync. Acceptable for a cache: an OS crash in the
    # middle of a first sync can lose it, and it is filled again from the hub. The last page
    # of a pull (and every page of an incremental one) sets the workspace's usual
    # synchronous=NORMAL back first, so it is on disk as safely as any other write.
    # Not while the cache holds commands the hub has not confirmed: those are the agent's
    # work, not the hub's, and nothing could fill them in again.
    # The journal stays WAL and the locking normal: the app reads the cache while its first
    # sync runs (the starter list, then the list as it grows), which journal_mode=OFF or
    # MEMORY (leaving WAL takes the file exclusively) or locking_mode=EXCLUSIVE would block,
    # and a cut-short fill is simply resumed from its cursor (open_replica), which needs
    # every committed page intact.
    bulk = (
        bool(data.get("more"))
        and not con.execute("SELECT 1 FROM pending_mutation LIMIT 1").fetchone()
    )
    if bulk or id(con) in _UNSYNCED:  # (a poke's page: NORMAL already, not set again)
        con.execute(f"PRAGMA synchronous={'OFF' if bulk else 'NORMAL'}")
        (_UNSYNCED.add if bulk else _UNSYNCED.discard)(id(con))
    con.execute("BEGIN IMMEDIATE")
    try:
        # The first page of a first sync that has more to come starts a fill: the derived
        # tables and the search index are built once at its end (core/derived.py).
        fill = derived.filling(con)
        if not fill and bulk and replica_cursor(con) == "0":
            derived.suspend(con)
            fill = True
        _write(con, [run for d in datas for run in _page_runs(d)], local, fill)
        con.execute(
            "INSERT INTO replica_state (key, value) VALUES ('cursor', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (data["cursor"],),
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if fill and not data.get("more"):
        # The fill's end in a transaction of its own, after its last page is committed: the
        # report figures are then computed on a second connection meanwhile (derived.rebuild).
        # Cut short here, the cache is still marked filling and open_replica finishes it.
        _resume(con)
    return str(data["cursor"])


def _resume(con: sqlite3.Connection) -> None:
    """derived.resume in a transaction of its own (no row written yet in it)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        derived.resume(con, committed=True)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _apply(con: sqlite3.Connection, changes: list[dict[str, Any]], local: bool) -> None:
    """Write rows and tombstones (the `Changes.changes` form) inside the caller's transaction."""
    _write(con, _dict_runs(changes), local)


# One run of a page: table, "rows" or "deleted", the column names (the ident's for
# "deleted"), and the values of each row in that order.
Run = tuple[str, str, Sequence[str], Sequence[Sequence[Any]]]


def _page_runs(data: dict[str, Any]) -> list[Run]:
    """The runs of a page in either form (as `to_json` gives it)."""
    if "runs" not in data:
        return _dict_runs(data["changes"])
    columns = data["columns"]
    out: list[Run] = []
    for run in data["runs"]:
        table = _spec(run["table"]).name
        if "deleted" in run:
            out.append((table, "deleted", BY_NAME[table].ident, run["deleted"]))
        elif table in columns:
            out.append((table, "rows", columns[table], run["rows"]))
        else:
            raise ValueError(f"a run of {table} rows without their columns")
    return out


def _dict_runs(changes: list[dict[str, Any]]) -> list[Run]:
    out: list[Run] = []
    for table, kind, items in _runs(changes):
        if kind == "deleted":
            ident = _spec(table).ident
            out.append((table, kind, ident, [tuple(i[k] for k in ident) for i in items]))
        else:
            columns = tuple(items[0])
            values = itemgetter(*columns)  # in this order, whatever order a row's keys came in
            rows = [(values(i),) for i in items] if len(columns) == 1 else list(map(values, items))
            out.append((table, "rows", columns, rows))
    return out


def _spec(table: str) -> Table:
    spec = BY_NAME.get(table)
    if spec is None:
        raise ValueError(f"not a table of the change log: {str(table)[:40]!r}")
    return spec


def _write(con: sqlite3.Connection, runs: list[Run], local: bool, fill: bool = False) -> None:
    """Write runs of rows and tombstones inside the caller's transaction. `fill`: a first
    fill runs (no triggers; the search index is built at its end: core/derived.py)."""
    run = con.execute
    since = (0, 0) if fill else search_index.marks(lambda sql, params: run(sql, params))
    stamp: int | None = None
    pending: tuple[int, ...] = ()
    if local and runs:
        stamp = int(
            run(
                "UPDATE sequence SET value = value + 1 WHERE name = 'seq' RETURNING value"
            ).fetchone()[0]
        )
        pending = tuple(
            r[0] for r in run("SELECT local_seq FROM pending_mutation WHERE local_seq IS NOT NULL")
        )
    contacts: list[str] = []
    for table, kind, columns, values in runs:
        if kind == "deleted":
            cond = " AND ".join(f"{k} = ?" for k in columns)
            con.executemany(f"DELETE FROM {table} WHERE {cond}", values)
            continue
        if pending:
            values = _unprotected(con, table, values, pending, columns)
            if not values:
                continue
        stamped = None
        if stamp is not None:
            if "seq" in columns[:-1]:
                stamped = stamp  # written by the statement, the rows' own seq unread
            elif "seq" in columns:
                values = [(*v[:-1], stamp) for v in values]
            else:
                columns, values = (*columns, "seq"), [(*v, stamp) for v in values]
        _upsert(con, table, tuple(columns), values, fill, stamped)
        if table == "contact" and not fill:
            i = list(columns).index("id")
            contacts += [v[i] for v in values]
    if fill:
        return
    if contacts:
        _reindex_contacts(con, contacts, since[1])
    search_index.index_new(lambda sql, params: run(sql, params), since)


def _unprotected(
    con: sqlite3.Connection,
    table: str,
    rows: Sequence[Any],
    pending: tuple[int, ...],
    columns: Sequence[str] | None = None,
) -> list[Any]:
    """`rows` without those whose cached copy an unconfirmed command wrote. Rows are dicts,
    or with `columns` sequences of values in that order.

    The cache's rows at the pending change numbers are few (what the unconfirmed commands
    wrote) and found on the `seq` index: one query per run, where asking about the pulled
    rows took one per 400 of them (3,500 in a first sync at 100k conversations)."""
    ident = BY_NAME[table].ident
    seqs = ",".join("?" * len(pending))
    held = {
        tuple(r)
        for r in con.execute(
            f"SELECT {', '.join(ident)} FROM {table} WHERE seq IN ({seqs})", pending
        )
    }
    if not held:
        return list(rows)
    if columns is None:
        return [r for r in rows if tuple(r[k] for k in ident) not in held]
    at = [list(columns).index(k) for k in ident]
    return [r for r in rows if tuple(r[i] for i in at) not in held]


def rows_now(
    source: Workspace | Any, agent_id: str | None, wanted: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """The current state of named rows as `agent_id` may see them, in change-log form: a
    `{"table", "row"}` for each row that exists and is visible, a `{"table", "deleted"}` for
    each that does not (or may not be seen). `wanted` maps a table to row idents (the id, or
    a list of values for a composite key). How a client settles rows it changed
    optimistically once the hub has answered the command (sync/)."""
    from .db import Workspace

    if isinstance(source, Workspace):
        with source.read() as conn:
            return _rows_now(_Reader(conn), agent_id, wanted)
    return _rows_now(_Reader(source), agent_id, wanted)


def _rows_now(
    reader: _Reader, agent_id: str | None, wanted: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    where = _conditions(access.for_agent(reader, agent_id))
    out: list[dict[str, Any]] = []
    for spec in TABLES:  # parents first, as a page orders them
        keys = wanted.get(spec.name) or []
        if not keys:
            continue
        columns = _columns(reader, spec.name)
        visible, vparams = where[spec.scope]
        found: set[tuple[Any, ...]] = set()
        for i in range(0, len(keys), 400):
            chunk = [tuple(k) if isinstance(k, (list, tuple)) else (k,) for k in keys[i : i + 400]]
            cond = " OR ".join(
                "(" + " AND ".join(f"t.{k} = ?" for k in spec.ident) + ")" for _ in chunk
            )
            rows = reader.rows(
                f"SELECT {selected(spec.name, columns)} FROM {spec.name} t "
                f"WHERE ({cond}) AND {visible}",
                (*[v for k in chunk for v in k], *vparams),
            )
            for row in rows:
                item = dict(zip(columns, row, strict=True))
                found.add(tuple(item[k] for k in spec.ident))
                out.append({"table": spec.name, "row": item})
            for k in chunk:
                if k not in found:
                    out.append(
                        {"table": spec.name, "deleted": dict(zip(spec.ident, k, strict=True))}
                    )
    return out


def settle_rows(
    replica: sqlite3.Connection,
    local_seqs: list[int],
    fresh: list[dict[str, Any]],
    mutation_ids: list[int],
) -> None:
    """Replace what optimistic writes (cache changes `local_seqs`) left with the hub's rows
    (`rows_now` of the same keys), and drop the answered mutations, in one transaction."""
    con = replica
    con.execute("BEGIN IMMEDIATE")
    try:
        if mutation_ids:
            marks = ",".join("?" * len(mutation_ids))
            con.execute(
                f"DELETE FROM pending_mutation WHERE mutation_id IN ({marks})", mutation_ids
            )
        _apply(con, fresh, True)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


STARTER_CONVERSATIONS = 300  # the newest conversations a first sync shows at once
STARTER_THREADS = 40  # and the messages of the newest of those


def starter(source: Workspace | Any, agent_id: str | None) -> list[dict[str, Any]]:
    """What a new client needs to show a usable inbox before its first full pull ends: the
    tables everyone holds (agents, teams, inboxes, access, pipelines, snippets, settings),
    the visible channels, the newest conversations with their contacts and tickets, and the
    messages of the newest of them, as change-log rows (written with `apply_backfill`; the
    pull from cursor 0 then brings everything, these rows again among it)."""
    from .db import Workspace

    if isinstance(source, Workspace):
        with source.read() as conn:
            return _starter(_Reader(conn), agent_id)
    return _starter(_Reader(source), agent_id)


def _starter(reader: _Reader, agent_id: str | None) -> list[dict[str, Any]]:
    where = _conditions(access.for_agent(reader, agent_id))
    out: list[dict[str, Any]] = []

    def take(table: str, condition: str, params: tuple[Any, ...], tail: str = "") -> list[Any]:
        columns = _columns(reader, table)
        visible, vparams = where[BY_NAME[table].scope]
        rows = reader.rows(
            f"SELECT {selected(table, columns)} FROM {table} t "
            f"WHERE {condition} AND {visible} {tail}",
            (*params, *vparams),
        )
        out.extend({"table": table, "row": dict(zip(columns, r, strict=True))} for r in rows)
        return rows

    for spec in TABLES:
        if spec.scope in ("all", "setting") or spec.name == "channel":
            take(spec.name, "1", ())
    before = len(out)
    take("conversation", "1", (), f"ORDER BY t.last_message_at DESC LIMIT {STARTER_CONVERSATIONS}")
    conversations = [c["row"] for c in out[before:]]

    def ids(key: str, items: list[dict[str, Any]]) -> list[Any]:
        return sorted({i[key] for i in items if i.get(key)})

    def among(table: str, column: str, values: list[Any], tail: str = "") -> None:
        for i in range(0, len(values), 400):
            chunk = values[i : i + 400]
            take(table, f"t.{column} IN ({','.join('?' * len(chunk))})", tuple(chunk), tail)

    contacts = ids("contact_id", conversations)
    among("contact", "id", contacts)
    among("contact_identity", "contact_id", contacts)
    among("ticket", "id", ids("ticket_id", conversations))
    among("message", "conversation_id", [c["id"] for c in conversations[:STARTER_THREADS]])
    return out


def visible_inboxes(replica: sqlite3.Connection, agent_id: str) -> set[str]:
    """The inboxes `agent_id` may see, by the access rows a cache holds (the same rule)."""
    rule = access.for_agent(_Reader(replica), agent_id)
    every = {r[0] for r in replica.execute("SELECT id FROM inbox")}
    return every if rule.see is None else set(rule.see) & every


def purge_inboxes(replica: sqlite3.Connection, inbox_ids: set[str]) -> int:
    """Drop from a cache what it holds of inboxes its agent lost access to: the
    conversations with their messages, attachments, drafts and notifications, the tickets
    only they used, and the inboxes' channels. Contacts stay (a contact may also write to an
    inbox the agent still sees). Returns how many conversations went."""
    if not inbox_ids:
        return 0
    marks = ",".join("?" * len(inbox_ids))
    ids = tuple(inbox_ids)
    conv = f"SELECT id FROM conversation WHERE inbox_id IN ({marks})"
    con = replica
    con.execute("BEGIN IMMEDIATE")
    try:
        gone = int(con.execute(f"SELECT count(*) FROM ({conv})", ids).fetchone()[0])
        msgs = f"SELECT id FROM message WHERE conversation_id IN ({conv})"
        con.execute(f"DELETE FROM attachment WHERE message_id IN ({msgs})", ids)
        con.execute(f"DELETE FROM notification WHERE conversation_id IN ({conv})", ids)
        con.execute(f"DELETE FROM draft WHERE conversation_id IN ({conv})", ids)
        con.execute(f"DELETE FROM message WHERE conversation_id IN ({conv})", ids)
        tickets = (
            f"SELECT ticket_id FROM conversation WHERE inbox_id IN ({marks}) AND ticket_id IS "
            f"NOT NULL AND ticket_id NOT IN (SELECT ticket_id FROM conversation WHERE inbox_id "
            f"NOT IN ({marks}) AND ticket_id IS NOT NULL)"
        )
        doomed = [r[0] for r in con.execute(tickets, ids + ids)]
        con.execute(f"DELETE FROM conversation WHERE inbox_id IN ({marks})", ids)
        for t in doomed:
            con.execute("DELETE FROM ticket WHERE id = ?", (t,))
        con.execute(f"DELETE FROM channel WHERE inbox_id IN ({marks})", ids)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return gone


def apply_backfill(
    replica: sqlite3.Connection, page: Changes | ColumnarChanges | dict[str, Any]
) -> None:
    """Write a backfill page (rows of an inbox the agent just gained) without moving the
    cache's pull cursor."""
    data = page.to_json() if isinstance(page, (Changes, ColumnarChanges)) else page
    replica.execute("BEGIN IMMEDIATE")
    try:
        _write(replica, _page_runs(data), True)
        replica.execute("COMMIT")
    except BaseException:
        replica.execute("ROLLBACK")
        raise


def written_at(replica: sqlite3.Connection, local_seq: int) -> dict[str, list[Any]]:
    """Which rows the cache's change `local_seq` wrote or deleted, table by table (idents,
    as `rows_now` takes them)."""
    out: dict[str, list[Any]] = {}
    for spec in TABLES:
        cols = ", ".join(spec.ident)
        rows = replica.execute(f"SELECT {cols} FROM {spec.name} WHERE seq = ?", (local_seq,))
        for row in rows:
            out.setdefault(spec.name, []).append(row[0] if len(row) == 1 else list(row))
    for table, row_id in replica.execute(
        "SELECT table_name, row_id FROM tombstone WHERE seq = ?", (local_seq,)
    ):
        if table in BY_NAME:
            key = _key_of(table, row_id)
            ident = BY_NAME[table].ident
            out.setdefault(table, []).append(
                key[ident[0]] if len(ident) == 1 else [key[k] for k in ident]
            )
    return out


def snapshot(hub_path: Any, replica_path: Any, agent_id: str | None) -> str:
    """A first sync without the log: copy what `agent_id` may see (the same `VISIBLE` rules)
    from the workspace at `hub_path` into a new replica, inside SQLite (INSERT ... SELECT, no
    row passes through Python), and index it for search; returns the replica's cursor.

    A replay of the log from zero ends with the same rows (tests check it), but moves every
    row through Python and JSON: ~1.4M rows at 100k conversations take about a minute of
    CPU that way and seconds this way. The hub can build this file for a new client and
    send it; the client then pulls `changes_since` from its cursor."""
    from .db import _on_connect

    replica = open_replica(replica_path)
    # Copied without the replica's triggers: its derived tables and search index are built
    # once when it is opened again below (core/derived.py).
    replica.execute("BEGIN IMMEDIATE")
    derived.suspend(replica)
    replica.execute("COMMIT")
    replica.close()
    hub = sqlite3.connect(
        f"file:{Path(hub_path).resolve()}?mode=ro", uri=True, isolation_level=None
    )
    try:
        _on_connect(hub, 5000)
        hub.execute("PRAGMA foreign_keys=OFF")  # a replica holds rows whose parents it may not
        hub.execute("ATTACH DATABASE ? AS r", (str(replica_path),))
        hub.execute("PRAGMA r.cache_size=-65536")
        hub.execute("BEGIN")  # one snapshot of the hub; the writes go to `r` only
        reader = _Reader(hub)
        head = int(reader.rows("SELECT value FROM sequence WHERE name = 'seq'")[0][0])
        where = _conditions(access.for_agent(reader, agent_id))
        for spec in TABLES:
            columns = ", ".join(_columns(reader, spec.name))
            chosen = selected(spec.name, _columns(reader, spec.name))
            visible, params = where[spec.scope]
            hub.execute(
                f"INSERT INTO r.{spec.name} ({columns}) SELECT {chosen} FROM main.{spec.name} t "
                f"WHERE {visible} ORDER BY {', '.join(f't.{k}' for k in spec.key)}",
                params,
            )
        hub.execute("INSERT INTO r.replica_state (key, value) VALUES ('cursor', ?)", (str(head),))
        hub.execute("COMMIT")
    except BaseException:
        if hub.in_transaction:
            hub.execute("ROLLBACK")
        raise
    finally:
        hub.close()
    open_replica(replica_path).close()  # resumes: derived tables, triggers, search index
    return str(head)


def pull(
    source: Workspace | Any,
    replica: sqlite3.Connection,
    agent_id: str | None,
    limit: int = 5000,
    fetch: Callable[[str], Changes | ColumnarChanges | dict[str, Any]] | None = None,
) -> int:
    """Bring a replica up to date: pages from its own cursor until none remain; returns how
    many changes it applied.

    `fetch(cursor)` gets a page from elsewhere (a hub): the next page is fetched in a thread
    while the current one is applied, so the hub reads and sends it meanwhile. Without
    `fetch` the pages are read here from `source`, one after the other: reading ahead in a
    thread of the same process was slower in every run measured at 100k conversations (48 s
    and 54 s against 34 s and 47 s, an admin's replay on a busy 2-core machine), as both
    threads hand the GIL back and forth around every row SQLite steps through."""
    if fetch is None:
        applied = 0
        while True:
            page = changes_since(source, replica_cursor(replica), agent_id, limit, columnar=True)
            apply_changes(replica, page)
            applied += len(page)
            if not page.more:
                return applied
    from concurrent.futures import ThreadPoolExecutor

    applied = 0
    with ThreadPoolExecutor(1, thread_name_prefix="unibox-pull") as pool:
        ahead = pool.submit(fetch, replica_cursor(replica))
        while True:
            got = ahead.result()
            data = got.to_json() if isinstance(got, (Changes, ColumnarChanges)) else got
            if data["more"]:
                ahead = pool.submit(fetch, str(data["cursor"]))
            apply_changes(replica, data)
            applied += _count(data)
            if not data["more"]:
                return applied


def _runs(changes: Iterable[dict[str, Any]]) -> Iterable[tuple[str, str, list[dict[str, Any]]]]:
    """Consecutive changes of one table and kind, grouped (one executemany each)."""
    table = kind = None
    items: list[dict[str, Any]] = []
    for change in changes:
        this = "row" if "row" in change else "deleted"
        if change["table"] != table or this != kind:
            if items:
                yield table, kind, items  # type: ignore[misc]
            table, kind, items = change["table"], this, []
        items.append(change[this])
    if items:
        yield table, kind, items  # type: ignore[misc]


_SQL: dict[tuple[str, str, tuple[str, ...], bool], str] = {}
# A run this long first tries plain inserts (see _upsert); a shorter one (an incremental
# pull: a few rows per table, most already held) goes straight to the lookup.
_TRY_INSERT = 64


def _upsert(
    con: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    fill: bool = False,
    stamp: int | None = None,
) -> None:
    """Insert or update by key; with `stamp`, every row written takes that change number
    instead of its `seq` (a cache's own: `apply_changes(local=True)`).

    Rows the replica does not have yet are plainly inserted (a replay from zero is all of
    those; an upsert costs half as much again); the others are updated in place, keeping
    their local rowid. A long run is first inserted as it is, in a savepoint: in a first
    sync every row is new and asking which ones the replica has is wasted work; a row that
    is there already fails the insert, and the run is written again the careful way. A table
    with other unique columns (handles, names, identity values, ticket numbers) replaces
    instead: a stale local row holding the value (renamed on the hub in a change this pull
    has not reached yet) gives way, and comes back with its own change later in the same
    pull. Those tables have no search triggers to skip."""
    spec = BY_NAME[table]
    few = len(rows) < _TRY_INSERT
    if spec.replace:
        con.executemany(_statement(con, "replace", table, columns, stamp, few), rows)
        return
    if len(rows) >= _TRY_INSERT and (fill or not _insert_triggers(con, table)):
        con.execute("SAVEPOINT fresh_rows")
        try:
            con.executemany(_statement(con, "insert", table, columns, stamp), rows)
        except sqlite3.IntegrityError:
            con.execute("ROLLBACK TO fresh_rows")
        else:
            con.execute("RELEASE fresh_rows")
            return
        con.execute("RELEASE fresh_rows")
    if len(spec.ident) != 1:
        con.executemany(_statement(con, "upsert", table, columns, stamp, few), rows)
        return
    ident, at = spec.ident[0], columns.index(spec.ident[0])
    _check_columns(con, table, columns)
    held: dict[Any, Sequence[Any]] = {}  # the replica's rows of these keys, as `columns`
    for i in range(0, len(rows), 500):
        chunk = [r[at] for r in rows[i : i + 500]]
        marks = ",".join("?" * len(chunk))
        for r in con.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {ident} IN ({marks})", chunk
        ):
            held[r[at]] = r
    fresh = [r for r in rows if r[at] not in held] if held else rows
    if fresh:
        con.executemany(_statement(con, "insert", table, columns, stamp, few), fresh)
    if held:
        _update_changed(con, table, columns, [r for r in rows if r[at] in held], held, at, stamp)


def _update_changed(
    con: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    held: dict[Any, Sequence[Any]],
    at: int,
    stamp: int | None,
) -> None:
    """Write into rows the replica holds only the columns whose values changed (and the
    stamp). An upsert that sets every column rewrites every index holding any of them: a
    comment's conversation (updated_at, seq and message_count changed) rewrote all nine of
    its indexes in each of fifty agents' caches, ~a third of applying the page, and dirtied
    that many more pages for the commit to write."""
    skip = columns.index("seq") if stamp is not None and "seq" in columns else -1
    groups: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        old = held[row[at]]
        changed = tuple(
            i
            for i, (new, was) in enumerate(zip(row, old, strict=True))
            if i != skip and (new != was or type(new) is not type(was))
        )
        if not changed and skip < 0:
            continue  # the same row again, and no stamp to write
        values = [row[i] for i in changed]
        if skip >= 0:
            values.append(stamp)
        groups.setdefault(changed, []).append((*values, row[at]))
    for changed, params in groups.items():
        sets = [f"{columns[i]} = ?" for i in changed] + (["seq = ?"] if skip >= 0 else [])
        sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {columns[at]} = ?"
        con.executemany(sql, params)


_CHECKED: set[tuple[str, tuple[str, ...]]] = set()


def _check_columns(con: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> None:
    """Refuse names that are not this replica's columns of `table` (they go into SQL text
    and come from the network). Checked once per shape of run."""
    if (table, columns) in _CHECKED:
        return
    real = {r[1] for r in con.execute(f"PRAGMA table_info({_spec(table).name})")}
    unknown = [c for c in columns if c not in real]
    if unknown or not columns:
        raise ValueError(f"not columns of {table}: {', '.join(map(str, unknown))[:80]}")
    _CHECKED.add((table, columns))


_TRIGGERED: dict[str, bool] = {}


def _insert_triggers(con: sqlite3.Connection, table: str) -> bool:
    """Whether inserting into `table` fires a trigger (conversation: the view counters of
    migration 0013). Inside a savepoint every such row paid ~0.7 ms (32k conversations:
    22 s instead of 1 s), so those tables take the careful path at once."""
    found = _TRIGGERED.get(table)
    if found is None:
        found = _TRIGGERED[table] = (
            con.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                "AND upper(sql) LIKE '%AFTER INSERT%'",
                (table,),
            ).fetchone()
            is not None
        )
    return found


_STAMP = "%stamp%"
_STAMP_NOW = "(SELECT value FROM sequence WHERE name = 'seq')"  # = the stamp, in _write


def _statement(
    con: sqlite3.Connection,
    kind: str,
    table: str,
    columns: tuple[str, ...],
    stamp: int | None = None,
    few: bool = False,
) -> str:
    """The statement writing rows of `columns` into `table`. With `stamp` it writes that
    change number as `seq` and leaves each row's own value unread (numbered parameters:
    the row's `?N` of seq is simply not used, and `seq` is not the last column, so the count
    of parameters still matches): rebuilding every row's tuple in Python to swap one value
    cost ~1.5 s of a first sync's CPU at 100k conversations.

    The stamp goes into the text as a number for a long run. For `few` rows (a poke's page)
    the text stays the same from page to page: the stamp is read from the cache's `sequence`
    row, which `_write` has just set to it in this transaction. A new number in the text each
    time made SQLite prepare the statement again, with every trigger of the table compiled
    into it: ~0.3 ms per run, most of applying a comment's page."""
    sql = _SQL.get((kind, table, columns, stamp is not None))
    if sql is None:
        _check_columns(con, table, columns)  # names go into SQL text
        names, marks = ", ".join(columns), ", ".join("?" * len(columns))
        if stamp is not None:
            marks = ", ".join(
                _STAMP if c == "seq" else f"?{i}" for i, c in enumerate(columns, start=1)
            )
        if kind == "replace":
            sql = f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})"
        elif kind == "insert":
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        else:
            ident = BY_NAME[table].ident
            sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ident)
            action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
            sql = (
                f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                f"ON CONFLICT ({', '.join(ident)}) {action}"
            )
        _SQL[(kind, table, columns, stamp is not None)] = sql
    if stamp is None:
        return sql
    return sql.replace(_STAMP, _STAMP_NOW if few else str(int(stamp)))


def _reindex_contacts(con: sqlite3.Connection, contact_ids: list[str], mark: int) -> None:
    """Conversations the replica already had whose contact arrived only now were indexed
    without the contact's name (an updated contact is re-indexed by its trigger; a new one
    is an insert, which has none)."""
    for i in range(0, len(contact_ids), 500):
        chunk = contact_ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rids = f"SELECT rid FROM conversation WHERE contact_id IN ({marks}) AND rid <= ?"
        con.execute(f"DELETE FROM conversation_fts WHERE rowid IN ({rids})", (*chunk, mark))
        con.execute(
            "INSERT INTO conversation_fts(rowid, subject, contact) SELECT c.rid, c.subject, "
            f"{search_index.CONTACT_TEXT} FROM conversation c WHERE c.contact_id IN ({marks}) "
            "AND c.rid <= ?",
            (*chunk, mark),
        )
