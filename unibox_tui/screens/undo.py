"""What a one-key decision did, said in a toast, and how to take it back (`ctrl+z`). The same
key unsends a reply while the outbox still holds it (`[compose] undo_send_seconds`).

A decision (close, reopen, assign, assign to me, move, snooze, unread) is recorded as the
conversation before and after it. The toast names the conversation and the change; within
the undo window `restore` runs the inverse core commands for just the fields that decision
changed (move back, previous assignee, reopen or close again, snooze until the old time,
read state). Only the latest decision can be undone, and only for a few seconds: after that
the conversation may have moved on, and an old undo would surprise.

Toast text quotes customers (subjects), so it is cleaned here and shown without markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import actions
from ..core import commands, queries
from ..core.commands.registry import call
from ..core.db import Workspace
from ..core.errors import UniboxError
from ..core.queries import ConversationRow
from ..core.text import one_line
from ..widgets.composer import Draft

if TYPE_CHECKING:
    from .inbox import InboxScreen

SUBJECT_CELLS = 40


def describe(row: ConversationRow) -> str:
    """“Order #1042 hasn't arrived”: a conversation as a toast names it."""
    name = row.subject or row.preview or row.contact_name or "(no subject)"
    return f"“{one_line(name, SUBJECT_CELLS)}”"


def _when(value: datetime | None) -> str:
    return f"{value.astimezone():%a %d %b %H:%M}" if value else "later"


def change_text(before: ConversationRow, after: ConversationRow) -> str:
    """What changed, in words: "closed", "assigned to @bo", "moved to Sales", ..."""
    parts = []
    if after.inbox_id != before.inbox_id:
        parts.append(f"moved to {one_line(after.inbox, 40)}")
    if after.status != before.status or after.snoozed_until != before.snoozed_until:
        parts.append(
            {"closed": "closed", "open": "reopened"}.get(
                after.status, f"snoozed until {_when(after.snoozed_until)}"
            )
        )
    if after.assignee_id != before.assignee_id:
        parts.append(f"assigned to @{after.assignee}" if after.assignee else "unassigned")
    if after.team != before.team:
        team = one_line(after.team or "", 40)
        parts.append(f"assigned to team {team}" if after.team else "team removed")
    if after.unread != before.unread:
        parts.append("marked unread" if after.unread else "marked read")
    return ", ".join(parts)


def restore(
    ws: Workspace,
    before: ConversationRow,
    after: ConversationRow,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Put back what one decision changed, through the inverse commands. Inbox first (a
    move may have unassigned someone without access there), then assignee, team, status,
    read state. Through the registry like every command: on a hub client they go to the
    hub (a direct call would write the cache alone, which its guard refuses)."""
    cid = before.id
    if after.inbox_id != before.inbox_id:
        call(ws, commands.move_inbox, cid, before.inbox_id, actor=actor, now=now)
    if after.assignee_id != before.assignee_id:
        call(ws, commands.assign, cid, before.assignee_id, actor=actor, now=now)
    if after.team != before.team:
        call(ws, commands.assign_team, cid, before.team, actor=actor, now=now)
    if after.status != before.status or after.snoozed_until != before.snoozed_until:
        until = before.snoozed_until
        if before.status == "closed":
            call(ws, commands.close, cid, actor=actor, now=now)
        elif before.status == "snoozed" and until is not None and until > now:
            call(ws, commands.snooze, cid, until, actor=actor, now=now)
        else:  # open, or a snooze that has ended meanwhile
            call(ws, commands.reopen, cid, actor=actor, now=now)
    if after.unread != before.unread:
        call(ws, commands.mark_read, cid, not before.unread, actor=actor, now=now)


@dataclass
class Undo:
    """The one thing `ctrl+z` takes back, until `expires`."""

    conversation_id: str
    what: str  # "“Order #1042…” closed": for the toast that says it was undone
    expires: datetime
    revert: Callable[[], object]  # raises UniboxError when it can no longer be undone
    edit_again: bool = False  # an unsent reply: open the editor on its text
    after: Callable[[Any], None] | None = None  # on the UI thread, with what revert returned

    def live(self, now: datetime) -> bool:
        return now <= self.expires


def _undo_key(screen: InboxScreen) -> str:
    spec = actions.SPECS["undo"]
    return actions.keys_for(spec, screen.uapp.config.keymap).split(",")[0]


def record_decision(screen: InboxScreen, before: ConversationRow, me: str) -> None:
    """After a decision: say what changed and keep how to take it back."""
    app = screen.uapp
    ws, now = app.ws, app.now()
    after = queries.conversation(ws, before.id, access=app.access)
    change = change_text(before, after)
    if not change:
        screen.notify(f"{describe(before)}: nothing to change.", markup=False, timeout=3)
        return
    what = f"{describe(before)} {change}"
    window = app.config.undo_seconds
    if window <= 0:
        screen.notify(f"{what}.", markup=False, timeout=4)
        return
    screen.undo = Undo(
        before.id,
        what,
        now + timedelta(seconds=window),
        lambda: restore(ws, before, after, actor=me, now=app.now()),
    )
    screen.notify(f"{what}. {_undo_key(screen)} undoes it.", markup=False, timeout=max(window, 2))


def hold_reply(
    screen: InboxScreen, row: ConversationRow, me: str, message_id: str, draft: Draft, hold: float
) -> None:
    """A reply is queued; while the outbox holds it, the undo key takes it back into the
    editor (commands.unsend, refused once an engine has claimed it)."""
    if hold <= 0:
        screen.notify("Reply queued.", markup=False, timeout=2)
        return
    app = screen.uapp

    def revert() -> str:
        # Through the registry: on a hub client the unsend goes to the hub, whose outbox
        # holds the reply (a direct call would write the cache alone).
        return call(app.ws, commands.unsend, message_id, actor=me, now=app.now())  # type: ignore[no-any-return]

    def restored(text: str) -> None:
        if screen.drafts is not None:
            # The e-mail fields come back too (files by their paths); the quote is in the
            # text now, so its toggle is off.
            mail = replace(draft.mail, quote=False) if draft.mail is not None else None
            screen.drafts.restored(row.id, Draft("reply", text, draft.via_channel_id, mail))
            screen.conv_list.set_drafts(screen.drafts.ids())

    screen.undo = Undo(
        row.id,
        f"reply to {describe(row)}",
        app.now() + timedelta(seconds=hold),
        revert,
        edit_again=True,
        after=restored,
    )
    screen.notify(
        f"Reply to {describe(row)} leaves in {hold:g} s. {_undo_key(screen)} unsends it.",
        markup=False,
        timeout=max(hold, 2),
    )


def undo_last(screen: InboxScreen) -> None:
    """Take back the last decision (or unsend the last reply) while its window lasts."""
    undo, now = screen.undo, screen.uapp.now()
    screen.undo = None
    if undo is None or not undo.live(now):
        screen.notify("Nothing to undo.", markup=False, timeout=2)
        return

    def undone(result: object) -> None:
        if undo.after is not None:
            undo.after(result)
        screen.reveal(undo.conversation_id, switch=False)
        screen.notify(f"Undone: {undo.what}.", markup=False, timeout=3)
        row = screen.thread_row
        if undo.edit_again and row is not None and row.id == undo.conversation_id:
            screen.add_class("-reading")
            screen.action_reply()

    def refused(error: UniboxError) -> None:
        screen.notify(f"Cannot undo: {error}", severity="error", markup=False)

    # Off the UI thread like every command (screens/commanding.py).
    screen.uapp.commands.run(lambda _ws: undo.revert(), then=undone, failed=refused, quiet=True)
