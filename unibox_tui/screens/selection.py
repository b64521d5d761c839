"""Several conversations at once: select rows in the list (`space` / `v`, `V` for all in
the view, `escape` clears), then close, reopen, assign, move, snooze or tag them in one step.

The decision is one core command (`commands.bulk`, commands/many.py: one transaction, access checked per
conversation; those the agent may not act in are skipped and counted in the toast) and one
undo: `ctrl+z` runs the grouped inverse steps (`many.undo_steps`) while the undo window lasts.

"All in the view" selects the view's first `MAX_BULK` conversations (a bounded read of ids
through the view's index), never the whole of a 100k view: a bulk step names the
conversations the agent saw, and a toast says when the view held more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from rich.text import Text

from ..core import commands, queries
from ..core.queries import ConversationRow
from ..widgets.safe_text import safe_line
from . import snooze
from .pickers import Choice, PickerScreen, PromptScreen
from .undo import Undo, _undo_key

if TYPE_CHECKING:
    from ..core.commands.many import BulkResult
    from .inbox import InboxScreen

DONE = {
    "close": "Closed",
    "reopen": "Reopened",
    "assign": "Assigned",
    "assign_team": "Assigned",
    "move": "Moved",
    "snooze": "Snoozed",
    "tag": "Tagged",
    "untag": "Untagged",
    "read": "Marked read",
    "unread": "Marked unread",
}


def count_text(n: int) -> str:
    return f"{n:,} conversation{'' if n == 1 else 's'}"


def select_all(screen: InboxScreen) -> None:
    """Select the conversations of the current view (its first MAX_BULK)."""
    from ..core.commands.many import MAX_BULK  # (loads SQLModel: not at start-up)

    view = screen.current_view()
    if view is None:
        return
    with screen.uapp.ws.read() as conn:
        ids = queries.ids_in_view(conn, view, MAX_BULK)
    total = max(screen.conv_list.total, len(ids))
    screen.conv_list.check(set(ids))
    if total > len(ids):
        screen.notify(
            f"Selected the newest {len(ids):,} of {total:,} in this view: bulk actions take "
            f"at most {MAX_BULK:,} at a time. Filter the view (f) to pick others.",
            markup=False,
            timeout=6,
        )
    else:
        screen.notify(
            f"Selected {count_text(len(ids))}. x close · a assign · m move · s snooze · "
            "l tag · esc clears",
            markup=False,
            timeout=4,
        )


def take(screen: InboxScreen, action: str) -> bool:
    """A one-key decision while rows are selected acts on them all: True if it did (or
    opened its picker). Without a selection, False: the key acts on one conversation."""
    ids = list(screen.conv_list.checked)
    if not ids:
        return False
    me = screen.uapp.me_id
    if not me:
        screen._need()  # says why
        return True
    if action in ("close", "reopen"):
        run(screen, action, ids)
    elif action == "assign_me":
        run(screen, "assign", ids, me)
    elif action == "assign":
        _pick(screen, f"Assign {count_text(len(ids))}", _assign_choices(screen), ids)
    elif action == "move":
        choices = [
            Choice(("move", inbox.id), safe_line(inbox.name), inbox.name)
            for inbox in queries.visible_inboxes(screen.uapp.ws, me)
        ]
        _pick(screen, f"Move {count_text(len(ids))} to inbox…", choices, ids)
    elif action == "snooze":
        _snooze(screen, ids)
    elif action == "tag":
        _tag(screen, ids)
    return True


def _assign_choices(screen: InboxScreen) -> list[Choice[Any]]:
    choices: list[Choice[Any]] = []
    for agent in queries.agents(screen.uapp.ws):
        if not agent.active:
            continue
        label = Text(f"@{agent.handle:<12} ", style="bold")
        label.append_text(safe_line(agent.name))
        choices.append(Choice(("assign", agent.handle), label, f"{agent.handle} {agent.name}"))
    for team in queries.teams(screen.uapp.ws):
        label = Text("team ", style="dim")
        label.append_text(safe_line(team.name, "bold"))
        choices.append(Choice(("assign_team", team.name), label, f"team {team.name}"))
    choices.append(Choice(("assign", None), Text("Unassign", style="italic"), "unassign"))
    return choices


def _pick(screen: InboxScreen, title: str, choices: list[Choice[Any]], ids: list[str]) -> None:
    def chosen(value: tuple[str, str | None] | None) -> None:
        if value is not None:
            run(screen, value[0], ids, value[1])

    screen.app.push_screen(PickerScreen(title, choices, id="bulk-picker"), chosen)


def _snooze(screen: InboxScreen, ids: list[str]) -> None:
    now, tz = screen.uapp.now(), screen.uapp.tz

    def chosen(value: datetime | str | None) -> None:
        if isinstance(value, datetime):
            run(screen, "snooze", ids, until=value)
        elif value == snooze.CUSTOM:
            from ..core.when import parse_when

            screen.app.push_screen(
                PromptScreen("Snooze until (3h, 2d, tomorrow 9:00…)", check=snooze.check(now, tz)),
                lambda text: chosen(parse_when(text, now, tz) if text else None),
            )

    screen.app.push_screen(
        PickerScreen(
            f"Snooze {count_text(len(ids))} until…",
            snooze.choices(now, tz),
            id="snooze-picker",
            typed=snooze.typed(now, tz),
        ),
        chosen,
    )


def _tag(screen: InboxScreen, ids: list[str]) -> None:
    """A tag for all of them: one every selected row has is taken off, else put on."""
    from .tagging import tag_picker

    with screen.uapp.ws.read() as conn:
        rows = queries.rows_of(conn, ids, access=screen.uapp.access)
    have: dict[str, int] = {}
    for row in rows:
        for name in row.tags:
            have[name] = have.get(name, 0) + 1

    def chosen(name: str | None) -> None:
        if name:
            everyone = have.get(name, 0) == len(rows) > 0
            run(screen, "untag" if everyone else "tag", ids, name)

    tag_picker(screen, f"Tag {count_text(len(ids))}", have, len(rows), chosen)


def run(
    screen: InboxScreen,
    action: str,
    ids: list[str],
    value: str | None = None,
    *,
    until: datetime | None = None,
) -> None:
    """Run one bulk decision; a toast names how many changed, and ctrl+z takes it back."""
    app = screen.uapp
    me = app.me_id
    assert me
    with app.ws.read() as conn:  # as they were, for the undo (at most MAX_BULK rows)
        before = queries.rows_of(conn, ids, access=app.access)

    def done(result: BulkResult) -> None:
        screen.conv_list.check(set())
        _decided(screen, result, before, value, me)

    app.commands.run(
        commands.bulk, ids, action, value, until=until, actor=me, now=app.now(), then=done
    )


def summary(result: BulkResult, value: str | None = None) -> str:
    """“Closed 12 conversations (3 skipped: …)”: what the toast says."""
    verb = DONE[result.action]
    if result.action in ("tag", "untag") and value:
        verb = f"{verb} #{value}:"
    text = f"{verb} {count_text(len(result.changed))}"
    if result.unchanged:
        text += f", {len(result.unchanged):,} already so"
    if result.skipped:
        why = f": {result.reasons[0]}" if len(result.reasons) == 1 else ""
        text += f"; skipped {len(result.skipped):,}{why}"
    return text


def _decided(
    screen: InboxScreen,
    result: BulkResult,
    before: list[ConversationRow],
    value: str | None,
    me: str,
) -> None:
    app = screen.uapp
    text = summary(result, value)
    window = app.config.undo_seconds
    severity: Literal["warning", "information"] = "warning" if result.skipped else "information"
    if not result.changed or window <= 0:
        screen.notify(f"{text}.", markup=False, timeout=5, severity=severity)
        return
    from ..core.commands.many import undo_steps

    steps = undo_steps(result.action, value, before, result.changed, app.now())
    screen.undo = Undo(
        result.changed[0],
        text[0].lower() + text[1:],
        app.now() + timedelta(seconds=window),
        _reverter(app.ws, steps, me, app.now),
    )
    screen.notify(
        f"{text}. {_undo_key(screen)} undoes it.",
        markup=False,
        timeout=max(window, 2),
        severity=severity,
    )


def _reverter(
    ws: Any, steps: list[Any], me: str, now: Callable[[], datetime]
) -> Callable[[], None]:
    from ..core.commands import registry

    def revert() -> None:
        # Through the registry, like every command the app runs: on a hub client each
        # step goes to the hub (a direct call would only write the cache).
        for action, ids, value, until in steps:
            registry.call(ws, commands.bulk, ids, action, value, until=until, actor=me, now=now())

    return revert
