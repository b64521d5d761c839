"""Reports (core/reports.py, `unibox report`) on a small workspace whose every figure is
worked out by hand below, plus access, time zones, business hours, bots and the CLI shapes.

The workspace (T0 is Monday 2 Nov 2026 09:00 UTC):
  C1 Support e-mail: Carla writes T0; ana replies +10 min (fails: "mailbox full"), bo
     replies +20; ana closes +60; ana reopens +120 and Carla writes again; bo closes +180.
  C2 Support chat:   a visitor writes +30; bo comments +32; bo replies +35; assigned to bo.
  C3 Support WhatsApp: writes T0 + 1 day; nobody answers; assigned to ana.
  C4 Sales e-mail:   writes +40; ana replies +100; cy closes +160.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import T0, Team, back_to, later
from tests.core.test_cli import unibox
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core import reports as r
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.commands._base import activity, conversation
from unibox_tui.core.db import Workspace

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

MONDAY = T0.date()


@pytest.fixture
def known(team: Team) -> Team:
    ws = team.ws
    c1 = team.start("Where is my order?", at=T0)
    r1 = cmd.reply(ws, c1, "Looking", actor="ana", now=later(10))
    cmd.reply(ws, c1, "Found it", actor="bo", now=later(20))
    cmd.close(ws, c1, actor="ana", now=later(60))
    cmd.reopen(ws, c1, actor="ana", now=later(120))
    again = team.start("Still not here", at=later(120), conversation_hint=c1)
    assert again == c1
    cmd.close(ws, c1, actor="bo", now=later(180))
    c2 = team.start("Hi from chat", channel=team.chat, kind="chat", who="visitor-1", at=later(30))
    cmd.comment(ws, c2, "@ana look", actor="bo", now=later(32))
    cmd.reply(ws, c2, "Hello!", actor="bo", now=later(35))
    cmd.assign(ws, c2, "bo", actor="bo", now=later(36))
    c3 = team.start(
        "Hola", channel=team.whatsapp, kind="whatsapp", who="+4915112345678", at=T0 + timedelta(1)
    )
    cmd.assign(ws, c3, "ana", actor="ana", now=T0 + timedelta(days=1, minutes=1))
    c4 = team.start("Quote?", channel=team.sales_email, who="dan@example.com", at=later(40))
    cmd.reply(ws, c4, "Here", actor="ana", now=later(100))
    cmd.close(ws, c4, actor="cy", now=later(160))
    [entry] = [e for e in outbox.due(ws, later(200)) if e.message_id == r1]
    outbox.mark_failed(ws, entry.entry_id, "mailbox full")
    team.c1, team.c2, team.c3, team.c4 = c1, c2, c3, c4  # type: ignore[attr-defined]
    return team


def whole(ws: Workspace, access=EVERYTHING, **kw) -> dict:  # type: ignore[no-untyped-def]
    s = r.scope(ws, access, start=MONDAY, end=MONDAY + timedelta(days=6), **kw)
    return r.report(ws, access, s).to_json()


def by(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def test_every_figure_matches_the_hand_count(known: Team) -> None:
    data = whole(known.ws)
    v = data["volume"]
    assert v["totals"] == {"opened": 4, "closed": 3}  # C1 closed twice, C4 once
    days = by(v["per_day"], "day")
    assert len(days) == 7
    assert days["2026-11-02"] == {"day": "2026-11-02", "opened": 3, "closed": 3}
    assert days["2026-11-03"] == {"day": "2026-11-03", "opened": 1, "closed": 0}
    assert by(v["per_channel"], "channel") == {
        "chat": {"channel": "chat", "opened": 1, "closed": 0},
        "email": {"channel": "email", "opened": 2, "closed": 3},
        "whatsapp": {"channel": "whatsapp", "opened": 1, "closed": 0},
    }

    # First responses: C1 600 s (ana), C2 300 s (bo; the comment is no reply), C4 3600 s
    # (ana); C3 unanswered. Sorted 300, 600, 3600: median 600, p90 rank ceil(2.7) = 3.
    f = data["first_response"]
    assert f["overall"] == {"count": 3, "median_seconds": 600, "p90_seconds": 3600}
    assert f["unanswered"] == 1
    assert by(f["per_agent"], "agent") == {
        "ana": {"agent": "ana", "count": 2, "median_seconds": 2100, "p90_seconds": 3600},
        "bo": {"agent": "bo", "count": 1, "median_seconds": 300, "p90_seconds": 300},
    }
    assert by(f["per_team"], "team") == {
        "Tier 1": {"team": "Tier 1", "count": 3, "median_seconds": 600, "p90_seconds": 3600}
    }
    assert by(f["per_channel"], "channel") == {
        "chat": {"channel": "chat", "count": 1, "median_seconds": 300, "p90_seconds": 300},
        "email": {"channel": "email", "count": 2, "median_seconds": 2100, "p90_seconds": 3600},
    }

    # Cycles: C1 0->60 min (ana), C1 120->180 min (bo, after the customer reopened it),
    # C4 40->160 min (cy).
    t = data["time_to_close"]
    assert t["cycles"] == {"count": 3, "median_seconds": 3600, "p90_seconds": 7200}
    assert {a["agent"]: a["median_seconds"] for a in t["per_agent"]} == {
        "ana": 3600,
        "bo": 3600,
        "cy": 7200,
    }

    assert by(data["agents"], "agent") == {
        "ana": {"agent": "ana", "replies": 2, "conversations": 2, "load": 1},  # C3 open
        "bo": {"agent": "bo", "replies": 2, "conversations": 2, "load": 1},  # C2 open
    }

    # Customer messages: Mon 09:00, 09:30, 09:40, 11:00; Tue 09:00 (UTC).
    grid = data["busiest_hours"]["grid"]
    assert grid[0][9] == 3 and grid[0][11] == 1 and grid[1][9] == 1
    assert data["busiest_hours"]["total"] == 5

    assert data["delivery"]["states"] == {"failed": 1, "queued": 3}
    assert data["delivery"]["failed_reasons"] == [{"reason": "mailbox full", "count": 1}]
    # No chatflow wrote anything: zeros.
    assert data["bots"] == {
        "started": 0,
        "completed": 0,
        "handoff": 0,
        "abandoned": 0,
        "chatflows": [],
    }


def test_an_agent_sees_figures_only_over_inboxes_they_may_see(known: Team) -> None:
    bo = q.reader(known.ws, known.bo)  # Support only: Sales lists ana and the Sales team
    data = whole(known.ws, bo)
    assert data["volume"]["totals"] == {"opened": 3, "closed": 2}
    assert data["first_response"]["overall"]["count"] == 2  # C4 (Sales) left out
    assert data["time_to_close"]["cycles"]["count"] == 2
    assert by(data["agents"], "agent")["ana"]["replies"] == 1
    assert data["busiest_hours"]["total"] == 4
    with pytest.raises(Exception, match="not found or no access"):
        r.scope(known.ws, bo, inbox="Sales")


def test_filters_by_inbox_channel_agent_and_team(known: Team) -> None:
    ws = known.ws
    assert whole(ws, inbox="Sales")["volume"]["totals"] == {"opened": 1, "closed": 1}
    chat = whole(ws, channel="chat")
    assert chat["first_response"]["overall"]["count"] == 1
    ana = whole(ws, agent="ana")
    assert ana["first_response"]["overall"] == {
        "count": 2,
        "median_seconds": 2100,
        "p90_seconds": 3600,
    }
    assert [a["agent"] for a in ana["agents"]] == ["ana"]
    assert ana["time_to_close"]["cycles"]["count"] == 1  # the close ana made
    sales_team = whole(ws, team="Sales team")  # cy: no replies, one close
    assert sales_team["first_response"]["overall"]["count"] == 0
    assert sales_team["time_to_close"]["cycles"]["median_seconds"] == 7200
    with pytest.raises(Exception, match="unknown channel"):
        r.scope(ws, EVERYTHING, channel="fax")


def test_a_customer_writing_to_a_closed_conversation_starts_a_new_cycle(team: Team) -> None:
    ws = team.ws
    c = team.start("Hello", at=T0)
    cmd.close(ws, c, actor="ana", now=later(5))
    before = datetime.now(UTC).replace(microsecond=0)
    assert team.start("Me again", at=later(50), conversation_hint=c) == c  # reopens it
    cmd.close(ws, c, actor="bo", now=before + timedelta(hours=2))
    with ws.read() as conn:
        cycles = conn.exec_driver_sql(
            "SELECT opened_at, closed_at FROM report_cycle ORDER BY closed_at"
        ).all()
    first, second = cycles
    assert first[1] - first[0] == 300
    # The second cycle began when the reopening message was stored (now), not at T0.
    assert second[0] >= before.timestamp() and second[1] - second[0] <= 7200


def test_days_and_hours_follow_the_time_zone(known: Team) -> None:
    # Auckland is UTC+13 in November: Mon 09:00 UTC is Mon 22:00 there, 11:00 UTC is
    # Tue 00:00; the closes at 10:00, 11:40 and 12:00 UTC fall on Mon, Tue, Tue.
    data = whole(known.ws, tz=ZoneInfo("Pacific/Auckland"))
    grid = data["busiest_hours"]["grid"]
    assert grid[0][22] == 3 and grid[1][0] == 1 and grid[1][22] == 1
    days = by(data["volume"]["per_day"], "day")
    assert days["2026-11-02"]["closed"] == 1 and days["2026-11-03"]["closed"] == 2
    assert days["2026-11-02"]["opened"] == 3 and days["2026-11-03"]["opened"] == 1
    # The range starts at 11:00 UTC: totals sum whole UTC days from the daily roll-ups and
    # the hours at either end from the hourly counters, and miss nothing.
    utc = whole(known.ws)
    for section in ("agents", "delivery", "first_response", "time_to_close"):
        assert data[section] == utc[section]
    assert data["volume"]["per_channel"] == utc["volume"]["per_channel"]


def test_a_day_with_a_daylight_saving_change_is_cut_at_local_midnight(ws: Workspace) -> None:
    # Berlin leaves summer time on Sun 25 Oct 2026 at 03:00 (01:00 UTC): Saturday 23:30
    # local is 21:30 UTC, Sunday 23:30 local is 22:30 UTC.
    cmd.create_agent(ws, "Ana", "ana")
    cmd.create_inbox(ws, "Support")
    ch = cmd.add_channel(ws, "Support", "email", "mail")
    for at in (
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),
    ):
        cmd.ingest(ws, cmd.Incoming(ch, "email", f"x{at.day}@example.com", "X", "hi", at))
    berlin = ZoneInfo("Europe/Berlin")
    s = r.scope(ws, EVERYTHING, start=date(2026, 10, 24), end=date(2026, 10, 25), tz=berlin)
    data = r.report(ws, EVERYTHING, s).to_json()
    assert [(d["day"], d["opened"]) for d in data["volume"]["per_day"]] == [
        ("2026-10-24", 1),
        ("2026-10-25", 1),
    ]
    grid = data["busiest_hours"]["grid"]
    assert grid[5][23] == 1 and grid[6][23] == 1  # Saturday and Sunday, 23:00 local


def test_first_response_in_business_hours_only(known: Team) -> None:
    # Open from 09:15: C1's 09:00 -> 09:10 counts 0 s, C2 09:30 -> 09:35 300 s, C4 09:40
    # -> 10:40 3600 s.
    hours = r.WeeklyHours(UTC, {d: (time(9, 15), time(17)) for d in range(5)})
    s = r.scope(known.ws, EVERYTHING, start=MONDAY, end=MONDAY)
    f = r.report(known.ws, EVERYTHING, s, sections=["first_response"], hours=hours).figures
    assert f["first_response"]["business_hours"] is True
    assert f["first_response"]["overall"] == {
        "count": 3,
        "median_seconds": 300,
        "p90_seconds": 3600,
    }


def test_business_hours_skip_nights_weekends_holidays_and_follow_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    hours = r.parse_hours("mon-fri 09:00-17:00", berlin)
    friday = datetime(2026, 10, 23, 16, 0, tzinfo=berlin)
    monday = datetime(2026, 10, 26, 10, 0, tzinfo=berlin)  # summer time ended in between
    assert hours(friday, monday) == 2 * 3600
    off = r.WeeklyHours(berlin, hours.days, frozenset({date(2026, 10, 26)}))
    assert off(friday, monday) == 3600
    with pytest.raises(Exception, match="not understood"):
        r.parse_hours("weekdays", berlin)


def business_spans(team: Team, spans: list[tuple[datetime, datetime]], agent: str = "ana") -> None:
    """One conversation per (first customer message, first reply), each from its own
    customer, answered by `agent`."""
    for i, (asked, answered) in enumerate(spans):
        c = team.start("Hi", who=f"c{i}@example.com", subject=f"Question {i}", at=asked)
        cmd.reply(team.ws, c, "Hello", actor=agent, now=answered)


def business_seconds(team: Team, hours: r.WeeklyHours, first: date, last: date) -> list[int]:
    """Every first response of the report over [first, last] in business seconds, sorted
    (the groups' own strings, merged: the report's figures are order statistics of them)."""
    s = r.scope(team.ws, EVERYTHING, start=first, end=last)
    where, params = r._where(EVERYTHING, s, "r", agent_col="first_reply_agent_id")
    with team.ws.read() as conn:
        groups = r._business_durations(conn, s, hours, where, params)
    return sorted(int(v) for text in groups.values() for v in text.split(","))


BERLIN = ZoneInfo("Europe/Berlin")


def test_business_first_response_across_dst_holidays_and_weekends(team: Team) -> None:
    """Worked out by hand, mon-fri 09:00-17:00 in Berlin (summer time ended on Sunday 25 Oct
    2026 at 03:00 and began on Sunday 29 Mar 2026 at 02:00); the report's figures are these."""
    at = lambda *a: datetime(*a, tzinfo=BERLIN)  # noqa: E731
    business_spans(
        team,
        [
            (at(2026, 10, 23, 16), at(2026, 10, 26, 10)),  # Fri 1 h + Mon 1 h across the change
            (at(2026, 3, 27, 16, 30), at(2026, 3, 30, 9, 30)),  # Fri 30 min + Mon 30 min
            (at(2026, 10, 24, 10), at(2026, 10, 25, 18)),  # Saturday to Sunday: 0
            (at(2026, 10, 27, 7), at(2026, 10, 27, 8, 30)),  # before opening: 0
            (at(2026, 10, 27, 16, 59, 30), at(2026, 10, 28, 9, 0, 30)),  # 30 s + 30 s
            (at(2026, 11, 2, 9), at(2026, 11, 9, 9)),  # a whole week: 5 x 8 h
            (at(2026, 10, 28, 12), at(2026, 10, 28, 12)),  # replied in the same second: 0
        ],
    )
    hours = r.parse_hours("mon-fri 09:00-17:00", BERLIN)
    first, last = date(2026, 3, 1), date(2026, 11, 30)
    assert business_seconds(team, hours, first, last) == [0, 0, 0, 60, 3600, 7200, 144000]
    # Monday 26 October a holiday: the first span keeps Friday's hour only.
    holiday = r.WeeklyHours(BERLIN, hours.days, frozenset({date(2026, 10, 26)}))
    assert business_seconds(team, holiday, first, last) == [0, 0, 0, 60, 3600, 3600, 144000]
    s = r.scope(team.ws, EVERYTHING, start=first, end=last)
    f = r.report(team.ws, EVERYTHING, s, sections=["first_response"], hours=holiday).figures
    # Sorted 0, 0, 0, 60, 3600, 3600, 144000: median 60, p90 rank ceil(6.3) = 7.
    assert f["first_response"]["overall"] == {
        "count": 7,
        "median_seconds": 60,
        "p90_seconds": 144000,
    }


