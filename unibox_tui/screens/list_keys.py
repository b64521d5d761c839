"""j / k in the dialogs that are lists (settings, chatflows, notifications)."""

from __future__ import annotations

from textual.widgets import OptionList


class ListKeys:
    """Mixin for a screen whose lists are OptionLists: `list_cursor(step)` moves the focused
    one (or the first, when focus is elsewhere on the screen)."""

    def action_list_cursor(self, step: int) -> None:
        focused = self.focused  # type: ignore[attr-defined]
        target = focused if isinstance(focused, OptionList) else None
        if target is None:
            lists = [w for w in self.query(OptionList) if w.display]  # type: ignore[attr-defined]
            if not lists:
                return
            target = lists[0]
        if step > 0:
            target.action_cursor_down()
        else:
            target.action_cursor_up()
