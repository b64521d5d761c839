"""Every report at scale (issue 14: <= 200 ms p95 at 100k conversations / 1M messages).

    .venv/bin/python benchmarks/reports_bench.py [--db /tmp/reports100k.db] [--runs 30]

Builds the 100k demo at --db first when the file is missing (a few minutes, once; an older
workspace is upgraded on open). Times each section of core/reports.py (and the whole report)
over the last 30 days (the default range) and over the demo's whole 180 days, for an admin
(every inbox) and for an agent who sees Support only, in UTC and in Europe/Berlin (a range
crossing a daylight-saving change), and first response counted in business hours
(mon-fri 09:00-17:00 Europe/Berlin) over both ranges. Prints one JSON document: p50/p95/max
wall time and the mean CPU time (process time: what the machine's load does not inflate) of
each, the worst of both, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import clock
from unibox_tui.core import queries as q
from unibox_tui.core import reports as r
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo


def measured(fn, runs: int) -> dict:  # type: ignore[no-untyped-def]
    """Wall timings of `fn`, and its mean CPU time over as many more calls."""
    out = timings(fn, runs=runs)
    started = time.process_time()
    for _ in range(runs):
        fn()
    out["cpu_ms_mean"] = round((time.process_time() - started) * 1000 / runs, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", default="/tmp/reports100k.db", help="demo workspace (built if missing)"
    )
    parser.add_argument("--conversations", type=int, default=100_000, help="when building it")
    parser.add_argument("--runs", type=int, default=30, help="timed calls per figure")
    args = parser.parse_args()
    if not Path(args.db).exists():
        print(f"building the demo at {args.db} ...", file=sys.stderr)
        build_demo(Path(args.db), conversations=args.conversations)
    with open_workspace(args.db) as ws:
        with ws.read() as conn:
            newest = conn.exec_driver_sql("SELECT max(created_at) FROM conversation").scalar()
            counts = conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM conversation), (SELECT count(*) FROM message)"
            ).one()
        today = clock.from_db(newest).date()  # type: ignore[union-attr]
        agents = {a.handle: a for a in q.agents(ws)}
        readers = {"admin": agents["ana"].id}
        support_only = next(
            a.id for a in agents.values() if not q.reader(ws, a.id).sees_all and a.active
        )
        readers["support_only_agent"] = support_only
        out: dict = {
            "conversations": counts[0],
            "messages": counts[1],
            "runs": args.runs,
            "target_p95_ms": 200,
            "cpu_count": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "cases": {},
        }
        worst = {"p95_ms": 0.0, "cpu_ms_mean": 0.0}
        hours = r.parse_hours("mon-fri 09:00-17:00", ZoneInfo("Europe/Berlin"))
        for reader, agent_id in readers.items():
            access = q.reader(ws, agent_id)
            for days in (30, 180):
                for tz_name in ("UTC", "Europe/Berlin"):
                    tz = UTC if tz_name == "UTC" else ZoneInfo(tz_name)
                    s = r.scope(
                        ws, access, start=today - timedelta(days=days - 1), end=today, tz=tz
                    )
                    case: dict = {}
                    for section in r.SECTIONS:

                        def run(section: str = section, s: r.Scope = s, access=access) -> None:  # type: ignore[no-untyped-def]
                            r.report(ws, access, s, sections=[section])

                        case[section] = measured(run, args.runs)
                    if tz_name == "UTC":

                        def business(s: r.Scope = s, access=access) -> None:  # type: ignore[no-untyped-def]
                            r.report(ws, access, s, sections=["first_response"], hours=hours)

                        case["first_response_business_hours"] = measured(business, args.runs)
                    for figures in case.values():
                        for key in worst:
                            worst[key] = max(worst[key], figures[key])
                    case["whole_report"] = timings(
                        lambda s=s, access=access: r.report(ws, access, s), runs=args.runs
                    )
                    out["cases"][f"{reader}/{days}d/{tz_name}"] = case
        out["worst_section_p95_ms"] = worst["p95_ms"]
        out["worst_section_cpu_ms_mean"] = worst["cpu_ms_mean"]
        out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