def test_business_hours_count_the_real_length_of_a_day_the_clocks_change_in(team: Team) -> None:
    # Open 00:00-23:59 every day: Sunday 25 October 2026 in Berlin has 25 hours, so its
    # window lasts 24 h 59 min; Sunday 29 March, 23 hours, 22 h 59 min.
    hours = r.parse_hours("mon-sun 00:00-23:59", BERLIN)
    business_spans(
        team,
        [
            (datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 25, 23, 59, tzinfo=BERLIN)),
            (datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 29, 23, 59, tzinfo=BERLIN)),
        ],
    )
    got = business_seconds(team, hours, date(2026, 3, 1), date(2026, 10, 31))
    assert got == [22 * 3600 + 59 * 60, 24 * 3600 + 59 * 60]


def test_business_first_response_of_a_reply_long_after_the_range(team: Team) -> None:
    # Asked on the range's last day, answered three months later: past the month the
    # calendar first covers, so the report builds it again over the rows' real bounds.
    asked = datetime(2026, 1, 30, 16, tzinfo=BERLIN)  # a Friday
    business_spans(team, [(asked, datetime(2026, 5, 4, 10, tzinfo=BERLIN))])
    hours = r.parse_hours("mon-fri 09:00-17:00", BERLIN)
    expected = round(hours(asked, datetime(2026, 5, 4, 10, tzinfo=BERLIN)))
    assert expected == (1 + 8 * 65 + 1) * 3600  # Fri 1 h, 13 weeks of 5 days, Mon 1 h
    assert business_seconds(team, hours, date(2026, 1, 1), date(2026, 1, 30)) == [expected]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Australia/Lord_Howe", "America/Santiago"])
