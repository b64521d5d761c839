"""The orders a conversation list can be sorted in (the list's `O` key, `conversations list
--sort`): newest activity first (the default), oldest waiting first, by the customer's last
message, by ticket priority.

An order is a tuple of terms, each a SQL expression over the conversation (alias `c`), its
direction, and the same value taken from a row. One definition serves the list's pages
(ORDER BY), a row's position (how many rows sort before it), the CLI's cursor (the rows
after one) and the widget's check that a live change moved a row (the row's key), so they
cannot disagree.

Only the default order walks an index (`ix_conv_*`: last_message_at, rid) and stops after a
page; the others sort the view's index entries (the indexes carry `customer_at`, migration
0028): for the 26k open conversations of the 100k demo ~5-11 ms the first page and up to
~25 ms a page 20,000 rows down (benchmarks/list_orders.py). Indexes for
them would cost every message of every conversation a write or two more, for lists an
agent sorts now and then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import clock
from .errors import InvalidRequest
from .kinds import TICKET_PRIORITIES

if TYPE_CHECKING:
    from .queries import ConversationRow

# low 1 ... urgent 4; no ticket 0 (last when sorted by priority).
PRIORITY_RANK = {name: n for n, name in enumerate(TICKET_PRIORITIES, start=1)}
# The rank of the conversation's ticket's priority; a row without a ticket skips the lookup.
PRIORITY_SQL = (
    "CASE WHEN c.ticket_id IS NULL THEN 0 ELSE "
    "CASE (SELECT k.priority FROM ticket k WHERE k.id = c.ticket_id) "
    + " ".join(f"WHEN '{name}' THEN {n}" for name, n in PRIORITY_RANK.items())
    + " ELSE 0 END END"
)
# The customer's last message; '' (before any time, in both databases) for a conversation
# they have not written in yet, one an agent started: last by "last customer message".
# Columns only, no fallback to created_at: the list indexes carry `customer_at` (migration
# 0028), so the sort reads no table row.
CUSTOMER_SQL = "coalesce(c.customer_at, '')"


# Before every time, as '' is in SQL: the key of a conversation the customer never wrote in.
NEVER = datetime.min.replace(tzinfo=UTC)


def customer_time(row: ConversationRow) -> Any:
    return row.customer_at


def _customer_key(row: ConversationRow) -> datetime:
    return row.customer_at or NEVER


@dataclass(frozen=True)
class Term:
    sql: str
    descending: bool
    # The row's value, compared in Python as SQL compares the expression (times as datetimes:
    # the widget compares rows on every live refresh, and formatting them cost more).
    value: Callable[[ConversationRow], Any]

    def param(self, value: Any) -> Any:
        """`value` as a SQL parameter compared with the expression."""
        if value is NEVER:
            return ""
        return clock.to_db(value) if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Order:
    key: str
    label: str  # in the picker and the list's header
    terms: tuple[Term, ...]
    # The time a row shows in its age column: what the order sorts by.
    time: Callable[[ConversationRow], Any] = lambda row: row.last_message_at
    shows_priority: bool = False  # the status column shows the ticket's priority

    @property
    def order_by(self) -> str:
        return ", ".join(f"{t.sql} {'DESC' if t.descending else 'ASC'}" for t in self.terms)

    def key_of(self, row: ConversationRow) -> tuple[Any, ...]:
        return tuple(t.value(row) for t in self.terms)

    def precedes(self, a: ConversationRow, b: ConversationRow) -> bool:
        """Whether row `a` sorts before row `b`."""
        for term in self.terms:
            x, y = term.value(a), term.value(b)
            if x != y:
                return (x > y) if term.descending else (x < y)
        return False

    def before(self, row: ConversationRow) -> tuple[str, tuple[Any, ...]]:
        """A condition on `c`: sorts before `row` (its position is how many do)."""
        return self._compare(row, after=False)

    def after(self, row: ConversationRow) -> tuple[str, tuple[Any, ...]]:
        """A condition on `c`: sorts after `row` (the page that follows it)."""
        return self._compare(row, after=True)

    def _compare(self, row: ConversationRow, *, after: bool) -> tuple[str, tuple[Any, ...]]:
        values = tuple(t.param(t.value(row)) for t in self.terms)
        if len({t.descending for t in self.terms}) == 1:
            # One direction: a row-value comparison, which the default order's index answers
            # as one range.
            first = self.terms[0].descending != after
            columns = ", ".join(t.sql for t in self.terms)
            marks = ", ".join("?" * len(values))
            return f"({columns}) {'>' if first else '<'} ({marks})", values
        # Mixed directions: the first term that differs decides.
        parts: list[str] = []
        params: list[Any] = []
        for i, term in enumerate(self.terms):
            op = ">" if term.descending != after else "<"
            same = [f"{t.sql} = ?" for t in self.terms[:i]]
            parts.append("(" + " AND ".join([*same, f"{term.sql} {op} ?"]) + ")")
            params += [*values[:i], values[i]]
        return "(" + " OR ".join(parts) + ")", tuple(params)


def _rid(row: ConversationRow) -> int:
    return row.rid


NEWEST = Order(
    "newest",
    "Newest activity",
    (
        Term("c.last_message_at", True, lambda r: r.last_message_at),
        Term("c.rid", True, _rid),
    ),
)
ORDERS: dict[str, Order] = {
    o.key: o
    for o in (
        NEWEST,
        Order(
            "waiting",
            "Oldest waiting",
            (
                # Closing clears `waiting`: waiting conversations are not closed.
                Term("c.waiting", True, lambda r: int(r.waiting)),
                Term(CUSTOMER_SQL, False, _customer_key),
                Term("c.rid", False, _rid),
            ),
            time=customer_time,
        ),
        Order(
            "customer",
            "Customer's last message",
            (Term(CUSTOMER_SQL, True, _customer_key), Term("c.rid", True, _rid)),
            time=customer_time,
        ),
        Order(
            "priority",
            "Ticket priority",
            (
                Term(PRIORITY_SQL, True, lambda r: PRIORITY_RANK.get(r.ticket_priority or "", 0)),
                *NEWEST.terms,
            ),
            shows_priority=True,
        ),
    )
}


def order(key: str) -> Order:
    """The order named `key`, or a clear error naming the others."""
    found = ORDERS.get(key)
    if found is None:
        raise InvalidRequest(f"unknown sort {key!r}; use one of {', '.join(ORDERS)}")
    return found
