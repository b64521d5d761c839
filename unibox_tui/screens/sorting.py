"""The list's order (`O`): newest activity first, oldest waiting first, last customer
message first, ticket priority (core/list_order.py).

The order is a way of working, not a property of one view: it stays when the agent switches
view or filter, and the config remembers it (`[ui] sort`), as it does the theme. The list's
header names any order but the default; the rows' age column then counts from what the order
sorts by (the customer's last message) and, sorted by priority, the status column shows the
ticket's priority.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from ..core.errors import ConfigError
from ..core.list_order import NEWEST, ORDERS, Order

if TYPE_CHECKING:
    from .inbox import InboxScreen

HINTS = {
    "newest": "the latest message on top",
    "waiting": "longest-waiting customers on top",
    "customer": "newest customer word on top",
    "priority": "urgent → low, then no ticket",
}


def current(screen: InboxScreen) -> Order:
    return ORDERS.get(screen.uapp.config.sort, NEWEST)


def header(order: Order) -> Text | None:
    """What the list's header adds for `order` (nothing for the default)."""
    if order is NEWEST:
        return None
    return Text(f"  ⇅ {order.label.lower()}", style="dim")


def choose(screen: InboxScreen) -> None:
    """Offer the orders; the chosen one re-sorts the list and is remembered."""
    from .pickers import Choice, PickerScreen  # when the key is pressed: not at start-up

    now = current(screen)
    choices = []
    for order in ORDERS.values():
        label = Text("● " if order is now else "  ")
        label.append(order.label, style="bold" if order is now else "")
        label.append(f"  {HINTS[order.key]}", style="dim")
        choices.append(Choice(order.key, label, f"{order.key} {order.label}"))
    screen.app.push_screen(
        PickerScreen("Sort the list", choices, id="sort-picker"),
        lambda key: _chosen(screen, key),
    )


def _chosen(screen: InboxScreen, key: str | None) -> None:
    if key is None or key == screen.uapp.config.sort:
        return
    config = screen.uapp.config
    config.sort = key
    try:
        config.save()
    except ConfigError as e:  # the list is sorted all the same; only remembering failed
        screen.notify(str(e), severity="error", markup=False)
    screen.reshow_list()