def test_business_seconds_in_sql_equal_the_definition(team: Team, zone: str) -> None:
    """The report's SQL (a per-day calendar) gives, for every conversation, exactly what
    WeeklyHours says, over 300 random spans of up to three weeks in a year: zones whose
    clocks change by half an hour (Lord Howe) or at midnight (Santiago), holidays, windows
    at midnight, days closed."""
    rng = random.Random(14)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pairs = []
    for _ in range(300):
        asked = start + timedelta(seconds=rng.randrange(330 * 86400))
        # Half answered within three hours, half within three weeks.
        took = rng.randrange(3 * 3600 if rng.random() < 0.5 else 21 * 86400)
        pairs.append((asked, asked + timedelta(seconds=took)))
    business_spans(team, pairs)
    tz = ZoneInfo(zone)
    # Windows that open at midnight or close just before it: an instant put on the wrong
    # local day (a wrong UTC offset) lands in the wrong window.
    week = {
        0: (time(0), time(8)),
        1: (time(9, 30), time(17)),
        2: (time(0), time(23, 59)),
        3: (time(22), time(23, 59)),
        4: (time(0), time(0, 30)),
        5: (time(12), time(13)),
    }
    for holidays in (
        frozenset(),
        frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(40)),
    ):
        hours = r.WeeklyHours(tz, week, holidays)
        expected = sorted(round(hours(a, b)) for a, b in pairs)
        assert business_seconds(team, hours, date(2025, 12, 31), date(2026, 12, 31)) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10**7), max_size=30), min_size=1, max_size=6))
