"""WhatsApp message templates: the approved ones a channel keeps, and filling one in.

Outside the 24-hour customer service window WhatsApp takes only a template Meta approved
(research §B.5). `unibox whatsapp templates sync CH` reads them from the Graph API
(`GET /{WABA_ID}/message_templates`) and keeps the approved ones in the channel's settings,
as `{"name", "language", "category", "body", "params"}` (params: how many `{{n}}` the body
has), so every agent's cache has them without another table, and the composer and the CLI
offer them. A reply names one as `NAME` or `NAME:LANGUAGE`.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.errors import InvalidRequest

_PARAM = re.compile(r"\{\{\s*(\d+)\s*\}\}")
MAX_PARAM = 1024  # characters in one parameter


def from_graph(items: list[Any]) -> list[dict[str, Any]]:
    """The approved templates out of the Graph API's `data` list, sorted by name."""
    kept = []
    for item in items:
        if not isinstance(item, dict) or str(item.get("status", "")).upper() != "APPROVED":
            continue
        body = ""
        for component in item.get("components") or []:
            if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
                body = str(component.get("text") or "")
        name, language = str(item.get("name") or ""), str(item.get("language") or "")
        if not name or not language:
            continue
        kept.append(
            {
                "name": name,
                "language": language,
                "category": str(item.get("category") or "").lower(),
                "body": body,
                "params": len({int(n) for n in _PARAM.findall(body)}),
            }
        )
    return sorted(kept, key=lambda t: (t["name"], t["language"]))


def templates_of(settings: dict[str, Any]) -> list[dict[str, Any]]:
    found = settings.get("templates")
    return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else []


def find(settings: dict[str, Any], ref: str) -> dict[str, Any]:
    name, _, language = ref.strip().partition(":")
    matches = [
        t
        for t in templates_of(settings)
        if t.get("name") == name and (not language or t.get("language") == language)
    ]
    if not matches:
        known = ", ".join(sorted({str(t.get("name")) for t in templates_of(settings)}))
        raise InvalidRequest(
            f"no approved template {ref!r} on this channel"
            + (f" (known: {known})" if known else "; run `unibox whatsapp templates sync CH`")
        )
    if len(matches) > 1:
        languages = ", ".join(t["language"] for t in matches)
        raise InvalidRequest(f"template {name!r} exists in {languages}: write it as {name}:LANG")
    return matches[0]


def fill(settings: dict[str, Any], ref: str, params: list[str]) -> tuple[dict[str, Any], str]:
    """(the template, its body with `params` in place of {{1}}, {{2}} ...)."""
    template = find(settings, ref)
    wanted = int(template.get("params") or 0)
    if len(params) != wanted:
        raise InvalidRequest(
            f"template {template['name']!r} takes {wanted} parameter(s), got {len(params)} "
            "(give each with --param)"
        )
    for value in params:
        if not value.strip() or len(value) > MAX_PARAM or "\n" in value:
            raise InvalidRequest(
                f"a template parameter is one non-empty line of at most {MAX_PARAM} characters"
            )

    def put(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return params[n - 1] if 1 <= n <= len(params) else match.group(0)

    text = _PARAM.sub(put, str(template.get("body") or "")) or f"[template {template['name']}]"
    return template, text
