"""core.when: the one parser of typed times, for `conversations snooze --until` and the TUI's
snooze picker; wall-clock times in the agent's zone, correct across daylight-saving changes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from unibox_tui.config import load_config
from unibox_tui.core.errors import ConfigError, InvalidRequest
from unibox_tui.core.when import parse_when, zone

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
# Berlin's clocks go forward in the night to Sunday 29 March 2026 (CET +1 -> CEST +2) and
# back in the night to Sunday 25 October 2026.
BEFORE_SPRING = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Saturday 13:00 CET
BEFORE_AUTUMN = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # Saturday 14:00 CEST


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # What the CLI has always read.
        ("3h", NOW + timedelta(hours=3)),
        ("+2h", NOW + timedelta(hours=2)),
        ("30m", NOW + timedelta(minutes=30)),
        ("90 minutes", NOW + timedelta(minutes=90)),
        ("2d", NOW + timedelta(days=2)),
        ("1w", NOW + timedelta(weeks=1)),
        ("tomorrow", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
        ("tomorrow 9:00", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
        ("Tomorrow  5pm", datetime(2026, 3, 3, 17, 0, tzinfo=UTC)),
        ("today 12am", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
        ("monday", datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),  # next Monday, not today
        ("next friday 14:30", datetime(2026, 3, 6, 14, 30, tzinfo=UTC)),
        ("2026-12-01T09:00", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01 09:00+02:00", datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
        # What the picker read and the CLI did not.
        ("fri", datetime(2026, 3, 6, 9, 0, tzinfo=UTC)),
        ("mon", datetime(2026, 3, 9, 9, 0, tzinfo=UTC)),
        ("tues 8am", datetime(2026, 3, 3, 8, 0, tzinfo=UTC)),
        ("14:30", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("08:00", datetime(2026, 3, 3, 8, 0, tzinfo=UTC)),  # past today: tomorrow
        ("9pm", datetime(2026, 3, 2, 21, 0, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),  # a day alone: its morning
        ("2026-12-01 14:30", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_every_form(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, UTC_ZONE) == expected


@pytest.mark.parametrize("text", ["soon", "25:00", "13pm", "3x", "", "9", "fr", "tomorrow 25:00"])
def test_refuses_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"cannot read the time .*tomorrow 9:00"):
        parse_when(text, NOW, UTC_ZONE)


def in_berlin(text: str, now: datetime) -> datetime:
    return parse_when(text, now, BERLIN).astimezone(BERLIN)


def test_wall_clock_times_across_the_spring_change() -> None:
    now = BEFORE_SPRING
    for text, day in (("tomorrow 9:00", 29), ("sun", 29), ("monday", 30), ("2026-03-29", 29)):
        local = in_berlin(text, now)
        assert (local.day, local.hour, local.minute, local.utcoffset()) == (
            day,
            9,
            0,
            timedelta(hours=2),
        ), text
    # A day keeps the wall clock (13:00 again, 23 hours later); hours are elapsed time.
    assert in_berlin("1d", now).hour == 13
    assert parse_when("1d", now, BERLIN) - now == timedelta(hours=23)
    assert parse_when("24h", now, BERLIN) - now == timedelta(hours=24)
    assert in_berlin("24h", now).hour == 14


def test_wall_clock_times_across_the_autumn_change() -> None:
    now = BEFORE_AUTUMN
    for text, day in (("tomorrow 9:00", 25), ("monday", 26), ("next sunday 9am", 25)):
        local = in_berlin(text, now)
        assert (local.day, local.hour, local.minute, local.utcoffset()) == (
            day,
            9,
            0,
            timedelta(hours=1),
        ), text
    assert parse_when("1w", now, BERLIN) - now == timedelta(days=7, hours=1)
    assert in_berlin("1w", now).hour == 14
    # "14:30" on Saturday at 14:00 is today, in summer time still.
    assert parse_when("14:30", now, BERLIN) == datetime(2026, 10, 24, 12, 30, tzinfo=UTC)
    assert in_berlin("2026-12-01T09:00", now).hour == 9


@pytest.fixture
def berlin_is_local() -> Iterator[None]:
    """The machine's own zone is Berlin (no zone configured: the local rules apply)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.usefixtures("berlin_is_local")
def test_without_a_zone_the_local_rules_apply_across_a_change() -> None:
    for now, offset in ((BEFORE_SPRING, 2), (BEFORE_AUTUMN, 1)):
        local = parse_when("tomorrow 9:00", now).astimezone(BERLIN)
        assert (local.hour, local.utcoffset()) == (9, timedelta(hours=offset))
    assert parse_when("1d", BEFORE_SPRING) - BEFORE_SPRING == timedelta(hours=23)


def test_the_agents_zone_comes_from_the_config(isolated_home) -> None:  # type: ignore[no-untyped-def]
    path = isolated_home / "config.toml"
    path.write_text('[agent]\nhandle = "ana"\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    assert load_config().tz == BERLIN
    path.write_text('[agent]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agent\.timezone is a zone name"):
        load_config()
    assert zone(None) is None
    with pytest.raises(InvalidRequest, match="unknown time zone"):
        zone("Not/AZone")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Search's before:/after: read times gone by (past=True); NOW is Monday 10:00 UTC.
        ("3d", datetime(2026, 2, 27, 10, 0, tzinfo=UTC)),
        ("2h", datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        ("1w", datetime(2026, 2, 23, 10, 0, tzinfo=UTC)),
        ("yesterday", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
        ("today", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
        ("friday", datetime(2026, 2, 27, 0, 0, tzinfo=UTC)),
        ("monday", datetime(2026, 2, 23, 0, 0, tzinfo=UTC)),  # the last one, not today
        ("2026-02-01", datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),  # a day starts at midnight
        ("14:30", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),  # not yet today: yesterday's
        ("9:00", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
    ],
)
def test_past_times_for_search(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, UTC_ZONE, past=True) == expected


def test_yesterday_is_only_a_past_time() -> None:
    with pytest.raises(InvalidRequest):
        parse_when("yesterday", NOW, UTC_ZONE)
