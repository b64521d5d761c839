"""WhatsApp templates in the composer: what it says when the 24-hour window closed, and the
picker that sends an approved template (ctrl+n) with its parameters asked one by one.

The templates are the channel's (synced by `unibox whatsapp templates sync`, kept in its
settings: backends/templates.py); the reply goes through `commands.reply(template=...)`
like any other, so the hub, the outbox and the undo window treat it as a reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..backends import registry
from ..backends.templates import templates_of
from ..core import clock, commands, queries
from ..widgets.safe_text import safe_line
from .pickers import Choice, PickerScreen, PromptScreen

if TYPE_CHECKING:
    from textual.screen import Screen

    from ..app import UniboxApp


def _channel(ws: Any, channel_id: str) -> Any:
    return next((c for c in queries.channels(ws) if c.id == channel_id), None)


def window_notice(app: UniboxApp, conversation: Any) -> Text | None:
    """A line for the composer's head when the conversation's reply window closed: until
    when it was open, and what still works (a template on WhatsApp)."""
    channel = _channel(app.ws, conversation.channel_id)
    if channel is None or not registry.connected(channel.kind, channel.settings):
        return None
    rules = registry.channel_rules(channel.kind, channel.settings)
    if rules.reply_window is None:
        return None
    with app.ws.read() as conn:  # one conversation's messages, on its index
        last = conn.exec_driver_sql(
            "SELECT max(created_at) FROM message WHERE conversation_id = ? AND kind = 'incoming'",
            (conversation.id,),
        ).scalar()
    closes = rules.window_closes_at(clock.from_db(last))
    if closes is None or app.now() <= closes:
        return None
    span = int(rules.reply_window.total_seconds() // 3600)
    line = Text(f"{span} h window closed {closes:%b %d %H:%M} UTC", "bold")
    if channel.kind == "whatsapp":
        line.append(" · templates only: ctrl+n")
    else:
        line.append(" · ctrl+o: by e-mail")
    return line


def offer_templates(
    screen: Screen[Any], conversation: Any, me: str, sent: Callable[[Any], None]
) -> None:
    """Pick an approved template, fill its parameters, send it as the reply."""
    app: UniboxApp = screen.app  # type: ignore[assignment]
    channel = _channel(app.ws, conversation.channel_id)
    if channel is None or channel.kind != "whatsapp":
        screen.notify("Templates are for WhatsApp conversations.", markup=False)
        return
    found = templates_of(channel.settings)
    if not found:
        screen.notify(
            "No approved templates on this channel yet: "
            f"`unibox whatsapp templates sync {channel.id}`",
            markup=False,
        )
        return
    choices = []
    for t in found:
        label = safe_line(f"{t['name']} ({t['language']})", "bold")
        label.append("  ")
        label.append_text(safe_line(str(t.get("body") or ""), "dim", limit=60))
        choices.append(Choice(t, label, f"{t['name']} {t.get('body', '')}"))

    def chosen(template: dict[str, Any] | None) -> None:
        if template is not None:
            _ask(screen, conversation, me, template, [], sent)

    app.push_screen(PickerScreen("Send a WhatsApp template", choices), chosen)


def _ask(
    screen: Screen[Any],
    conversation: Any,
    me: str,
    template: dict[str, Any],
    params: list[str],
    sent: Callable[[Any], None],
) -> None:
    app: UniboxApp = screen.app  # type: ignore[assignment]
    wanted = int(template.get("params") or 0)
    if len(params) == wanted:
        app.commands.run(
            commands.reply,
            conversation.id,
            "",
            actor=me,
            template=f"{template['name']}:{template['language']}",
            params=params,
            now=app.now(),
            then=sent,
        )
        return

    def got(value: str | None) -> None:
        if value is not None:
            _ask(screen, conversation, me, template, [*params, value], sent)

    app.push_screen(
        PromptScreen(
            f"{template['name']}: {{{{{len(params) + 1}}}}} of {wanted}",
            hint=str(template.get("body") or "")[:200],
            check=lambda v: None if v.strip() and "\n" not in v else "one non-empty line",
        ),
        got,
    )