def test_median_and_p90_of_sorted_runs_equal_those_of_their_union(runs: list[list[int]]) -> None:
    """The reports take order statistics of a union of sorted groups (per agent and
    channel) without merging them; they must equal the plain definition."""
    values = sorted(v for run in runs for v in run)
    expected: dict = {"count": len(values), "median_seconds": None, "p90_seconds": None}
    if values:
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        expected["median_seconds"] = int(median) if float(median).is_integer() else median
        expected["p90_seconds"] = values[max(0, math.ceil(0.9 * len(values)) - 1)]
    assert r.runs_summary([sorted(run) for run in runs]) == expected


def test_bot_events_are_counted_per_chatflow_and_step(known: Team) -> None:
    ws = known.ws
    events = [
        ("bot_started", None),
        ("bot_step", "ask-email"),
        ("bot_step", "ask-order"),
        ("bot_completed", None),
        ("bot_started", None),
        ("bot_step", "ask-email"),
        ("bot_handoff", None),
    ]
    with ws.write(later(50)) as tx:
        conv = conversation(tx, known.c2)  # type: ignore[attr-defined]
        for event, step in events:
            details = {"chatflow": "welcome", **({"step": step} if step else {})}
            activity(tx, conv, event, None, event=event, details=details)
    bots = whole(ws)["bots"]
    assert (bots["started"], bots["completed"], bots["handoff"]) == (2, 1, 1)
    [flow] = bots["chatflows"]
    assert flow["chatflow"] == "welcome"
    assert (flow["started"], flow["completed"], flow["handoff"], flow["abandoned"]) == (2, 1, 1, 0)
    assert flow["completion"] == 0.5
    assert flow["steps"] == [
        {"step": "ask-email", "reached": 2, "completion": 1.0},
        {"step": "ask-order", "reached": 1, "completion": 0.5},
    ]


