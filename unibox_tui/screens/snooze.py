"""The snooze picker's choices, in the agent's zone. Times are read by core.when, the parser
the CLI's `conversations snooze --until` uses too: whatever one accepts, so does the other,
typed into the picker's filter or into its custom field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from rich.text import Text

from ..core.errors import InvalidRequest
from ..core.when import parse_when
from .pickers import Choice

CUSTOM = "custom"
PRESETS = (("In 1 hour", "1h"), ("Tomorrow 9:00", "tomorrow 9:00"), ("Next Monday 9:00", "monday"))
PAST = "that time is in the past; pick a later one"


def _shown(when: datetime, tz: tzinfo | None) -> str:
    return when.astimezone(tz).strftime("%a %d %b %H:%M")


def presets(now: datetime, tz: tzinfo | None = None) -> list[tuple[str, datetime]]:
    """(label, when): in 1 hour, tomorrow 9:00, next Monday 9:00."""
    return [(label, parse_when(typed, now, tz)) for label, typed in PRESETS]


def choices(now: datetime, tz: tzinfo | None = None) -> list[Choice[datetime | str]]:
    out: list[Choice[datetime | str]] = []
    for label, when in presets(now, tz):
        text = Text(f"{label:<18}")
        text.append(_shown(when, tz), style="dim")
        out.append(Choice(when, text, label))
    out.append(Choice(CUSTOM, Text("Custom…  (3h, 2d, fri, 14:30, 2026-12-01 09:00)"), "custom"))
    return out


def typed(now: datetime, tz: tzinfo | None = None) -> Callable[[str], Choice[datetime] | None]:
    """The picker's choice for a time typed into its filter (`3h`, `tomorrow 9:00`), if the
    text reads as one; a time in the past is shown, disabled."""

    def run(text: str) -> Choice[datetime] | None:
        try:
            when = parse_when(text, now, tz)
        except InvalidRequest:
            return None
        if when <= now:
            return Choice(when, Text(f"{_shown(when, tz)} is in the past", "dim"), disabled=True)
        label = Text("Until ", style="bold")
        label.append(_shown(when, tz))
        return Choice(when, label, text.lower())

    return run


def check(now: datetime, tz: tzinfo | None = None) -> Callable[[str], str | None]:
    """A PromptScreen check: an error line, or None when the text is a future time."""

    def run(text: str) -> str | None:
        try:
            when = parse_when(text, now, tz)
        except InvalidRequest as e:
            return str(e)
        return None if when > now else PAST

    return run
