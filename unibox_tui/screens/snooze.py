"""Snooze times: the picker's presets and the custom-time parser, in the agent's local zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from rich.text import Text

from .pickers import Choice

CUSTOM = "custom"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DELTA = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MORNING = 9


def _at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def presets(now: datetime) -> list[tuple[str, datetime]]:
    """(label, when): in 1 hour, tomorrow 9:00, next Monday 9:00."""
    local = now.astimezone()
    monday = local + timedelta(days=(7 - local.weekday()) % 7 or 7)
    return [
        ("In 1 hour", now + timedelta(hours=1)),
        ("Tomorrow 9:00", _at(local + timedelta(days=1), MORNING)),
        ("Next Monday 9:00", _at(monday, MORNING)),
    ]


def choices(now: datetime) -> list[Choice[datetime | str]]:
    out: list[Choice[datetime | str]] = []
    for label, when in presets(now):
        text = Text(f"{label:<18}")
        text.append(when.astimezone().strftime("%a %d %b %H:%M"), style="dim")
        out.append(Choice(when, text, label))
    out.append(Choice(CUSTOM, Text("Custom…  (3h, 2d, fri, 14:30, 2026-12-01 09:00)"), "custom"))
    return out


def parse_when(text: str, now: datetime) -> datetime:
    """A custom snooze time: `90m`, `3h`, `2d`, `1w`, a weekday (`fri`: 9:00 that day),
    `14:30` (today, or tomorrow if past), `2026-12-01` (9:00) or `2026-12-01 14:30`.
    Raises ValueError with a line saying what is accepted."""
    value = " ".join(text.lower().split())
    local = now.astimezone()
    if m := _DELTA.match(value):
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if value[:3] in WEEKDAYS and value.isalpha():
        ahead = (WEEKDAYS.index(value[:3]) - local.weekday()) % 7 or 7
        return _at(local + timedelta(days=ahead), MORNING)
    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        hour, minute = map(int, value.split(":"))
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} is not a time of day")
        when = _at(local, hour, minute)
        return when if when > local else when + timedelta(days=1)
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            parsed = parsed.replace(hour=MORNING)
        return parsed.replace(tzinfo=local.tzinfo)
    raise ValueError(
        f"cannot read {text!r}; try 3h, 2d, 1w, fri, 14:30, 2026-12-01 or 2026-12-01 14:30"
    )


def check(now: datetime):  # type: ignore[no-untyped-def]
    """A PromptScreen check: an error line, or None when the text is a future time."""

    def run(text: str) -> str | None:
        try:
            when = parse_when(text, now)
        except ValueError as e:
            return str(e)
        return None if when > now else "that time is in the past; pick a later one"

    return run
