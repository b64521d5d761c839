"""The one place that makes customer text safe to show and store for display.

Everything a customer can write (names, subjects, bodies, file names) passes through
`clean()` before it reaches a widget: C0/C1 controls, ANSI/OSC escape sequences and bidi
overrides are removed, so text can never move the cursor, retitle the terminal or reorder
what the agent reads. Widgets then build `rich.text.Text(plain)` — never markup.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS-like strings, other ESC sequences,
# and 8-bit CSI/OSC; ST is `ESC \` or its 8-bit form \x9c. Other 8-bit introducers are C1
# controls, removed alone below with their payload left as text (\x90, \x9c ... are also
# cp1252 letters read as Latin-1). A string sequence (OSC, DCS, ...) is removed whole only
# when it ends; otherwise only its introducer goes (the 2-byte rule), so a stray ESC or a
# mis-decoded byte (`Ý` read as Latin-1 is `Ã\x9d`) never eats the customer's text. A 7-bit
# OSC also ends where the next ESC on its line begins, as in a terminal (an ESC cancels the
# string): a quoted display name loses the `\` of each `ESC \` (RFC 5322 quoted-pair), and
# the OSC 8 link `ESC]8;;URL ESC\text ESC]8;; ESC\` must still leave only `text`.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                                 # CSI
    | \x1b\][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c|(?=\x1b))  # OSC ... BEL/ST/next ESC
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)                 # DCS/SOS/PM/APC ... ST
    | \x1b(?=[PX^_\]])                                     # unterminated string: ESC only
    | \x1b[@-Z\\-_]                                         # 2-byte escapes
    | \x9b[0-?]*[ -/]*[@-~]                                 # 8-bit CSI
    | \x9d[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)             # 8-bit OSC ... BEL/ST
    """,
    re.VERBOSE,
)
# Remaining C0 (except tab/newline), DEL, C1, and bidi embedding/override/isolate controls.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def clean(value: str | None) -> str:
    """Customer text with every escape sequence and control character removed.

    Newlines and tabs survive (bodies have lines); `\\r\\n` becomes `\\n`.
    """
    if not value:
        return ""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in value or "\x9b" in value or "\x9d" in value:  # a fast scan first: rare
        value = _ESCAPES.sub("", value)
    return _CONTROLS.sub("", value)


def one_line(value: str | None, limit: int = 200) -> str:
    """Clean text folded onto one line (subjects, names, previews)."""
    for size in (limit * 2, limit * 8):
        if not value or len(value) <= size:
            break
        # A preview of a long body needs its start only: clean a prefix that ends at a line
        # break, a longer one when it folds to less than the limit, and the whole text only
        # after that. Not when the prefix holds an escape sequence: the cut may end inside
        # one (or inside the string its terminator closes), which would leave its tail as
        # text (rare: hostile mail; the whole text is cleaned then).
        head = value[:size]
        if "\x1b" in head or "\x9b" in head or "\x9d" in head:
            break
        cut = head.rfind("\n")
        if cut > size // 4:
            head = head[:cut]
        text = " ".join(clean(head).split())
        if len(text) > limit:
            return text[: limit - 1] + "…"
    text = " ".join(clean(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