def downgrade_and_upgrade(target: Path | str) -> None:
    """Back to 0016 (activity lines as 0016 wrote them: what happened in their text only),
    then up again: migration 0017 fills the report tables from what is stored."""
    back_to(target, "0016", "UPDATE message SET meta = '{}' WHERE kind = 'activity'")


def test_a_workspace_written_before_the_reports_is_counted_from_its_log(
    known: Team, ws_target: Path | str
) -> None:
    """The migration's fill gives the same figures as the triggers kept."""
    from unibox_tui.core.db import open_workspace

    expected = whole(known.ws)
    known.ws.close()
    downgrade_and_upgrade(ws_target)
    with open_workspace(ws_target) as ws:
        assert whole(ws) == expected


def test_the_demo_counts_the_same_through_triggers_and_through_the_fill(tmp_path: Path) -> None:
    from unibox_tui.core.db import open_workspace
    from unibox_tui.core.demo import build_demo

    path = tmp_path / "demo.db"
    build_demo(path, conversations=300, seed=5, now=T0)
    with open_workspace(path) as ws:
        access = EVERYTHING
        s = r.scope(ws, access, start=MONDAY - timedelta(days=200), end=MONDAY)
        expected = r.report(ws, access, s).to_json()
    assert expected["volume"]["totals"]["opened"] == 300
    assert expected["agents"] and expected["first_response"]["overall"]["count"] > 100
    downgrade_and_upgrade(path)
    with open_workspace(path) as ws:
        assert r.report(ws, access, s).to_json() == expected


