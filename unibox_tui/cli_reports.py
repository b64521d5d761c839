"""`unibox report`: the team's figures (core/reports.py) as text, JSON or CSV."""

from __future__ import annotations

import csv
import sys
from datetime import date
from typing import Any

import click

from .cli_common import as_option, db_option, emit, guarded, open_ws
from .core.errors import InvalidRequest


def _day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{option} {value!r} is not a date; write it as 2026-11-02") from None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def _text(data: dict[str, Any]) -> None:
    out = click.echo
    out(f"Report {data['from'][:10]} .. {data['to'][:10]} (exclusive), {data['timezone']}")
    if "volume" in data:
        v = data["volume"]
        out(f"\nConversations: {v['totals']['opened']} opened, {v['totals']['closed']} closed")
        for c in v["per_channel"]:
            out(f"  {c['channel']:<10} {c['opened']:>7} opened {c['closed']:>7} closed")
    for name, title, top in (
        ("first_response", "First response", "overall"),
        ("time_to_close", "Time to close (per cycle)", "cycles"),
    ):
        if name not in data:
            continue
        f = data[name]
        t = f[top]
        extra = " (business hours)" if f.get("business_hours") else ""
        out(
            f"\n{title}{extra}: median {_duration(t['median_seconds'])}, "
            f"p90 {_duration(t['p90_seconds'])} over {t['count']}"
            + (f"; {f['unanswered']} unanswered" if "unanswered" in f else "")
        )
        for group in ("agent", "team", "channel"):
            for row in f.get(f"per_{group}", []):
                out(
                    f"  {group} {row[group]:<14} median {_duration(row['median_seconds']):>8}  "
                    f"p90 {_duration(row['p90_seconds']):>8}  ({row['count']})"
                )
    if "agents" in data:
        out("\nAgents: replies, conversations, open now")
        for a in data["agents"]:
            out(f"  @{a['agent']:<14} {a['replies']:>7} {a['conversations']:>7} {a['load']:>5}")
    if "busiest_hours" in data:
        b = data["busiest_hours"]
        out(f"\nBusiest hours (customer messages, {b['total']}): hours 00..23")
        for name, row in zip(b["weekdays"], b["grid"], strict=True):
            out(f"  {name} " + " ".join(f"{n:>4}" for n in row))
    if "delivery" in data:
        d = data["delivery"]
        states = ", ".join(f"{k} {v}" for k, v in d["states"].items()) or "none"
        out(f"\nReplies by delivery state: {states}")
        for r in d["failed_reasons"]:
            out(f"  failed {r['count']:>5}  {r['reason']}")
    if "bots" in data:
        b = data["bots"]
        out(
            f"\nBots: {b['started']} started, {b['completed']} completed, "
            f"{b['handoff']} handed off, {b['abandoned']} abandoned"
            + ("" if b["chatflows"] else " (no chatflow activity in this range)")
        )
        for f in b["chatflows"]:
            out(
                f"  {f['chatflow']}: {f['started']} started, {f['completed']} completed, "
                f"{f['handoff']} handed off, {f['abandoned']} abandoned"
            )
            for s in f["steps"]:
                out(f"    step {s['step']:<16} {s['reached']:>6}  {s['completion']}")


@click.command("report")
@click.option("--from", "start", metavar="DAY", help="First day (YYYY-MM-DD; default 30 days ago).")
@click.option("--to", "end", metavar="DAY", help="Last day, included (default today).")
@click.option("--inbox", help="Only this inbox (name or id).")
@click.option("--channel", metavar="KIND", help="Only this channel kind (email, chat, ...).")
@click.option("--agent", metavar="HANDLE", help="Only this agent's replies, responses, closes.")
@click.option("--team", metavar="NAME", help="Only the members of this team.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Days and hours in this zone (default UTC).")
@click.option(
    "--business-hours",
    metavar="HOURS",
    help="Count first response inside these hours only, e.g. 'mon-fri 09:00-17:00' (in --tz).",
)
@click.option(
    "--only",
    "sections",
    multiple=True,
    metavar="SECTION",
    help="Only these sections (volume, first_response, time_to_close, agents, busiest_hours, "
    "delivery, bots); repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see README).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: section,group,key,metric,value.")
@db_option
@as_option
@guarded
def report_cmd(
    start: str | None,
    end: str | None,
    inbox: str | None,
    channel: str | None,
    agent: str | None,
    team: str | None,
    tz_name: str | None,
    business_hours: str | None,
    sections: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    db: str | None,
    as_handle: str | None,
) -> None:
    """Team figures: volume, first response, time to close, agents, busiest hours,
    delivery and bots, over the inboxes you may see (README "Reports" defines them)."""
    from datetime import UTC

    from .cli import reader_of
    from .core import reports as r
    from .core.when import zone

    if as_json and as_csv:
        raise InvalidRequest("choose one of --json and --csv")
    tz = zone(tz_name) or UTC
    hours = r.parse_hours(business_hours, tz) if business_hours else None
    ws = open_ws(db, read_only=True)
    access = reader_of(ws, as_handle)
    s = r.scope(
        ws,
        access,
        start=_day(start, "--from"),
        end=_day(end, "--to"),
        tz=tz,
        inbox=inbox,
        channel=channel,
        agent=agent,
        team=team,
    )
    result = r.report(ws, access, s, sections=sections or r.SECTIONS, hours=hours)
    if as_json:
        emit(result.to_json())
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("section", "group", "key", "metric", "value"))
        for row in r.rows(result):
            writer.writerow(["" if v is None else v for v in row])
    else:
        _text(result.to_json())


def register(main: click.Group) -> None:
    from .cli_slack import slack_group

    main.add_command(report_cmd, "report")
    main.add_command(slack_group, "slack")
