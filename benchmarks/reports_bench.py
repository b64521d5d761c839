"""Every report at scale (issue 14: <= 200 ms p95 at 100k conversations / 1M messages).

    .venv/bin/python benchmarks/reports_bench.py --db /tmp/demo100k.db [--runs 30]

Times each section of core/reports.py (and the whole report) over the last 30 days (the
default range) and over the demo's whole 180 days, for an admin (every inbox) and for an
agent who sees Support only, in UTC and in Europe/Berlin (a range crossing a daylight-saving
change), plus first response counted in business hours. Prints one JSON document: p50/p95
(wall) and the mean CPU time of each section, and the machine's load average before/after.
Build the demo first (a workspace built before migration 0017 is upgraded on open):
`.venv/bin/unibox demo --conversations 100000 --generate-only --db /tmp/demo100k.db`.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
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
        worst = 0.0
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

                        case[section] = timings(run, runs=args.runs)
                        # CPU time varies less than wall time on a shared machine.
                        started = time.process_time()
                        for _ in range(args.runs):
                            run()
                        cpu = (time.process_time() - started) * 1000 / args.runs
                        case[section]["cpu_ms_mean"] = round(cpu, 3)
                        worst = max(worst, case[section]["p95_ms"])
                    case["whole_report"] = timings(
                        lambda s=s, access=access: r.report(ws, access, s), runs=args.runs
                    )
                    out["cases"][f"{reader}/{days}d/{tz_name}"] = case
            hours = r.parse_hours("mon-fri 09:00-17:00", ZoneInfo("Europe/Berlin"))
            s = r.scope(ws, access, start=today - timedelta(days=29), end=today)
            out["cases"][f"{reader}/30d/first_response_business_hours"] = timings(
                lambda s=s, access=access, hours=hours: r.report(
                    ws, access, s, sections=["first_response"], hours=hours
                ),
                runs=max(5, args.runs // 5),
            )
        out["worst_section_p95_ms"] = worst
        out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
