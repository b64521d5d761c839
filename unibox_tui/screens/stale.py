"""Two agents answering one customer at once (issue 10, "guarded operations").

A reply carries the newest customer message or reply the agent had on screen when they sent
it (`seen_message_id`); core refuses it as stale (errors.Stale) if another agent's reply or a
new customer message came after that. Refused at once by the cache, the composer keeps the
text and the thread now shows what arrived: ctrl+s again sends anyway. Refused later by the
hub (the cache did not have the newer message yet), the reply is undone in the cache and its
text comes back as the conversation's draft, with a toast that says so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.errors import Stale
from ..core.queries import MessageRow
from ..core.text import one_line

if TYPE_CHECKING:
    from ..app import UniboxApp

ANSWERS = ("incoming", "outgoing")


def seen_message_id(messages: Sequence[MessageRow] | None) -> str | None:
    """The newest customer message or reply among those on screen."""
    for message in reversed(messages or ()):
        if message.kind in ANSWERS:
            return message.id
    return None


def refused_now(app: UniboxApp, error: Exception) -> None:
    """The cache refused the reply as stale: the composer still holds it."""
    if isinstance(error, Stale):
        app.notify(
            "The conversation now shows what came first; ctrl+s sends your reply anyway.",
            title="Not sent: " + one_line(str(error), 120),
            severity="warning",
            markup=False,
            timeout=12,
        )


def refused_by_hub(app: UniboxApp, error: str, name: str, args: dict[str, Any]) -> bool:
    """The hub refused a reply the cache had taken: put its text back as the draft. True when
    this handled the refusal."""
    if name != "reply" or not app.me_id:
        return False
    conversation_id, text = args.get("conversation_id"), args.get("text")
    if not isinstance(conversation_id, str) or not isinstance(text, str):
        return False
    from ..core import commands

    app.commands.run(commands.save_draft, conversation_id, text, actor=app.me_id, quiet=True)
    app.notify(
        "Your reply is back as this conversation's draft: read what came, then r and ctrl+s.",
        title="Not sent: " + one_line(error, 120),
        severity="warning",
        markup=False,
        timeout=15,
    )
    return True
