"""Snippet tokens: `{{contact.first_name}}`, `{{agent.name}}`, ... filled from context."""

from __future__ import annotations

import re

TOKEN = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")


def fill(body: str, values: dict[str, dict[str, str]]) -> str:
    """Replace each known token; an unknown token or a missing value becomes empty text.

    `values` is e.g. {"contact": {"name": "Ana Lima", "first_name": "Ana"}, "agent": {...}}.
    """

    def sub(m: re.Match[str]) -> str:
        return values.get(m.group(1), {}).get(m.group(2), "") or ""

    return TOKEN.sub(sub, body)


def person_values(name: str, email: str | None = None, company: str | None = None) -> dict:
    parts = name.split()
    return {
        "name": name,
        "first_name": parts[0] if parts else "",
        "last_name": " ".join(parts[1:]),
        "email": email or "",
        "company": company or "",
    }