def test_cli_json_csv_and_text(known: Team) -> None:
    db = str(known.ws.path)
    args = ("report", "--db", db, "--as", "ana", "--from", "2026-11-02", "--to", "2026-11-08")
    out = unibox(*args, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["from"] == "2026-11-02T00:00:00+00:00" and data["to"] == "2026-11-09T00:00:00+00:00"
    assert set(data) == {"from", "to", "timezone", *r.SECTIONS}
    assert data["first_response"]["overall"]["median_seconds"] == 600

    out = unibox(*args, "--csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["section", "group", "key", "metric", "value"]
    assert all(len(row) == 5 for row in rows)
    assert ["first_response", "agent", "ana", "median_seconds", "2100"] in rows
    assert ["volume", "day", "2026-11-02", "opened", "3"] in rows
    assert ["delivery", "failed_reason", "mailbox full", "messages", "1"] in rows
    assert ["busiest_hours", "Mon", "09", "messages", "3"] in rows

    out = unibox(*args)
    assert out.returncode == 0, out.stderr
    assert "First response: median 10m 00s, p90 1h 00m over 3; 1 unanswered" in out.stdout
    assert "Bots: 0 started, 0 completed, 0 handed off, 0 abandoned (no chatflow" in out.stdout
    assert ["bots", "all", "", "started", "0"] in rows

    as_bo = unibox("report", "--db", db, "--as", "bo", "--json", "--from", "2026-11-02")
    assert json.loads(as_bo.stdout)["volume"]["totals"]["opened"] == 3

    for bad, message in (
        (("--from", "yesterday"), "is not a date"),
        (("--from", "2026-11-09", "--to", "2026-11-02"), "is after"),
        (("--inbox", "Nope"), "no inbox"),
        (("--tz", "Mars/Olympus"), "unknown time zone"),
        (("--business-hours", "always"), "not understood"),
        (("--json", "--csv"), "choose one"),
    ):
        out = unibox("report", "--db", db, "--as", "ana", *bad)
        assert out.returncode == 1 and out.stderr.startswith("unibox: error: "), out.stderr
        assert message in out.stderr and "Traceback" not in out.stderr


def test_an_earlier_customer_message_synced_after_the_reply_moves_the_first_response(
    team: Team,
) -> None:
    """Mail synced out of order: the customer's earlier message is stored after the first
    reply. The conversation's first customer message moves earlier, and its first response
    must be measured from there (it stayed at the old figure)."""
    ws = team.ws
    c = team.start("Second try: hello?", at=later(60))
    cmd.reply(ws, c, "Here to help", actor="ana", now=later(70))  # 10 min after that one
    assert team.start("First try", at=later(0), conversation_hint=c) == c  # an hour earlier
    with ws.read() as conn:
        first_in, reply_at, first_response = conn.exec_driver_sql(
            "SELECT first_in_at, first_reply_at, first_response_s FROM report_conversation"
        ).one()
    assert first_in == int(later(0).timestamp()) and reply_at == int(later(70).timestamp())
    assert first_response == 70 * 60
