"""Glyphs and short labels shared by the list, the thread and help (all one cell wide)."""

from __future__ import annotations

CHANNEL_GLYPH = {
    "email": "✉",
    "chat": "◆",
    "messenger": "◎",
    "whatsapp": "✆",
    "form": "▤",
}
CHANNEL_NAME = {
    "email": "E-mail",
    "chat": "Live chat",
    "messenger": "Messenger",
    "whatsapp": "WhatsApp",
    "form": "Form",
}
UNREAD = "●"
CHECKED = "▐"  # selected for a bulk action (space / v)
WAITING = "↩"  # the customer spoke last: waiting for us
DRAFT = "✎"  # you have an unsent draft here
STATUS_SHORT = {"open": "open", "snoozed": "snoozed", "closed": "closed"}
ATTACHMENT = "▪"

LEGEND = f"{UNREAD} unread   {WAITING} waiting for us   {DRAFT} your draft   " + "   ".join(
    f"{g} {CHANNEL_NAME[k]}" for k, g in CHANNEL_GLYPH.items()
)


def glyph(kind: str | None) -> str:
    return CHANNEL_GLYPH.get(kind or "", "?")


def channel_name(kind: str | None) -> str:
    return CHANNEL_NAME.get(kind or "", kind or "")
