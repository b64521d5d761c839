"""Small checks and normal forms shared by the commands, with no database or ORM import,
so a channel's parse worker (backends/email/parse_worker.py) can use them and start fast."""

from __future__ import annotations

import re

from .errors import InvalidRequest

# An agent's handle: what @mentions and --as use.
HANDLE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")


def suggest_handle(name: str) -> str:
    """A handle made from a name's first word ("Ana Lima" -> "ana"), for forms and prompts."""
    first = (name.split() or [""])[0].lower()
    handle = re.sub(r"[^a-z0-9_.-]", "", first).strip(".-")
    return handle if HANDLE.match(handle) else ""


def require_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise InvalidRequest(f"{what} must be one of {', '.join(choices)} (got {value!r})")
    return value


def normalize_identity(kind: str, value: str) -> str:
    """One spelling per identity: e-mail lower-cased, phone numbers digits with a leading +."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind in ("whatsapp", "phone"):
        digits = "".join(ch for ch in value if ch.isdigit())
        return "+" + digits if digits else value
    return value
