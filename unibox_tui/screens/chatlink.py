"""Website chat in the agent's TUI: the visitor's typing and presence as the hub signals them
(hub/chat_http.py sends `signals` {"visitor": {...}} to the agents who may see the chat), and
the visitor's context for the contact sidebar (the page they chat from, where they came
from, their browser and local time, the pages seen, whether they are still on the page).

TeamLink (teamlink.py) hands visitor signals here; the inbox screen asks for the sidebar
text, the composer's line for a visitor who left, and "e-mail the transcript" (T). Everything a visitor's browser said is shown as plain Text, never markup."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from rich.text import Text

from ..core.text import one_line

SHOWN_FOR = 8.0  # seconds "Visitor is typing" shows after the last typing signal


class VisitorSignals:
    def __init__(self) -> None:
        # conversation id -> {"online": bool, "typing_until": float, "page": str, "title": str}
        self.by_conversation: dict[str, dict[str, Any]] = {}
        # Once the hub said who is on the page (its hello), a chat it did not name is one
        # whose visitor left: "not known" only before that.
        self.known = False

    def seed(self, here: list[str]) -> None:
        """The hub's hello: the chat conversations whose visitor is on the page now."""
        self.known = True
        for conversation_id in here:
            found = self.by_conversation.setdefault(
                conversation_id, {"typing_until": 0.0, "page": "", "title": ""}
            )
            found["online"] = True
        for conversation_id, found in self.by_conversation.items():
            if conversation_id not in here:
                found["online"] = False
                found["typing_until"] = 0.0

    def heard(self, data: dict[str, Any]) -> bool:
        """Store one signal; True when something shown changed."""
        conversation_id = data.get("conversation_id")
        if not isinstance(conversation_id, str):
            return False
        typing = bool(data.get("typing")) and bool(data.get("online", True))
        before = self.by_conversation.get(conversation_id, {})
        now = {
            "online": bool(data.get("online")),
            "typing_until": time.monotonic() + SHOWN_FOR if typing else 0.0,
            "page": str(data.get("page") or before.get("page") or ""),
            "title": str(data.get("title") or before.get("title") or ""),
        }
        self.by_conversation[conversation_id] = now
        return True

    def typing(self, conversation_id: str) -> bool:
        found = self.by_conversation.get(conversation_id)
        return bool(found and found["typing_until"] > time.monotonic())

    def expire(self) -> bool:
        """True when a "typing" ran out (the header changes)."""
        now = time.monotonic()
        dropped = False
        for found in self.by_conversation.values():
            if found["typing_until"] and found["typing_until"] <= now:
                found["typing_until"] = 0.0
                dropped = True
        return dropped

    def typing_text(self, conversation_id: str) -> Text | None:
        return (
            Text("Visitor is typing…", style="italic yellow")
            if self.typing(conversation_id)
            else None
        )

    def online(self, conversation_id: str) -> bool | None:
        found = self.by_conversation.get(conversation_id)
        if found is None:
            return False if self.known else None
        return bool(found["online"])


def reply_notice(ws: Any, conversation_id: str, signals: VisitorSignals | None) -> Text | None:
    """The composer's line for a chat whose visitor left (as the hub signalled): the reply
    goes to them by e-mail (the hub decides: commands/chat.py left_visitor_email), or, with
    no address known, it cannot reach them. None while they are here, or not known."""
    if signals is None or signals.online(conversation_id) is not False:
        return None
    from ..core.chat import known_address

    with ws.read() as conn:
        address = known_address(conn, conversation_id)
    if address:
        line = Text("The visitor left: unless they come back, this reply goes to ", "bold")
        line.append(one_line(address, 120))
        line.append(" by e-mail")
        return line
    return Text(
        "The visitor left and gave no e-mail address: they cannot be reached "
        "(they see this reply only if they come back to the chat)",
        "bold yellow",
    )


def _line(text: Text, label: str, value: str | None, limit: int = 200) -> None:
    if value:
        text.append(f"\n{label}: ", style="dim")
        text.append(one_line(value, limit))


def context_text(
    ws: Any, conversation_id: str, signals: VisitorSignals | None, now: datetime
) -> Text:
    """The visitor's context, for the sidebar of a chat conversation."""
    from ..core.chat import chat_context

    with ws.read() as conn:
        context = chat_context(conn, conversation_id)
    text = Text("visitor", style="bold")
    online = signals.online(conversation_id) if signals is not None else None
    live_page = None
    if signals is not None:
        live_page = signals.by_conversation.get(conversation_id, {}).get("page") or None
    text.append("\non the page: ", style="dim")
    text.append({True: "yes", False: "no, left", None: "not known"}[online])
    _line(text, "page", live_page or context.get("page"))
    _line(text, "title", context.get("title"))
    _line(text, "started on", context.get("started_on"))
    _line(text, "referrer", context.get("referrer"))
    _line(text, "browser", context.get("browser"))
    offset = context.get("offset")
    if isinstance(offset, int):
        local = now + timedelta(minutes=offset)
        zone = f" ({one_line(str(context['tz']), 40)})" if context.get("tz") else ""
        text.append("\nlocal time: ", style="dim")
        text.append(f"{local:%H:%M}{zone}")
    pages = context.get("pages") or []
    if len(pages) > 1:
        text.append(f"\npages seen: {len(pages)}", style="dim")
    return text


def email_transcript(screen: Any) -> None:
    """T: e-mail a chat's transcript to an address, the visitor's (when known) offered."""
    from ..core import commands, composing
    from ..core.chat import known_address
    from ..core.errors import InvalidRequest
    from .pickers import PromptScreen

    need = screen._need()
    if need is None:
        return
    row, me = need
    if row.channel_kind != "chat":
        screen.notify("Transcripts are for website chat conversations.", markup=False)
        return
    with screen.uapp.ws.read() as conn:
        known = known_address(conn, row.id) or ""

    def check(text: str) -> str | None:
        try:
            found = composing.parse_addresses(text, "To")
        except InvalidRequest as e:
            return str(e)
        return None if len(found) == 1 else "Type one e-mail address."

    def done(_result: Any) -> None:
        screen.notify("Transcript queued.", markup=False)

    def addressed(text: str | None) -> None:
        if not text:
            return
        [to] = composing.parse_addresses(text, "To")
        screen.uapp.commands.run(
            commands.email_transcript, row.id, to, actor=me, now=screen.uapp.now(), then=done
        )

    screen.app.push_screen(
        PromptScreen("E-mail the chat's transcript to", value=known, check=check), addressed
    )
