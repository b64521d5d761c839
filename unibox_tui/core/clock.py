"""UTC time in one place: what "now" is, and how timestamps are stored.

Timestamps are stored as fixed-width UTC text (`2026-11-21 09:05:00.000000`) so that text
order is time order and raw SQL (bulk loads, queries) needs no conversion layer.
"""

from __future__ import annotations

from datetime import UTC, datetime

DB_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime: unibox stores UTC only")
    return dt.astimezone(UTC).strftime(DB_FORMAT)


def from_db(value: str | None) -> datetime | None:
    if value is None:
        return None
    # fromisoformat reads the stored form ~10x faster than strptime (hot in list rendering).
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    """The JSON form: ISO 8601 with a Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def age(dt: datetime | None, now: datetime) -> str:
    """Compact age for list rows: 3m, 5h, 2d, 7w, 1y."""
    if dt is None:
        return ""
    seconds = max(0, int((now - dt).total_seconds()))
    for unit, size in (("y", 31536000), ("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"
