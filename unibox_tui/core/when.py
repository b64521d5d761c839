"""Parsing the times people type, for the CLI (`conversations snooze --until`) and the TUI's
snooze picker alike: `2h`, `30m`, `3d`, `1w`, `tomorrow`, `tomorrow 9:00`, `today 5pm`,
`monday`, `fri`, `next monday 14:30`, `14:30` (today, or tomorrow once past), `2026-12-01`
(9:00 that day), `2026-12-01T09:00`, `2026-12-01 09:00+02:00`.

Times without a zone are in `tz`, the agent's zone (config `[agent] timezone`; the machine's
local zone when None): an agent saying "tomorrow 9:00" means their morning. Days and weeks
keep the wall clock ("1d" at 10:00 is 10:00 tomorrow, 23 or 25 hours away across a
daylight-saving change); minutes and hours are elapsed time. Results are aware UTC datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .errors import InvalidRequest

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_REL = re.compile(r"^\+?(\d+)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_BARE_CLOCK = re.compile(r"^\d{1,2}(:\d{2}\s*(am|pm)?|\s*(am|pm))$")  # 14:30, 9am; not "9"
MORNING = time(9, 0)
HINT = "try 3h, 2d, tomorrow 9:00, monday, fri, 14:30, 2026-12-01 or 2026-12-01T09:00"


def zone(name: str | None) -> tzinfo | None:
    """The tzinfo of a zone name (`Europe/Berlin`), None (the local zone) for no name."""
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise InvalidRequest(f"unknown time zone {name!r}; use a name like Europe/Berlin") from e


def _clock(text: str) -> time:
    m = _CLOCK.match(text)
    if not m:
        raise ValueError(text)
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if m.group(3) and not 1 <= hour <= 12:
        raise ValueError(text)
    if m.group(3) == "pm" and hour < 12:
        hour += 12
    if m.group(3) == "am" and hour == 12:
        hour = 0
    return time(hour, minute)


def _day(word: str) -> int | None:
    """Monday=0 for a day name or its first three letters or more (`fri`, `tues`)."""
    if len(word) < 3:
        return None
    return next((i for i, day in enumerate(DAYS) if day.startswith(word)), None)


def parse_when(
    text: str, now: datetime, tz: tzinfo | None = None, *, past: bool = False
) -> datetime:
    """An absolute UTC time from what a person typed; InvalidRequest says what is accepted.

    `past` reads it as a time gone by (search's `after:` / `before:`): `3d` is three days
    ago, `monday` the last Monday, `yesterday` is accepted, and a day without a clock time
    starts at midnight rather than at 9:00."""
    raw = " ".join(text.lower().split())
    sign = -1 if past else 1
    morning = time(0, 0) if past else MORNING
    local_now = now.astimezone(tz) if tz else now.astimezone()

    def localize(naive: datetime) -> datetime:
        # The zone's rules for that day, not today's offset: "9:00" stays 9:00 across a
        # daylight-saving change. Without `tz`, astimezone() applies the machine's rules.
        return naive.replace(tzinfo=tz) if tz else naive.astimezone()

    def on(day: date, at: time) -> datetime:
        return localize(datetime.combine(day, at)).astimezone(UTC)

    try:
        if m := _REL.match(raw):
            n, unit = int(m.group(1)), m.group(2)[0]
            if unit in "mh":
                step = timedelta(minutes=1) if unit == "m" else timedelta(hours=1)
                return (now + sign * n * step).astimezone(UTC)
            days = sign * n * (7 if unit == "w" else 1)
            wall = local_now.replace(tzinfo=None) + timedelta(days=days)
            return localize(wall).astimezone(UTC)
        if _BARE_CLOCK.match(raw):
            when = on(local_now.date(), _clock(raw))
            if past:
                return (
                    when if when <= now else on(local_now.date() - timedelta(days=1), _clock(raw))
                )
            return when if when > now else on(local_now.date() + timedelta(days=1), _clock(raw))
        words = raw.split()
        if words and words[0] == "next":
            words = words[1:]
        named = ("today", "tomorrow", "yesterday") if past else ("today", "tomorrow")
        if words and (words[0] in named or _day(words[0]) is not None):
            day_word, rest = words[0], " ".join(words[1:])
            at = _clock(rest) if rest else morning
            if day_word == "today":
                date_ = local_now.date()
            elif day_word in ("tomorrow", "yesterday"):
                date_ = local_now.date() + timedelta(days=1 if day_word == "tomorrow" else -1)
            elif past:
                back = (local_now.weekday() - (_day(day_word) or 0)) % 7 or 7
                date_ = local_now.date() - timedelta(days=back)
            else:
                ahead = ((_day(day_word) or 0) - local_now.weekday()) % 7 or 7
                date_ = local_now.date() + timedelta(days=ahead)
            return on(date_, at)
        iso = text.strip().replace("Z", "+00:00")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            return on(datetime.fromisoformat(iso).date(), morning)  # a day alone: its morning
        parsed = datetime.fromisoformat(iso)
        if parsed.tzinfo is None:
            parsed = localize(parsed)
        return parsed.astimezone(UTC)
    except (ValueError, IndexError, OverflowError) as e:
        raise InvalidRequest(f"cannot read the time {text!r}; {HINT}") from e
