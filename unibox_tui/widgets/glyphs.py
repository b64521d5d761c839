"""Glyphs and short labels shared by the list, the thread and help (all one cell wide)."""

from __future__ import annotations

CHANNEL_GLYPH = {
    "email": "✉",
    "chat": "◆",
    "messenger": "◎",
    "whatsapp": "✆",
    "form": "▤",
    "fallback": "✉",  # it is e-mail: received by the hub itself
}
CHANNEL_NAME = {
    "email": "E-mail",
    "chat": "Live chat",
    "messenger": "Messenger",
    "whatsapp": "WhatsApp",
    "form": "Form",
    "fallback": "E-mail (forwarded)",
}
UNREAD = "●"
CHECKED = "▐"  # selected for a bulk action (space / v)
WAITING = "↩"  # the customer spoke last: waiting for us
DRAFT = "✎"  # you have an unsent draft here
STATUS_SHORT = {"open": "open", "snoozed": "snoozed", "closed": "closed"}
ATTACHMENT = "▪"

# One entry per glyph: a kind that shares its glyph (forwarded mail is mail) is not repeated.
_GLYPH_KIND = {g: k for k, g in reversed(CHANNEL_GLYPH.items())}
LEGEND = f"{UNREAD} unread   {WAITING} waiting for us   {DRAFT} your draft   " + "   ".join(
    f"{g} {CHANNEL_NAME[k]}"
    for g, k in sorted(_GLYPH_KIND.items(), key=lambda item: list(CHANNEL_GLYPH).index(item[1]))
)


def glyph(kind: str | None) -> str:
    return CHANNEL_GLYPH.get(kind or "", "?")


def channel_name(kind: str | None) -> str:
    return CHANNEL_NAME.get(kind or "", kind or "")
