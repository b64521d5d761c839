"""@mentions in internal comments."""

from __future__ import annotations

import re

# `@handle` not preceded by a word character (so `ana@example.com` is not a mention);
# handles are letters, digits, `_`, `.` and `-`, and a trailing `.` or `-` is punctuation.
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)")


def find_mentions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, handle) for every `@handle` in text, in order; handles lower-cased."""
    return [(m.start(), m.end(), m.group(1).lower()) for m in MENTION.finditer(text)]


def mentioned_handles(text: str) -> list[str]:
    """Distinct handles in order of first mention."""
    seen: dict[str, None] = {}
    for _, _, handle in find_mentions(text):
        seen.setdefault(handle, None)
    return list(seen)
