"""Parsing the times people type: `2h`, `30m`, `3d`, `tomorrow`, `tomorrow 9:00`, `monday`,
`next monday 14:30`, `2026-12-01`, `2026-12-01T09:00`, `2026-12-01 09:00+02:00`.

Times without a zone are in `tz` (the machine's local zone by default): an agent saying
"tomorrow 9:00" means their morning. Results are aware UTC datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo

from .errors import InvalidRequest

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_REL = re.compile(r"^\+?(\d+)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
MORNING = time(9, 0)


def _clock(text: str) -> time:
    m = _CLOCK.match(text)
    if not m:
        raise ValueError(text)
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if m.group(3) == "pm" and hour < 12:
        hour += 12
    if m.group(3) == "am" and hour == 12:
        hour = 0
    return time(hour, minute)


def parse_when(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """An absolute UTC time from what a person typed; InvalidRequest says what is accepted."""
    raw = text.strip().lower()
    local_now = now.astimezone(tz) if tz else now.astimezone()

    def localize(naive: datetime) -> datetime:
        # The zone's rules for that day, not today's offset: "9:00" stays 9:00 across a
        # daylight-saving change. Without `tz`, astimezone() applies the machine's rules.
        return naive.replace(tzinfo=tz) if tz else naive.astimezone()

    try:
        m = _REL.match(raw)
        if m:
            n, unit = int(m.group(1)), m.group(2)[0]
            step = {
                "m": timedelta(minutes=1),
                "h": timedelta(hours=1),
                "d": timedelta(days=1),
                "w": timedelta(weeks=1),
            }[unit]
            return (now + n * step).astimezone(UTC)
        words = raw.split()
        if (words and words[0] in ("tomorrow", "today", "next")) or (words and words[0] in DAYS):
            if words[0] == "next":
                words = words[1:]
            day_word, rest = words[0], " ".join(words[1:])
            at = _clock(rest) if rest else MORNING
            if day_word == "today":
                date = local_now.date()
            elif day_word == "tomorrow":
                date = local_now.date() + timedelta(days=1)
            elif day_word in DAYS:
                ahead = (DAYS.index(day_word) - local_now.weekday()) % 7 or 7
                date = local_now.date() + timedelta(days=ahead)
            else:
                raise ValueError(raw)
            return localize(datetime.combine(date, at)).astimezone(UTC)
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = localize(parsed)
        return parsed.astimezone(UTC)
    except (ValueError, IndexError, OverflowError) as e:
        raise InvalidRequest(
            f"cannot read the time {text!r}; try 2h, 3d, tomorrow 9:00, monday, or 2026-12-01T09:00"
        ) from e
