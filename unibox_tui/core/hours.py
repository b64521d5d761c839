"""An inbox's business hours: a time zone, opening spans per weekday, and holidays.

Stored as JSON on the inbox's routing row (core/routing.py):
`{"tz": "Europe/Lisbon", "week": {"mon": [["09:00", "17:00"]], ...}, "holidays": ["2026-12-25"]}`.
`{}` means always open. Spans are local wall-clock times in the inbox's zone, so a DST change
moves them with the clock: 09:00 in Lisbon is 09:00 in winter (UTC) and in summer (UTC+1).
A span ends before its end time ("09:00-17:00" is open at 16:59, closed at 17:00); "24:00"
ends at midnight. Pure functions, no database: the chat widget and routing both ask `open_at`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidRequest

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


@dataclass(frozen=True)
class Hours:
    tz: str = ""  # "" = no hours set: always open
    week: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    holidays: tuple[str, ...] = ()

    @property
    def always_open(self) -> bool:
        return not self.tz

    def open_at(self, now: datetime) -> bool:
        """Is the inbox open at `now` (an aware datetime)?"""
        if self.always_open:
            return True
        local = now.astimezone(ZoneInfo(self.tz))
        if local.date().isoformat() in self.holidays:
            return False
        clock = local.strftime("%H:%M")
        return any(start <= clock < end for start, end in self.week.get(DAYS[local.weekday()], ()))

    def to_json(self) -> dict[str, object]:
        if self.always_open:
            return {}
        return {
            "tz": self.tz,
            "week": {d: [list(s) for s in self.week[d]] for d in DAYS if d in self.week},
            "holidays": list(self.holidays),
        }

    def describe(self) -> str:
        """One line: "Europe/Lisbon: mon 09:00-17:00, tue ...; 1 holiday" or "always open"."""
        if self.always_open:
            return "always open"
        days = [
            f"{d} " + " ".join(f"{a}-{b}" for a, b in self.week[d]) for d in DAYS if d in self.week
        ]
        text = f"{self.tz}: {', '.join(days) if days else 'closed every day'}"
        if self.holidays:
            text += f"; holidays {', '.join(self.holidays)}"
        return text


def load(text: str | None) -> Hours:
    """The stored JSON as Hours (anything unreadable counts as always open)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return Hours()
    if not isinstance(data, dict) or not data.get("tz"):
        return Hours()
    week = {
        d: tuple((str(a), str(b)) for a, b in spans)
        for d, spans in (data.get("week") or {}).items()
        if d in DAYS
    }
    return Hours(str(data["tz"]), week, tuple(str(h) for h in data.get("holidays") or ()))


def make(tz: str, week: dict[str, list[str]], holidays: list[str]) -> Hours:
    """Checked Hours from what a person typed: `week` maps a day to spans like "09:00-17:00"
    (several spans a day allowed, e.g. a lunch break), `holidays` are YYYY-MM-DD dates.
    Raises InvalidRequest with one line naming the bad part."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"unknown time zone {tz!r}; use an IANA name such as Europe/Lisbon"
        ) from None
    parsed: dict[str, tuple[tuple[str, str], ...]] = {}
    for day, spans in week.items():
        if day not in DAYS:
            raise InvalidRequest(f"unknown day {day!r}; use one of {', '.join(DAYS)}")
        out = []
        for span in spans:
            start, _, end = span.partition("-")
            if not (_TIME.match(start) and _TIME.match(end)) or start >= end:
                raise InvalidRequest(
                    f"{day} {span!r} is not a span like 09:00-17:00 (start before end, 24-hour)"
                )
            out.append((start, end))
        if out:
            parsed[day] = tuple(sorted(out))
    days: list[str] = []
    for holiday in holidays:
        try:
            days.append(date.fromisoformat(holiday).isoformat())
        except ValueError:
            raise InvalidRequest(f"holiday {holiday!r} is not a date like 2026-12-25") from None
    return Hours(tz, parsed, tuple(sorted(set(days))))


def parse_week(text: str) -> dict[str, list[str]]:
    """A week typed on one line: "mon-fri 09:00-17:00; sat 10:00-13:00" (day ranges, several
    spans per part, parts separated by ';'). Spans are checked by `make`."""
    week: dict[str, list[str]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        days, *spans = part.split()
        first, _, last = days.lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise InvalidRequest(f"{days!r} is not a day or range like mon-fri")
        span_days = DAYS[DAYS.index(first) : DAYS.index(last or first) + 1]
        if not span_days or not spans:
            raise InvalidRequest(f"{part!r} needs days then spans, like mon-fri 09:00-17:00")
        for day in span_days:
            week.setdefault(day, []).extend(spans)
    return week


def week_text(h: Hours) -> str:
    """The inverse of parse_week, day by day: "mon 09:00-17:00; tue 09:00-17:00"."""
    return "; ".join(
        f"{d} " + " ".join(f"{a}-{b}" for a, b in h.week[d]) for d in DAYS if d in h.week
    )
