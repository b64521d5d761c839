"""Tags from the keyboard (`l`): a picker of every tag, filtered as you type; a name typed
that is no tag yet is offered as a new one. On one conversation, choosing a tag it has takes
it off, any other puts it on (commands.tag / untag); with rows selected, screens/selection.py
uses the same picker for all of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text

from ..core import commands, queries
from ..core.errors import InvalidRequest
from ..widgets.safe_text import safe_line
from .pickers import Choice, PickerScreen
from .undo import describe

if TYPE_CHECKING:
    from .inbox import InboxScreen


def tag_picker(
    screen: InboxScreen,
    title: str,
    have: dict[str, int],
    of: int,
    chosen: Callable[[str | None], None],
) -> None:
    """Pick a tag; `have`: how many of the `of` conversations have each tag already."""
    from ..core.commands.tags import tag_name  # (loads SQLModel: not at start-up)

    choices: list[Choice[str]] = []
    for name in queries.tags(screen.uapp.ws):
        label = safe_line(f"#{name}", "bold")
        n = have.get(name, 0)
        if n and n == of:
            label.append("  ✓ (choose to remove)", style="dim")
        elif n:
            label.append(f"  on {n} of {of}", style="dim")
        choices.append(Choice(name, label, name))
    known = {c.value for c in choices}

    def typed(text: str) -> Choice[str] | None:
        try:
            name = tag_name(text)
        except InvalidRequest:
            return None
        if name in known:
            return None
        label = Text("New tag ", style="italic")
        label.append_text(safe_line(f"#{name}", "bold"))
        return Choice(name, label, name)

    screen.app.push_screen(
        PickerScreen(
            title,
            choices,
            id="tag-picker",
            typed=typed,
            placeholder="a tag, or a new one…",
        ),
        chosen,
    )


def tag_one(screen: InboxScreen) -> None:
    """Add or remove a tag on the conversation on screen."""
    need = screen._need()
    if need is None:
        return
    row, me = need

    def chosen(name: str | None) -> None:
        if not name:
            return
        removing = name in row.tags
        verb = "untagged" if removing else "tagged"
        screen.uapp.commands.run(
            commands.untag if removing else commands.tag,
            row.id,
            name,
            actor=me,
            now=screen.uapp.now(),
            then=lambda _changed: screen.notify(
                f"{describe(row)} {verb} #{name}.", markup=False, timeout=3
            ),
        )

    title = f"Tags: {row.subject or row.preview}"[:60]
    tag_picker(screen, title, dict.fromkeys(row.tags, 1), 1, chosen)
