"""Act on what you see: a conversation opened from elsewhere (search, a notification, a
contact's history) gets the list cursor, so the list, the thread and the keys agree on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import queries
from ..core.errors import UniboxError

if TYPE_CHECKING:
    from .inbox import InboxScreen


def reveal(screen: InboxScreen, conversation_id: str, *, switch: bool = True) -> bool:
    """Put the list cursor on a conversation: in the current view, else (`switch`) the same
    view without its filter, else the first view that holds it. False when no view does."""
    selected = screen.conv_list.selected
    if selected is not None and selected.id == conversation_id:
        return True
    ws = screen.uapp.ws
    try:
        row = queries.conversation(ws, conversation_id, access=screen.uapp.access)
    except UniboxError:
        return False
    here = screen.current_view()
    entries = screen.views.entries
    if screen.entry is not None:
        entries = [screen.entry, *(e for e in entries if e.key != screen.entry.key)]
    with ws.read() as conn:
        if here is not None and queries.contains(conn, here, conversation_id):
            entry, view = screen.entry, here
        elif not switch:
            return False
        else:
            entry = next(
                (e for e in entries if queries.contains(conn, e.view, conversation_id)), None
            )
            if entry is None:
                return False
            view = entry.view
        index = queries.index_of(conn, view, row)
    if view is not here and entry is not None:
        screen.filter = None
        screen.views.show_current(entry.key)
        screen.show_entry(entry)
    if index >= screen.conv_list.total:  # the count is on its way from a worker
        screen.conv_list.set_total(index + 1)
    screen.conv_list.move_to(index)
    return True
