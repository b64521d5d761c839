"""A new agent joins a hub that holds the 100k-conversation demo: time to a usable list, to
a complete cache, the client's memory, and where the time goes.

    .venv/bin/python benchmarks/hub_join.py [--db /tmp/hubbench100k.db] [--role agent]
        [--split] [--snapshot] [--sequential] [--profile-hub FILE] [--timeout 1800]

`--db` is a demo workspace (`unibox demo --conversations 100000 --generate-only --db PATH`;
built there when missing), copied to a scratch folder, where an agent `joiner` with a hub
token is added (`--role agent` sees the `everyone` inbox, `admin` everything). A `unibox hub
--no-channels` subprocess serves the copy; the client runs in its own process
(benchmarks/_hub_worker.py), a HubClient with an empty cache directory, timed page by page.

Prints one JSON document; times in seconds from just before `HubClient.open()`:
- `usable_list_full_s`: the first page of the agent's "All open" view (50 rows, newest
  activity first, as the TUI's list shows it) is full in the cache;
- `usable_list_s`: that first page equals the hub's own first page for this agent (the
  definition of "a usable list": what the agent would see with the whole cache). Target <= 3 s;
- `list_full_with_hub_access_s`, `list_equal_with_hub_access_s`: the same two marks with
  the agent's access rule as the hub computes it (the cache derives the rule from its own
  rows, so a new agent, whose own row is among the newest changes, sees an empty list until
  that row arrives, at the end of the first sync);
- `complete_s`: the first sync round ended (every page pulled). Target <= 60 s;
- `client_rss_kb`: the client process's resident memory after the join (and its peak);
- the split: `pull_calls_s` (request to reply: the hub's read, JSON, the wire, decoding) and
  `apply_s` (writing pages into the cache); with `--split`, `hub_read_s`: the same pages read
  in this process with `changes_since` (the hub's part), and `wire_mb`: their JSON size;
  with `--snapshot`, `snapshot_s`: `changes.snapshot` of the same agent (a whole cache built
  inside SQLite, the proposed first sync).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _hubbench import Hub, Worker, demo_template, machine, rss_kb


def cpu_s(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", type=Path, default=Path("/tmp/hubbench100k.db"))
    ap.add_argument("--conversations", type=int, default=100_000, help="when --db is built")
    ap.add_argument("--role", default="agent", choices=("agent", "admin"))
    ap.add_argument("--view", default="open")
    ap.add_argument("--split", action="store_true", help="time the hub's reads in-process")
    ap.add_argument("--snapshot", action="store_true", help="time changes.snapshot too")
    ap.add_argument("--profile-hub", type=Path, help="run the hub under yappi, write here")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="pull page after page without asking ahead (the client before pipelining)",
    )
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from unibox_tui.core import changes
    from unibox_tui.core import commands as cmd
    from unibox_tui.core import queries as q
    from unibox_tui.core.commands.tokens import issue_token
    from unibox_tui.core.db import open_workspace
    from unibox_tui.sync.client import PULL_LIMIT

    template = demo_template(args.conversations, args.db)
    folder = Path(tempfile.mkdtemp(prefix="hubbench-join-"))
    db = folder / "hub.db"
    shutil.copyfile(template, db)
    ws = open_workspace(db)
    try:
        agent_id = cmd.create_agent(ws, "Joining Agent", "joiner", role=args.role, actor=None)
        token = issue_token(ws, "joiner")
        access = q.reader(ws, agent_id)
        hub_access = {
            "agent_id": agent_id,
            "role": access.role,
            "see": None if access.see is None else sorted(access.see),
            "act": None if access.act is None else sorted(access.act),
        }
        expected = [
            r.id for r in q.list_conversations(ws, q.view(args.view, agent_id, access=access)).rows
        ]
        with ws.read() as conn:
            sizes = {
                t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                for t in ("conversation", "message", "contact")
            }
    finally:
        ws.close()
    out: dict = {
        "machine": machine(),
        "hub_workspace": sizes,
        "agent_role": args.role,
        "view": args.view,
        "pull_limit": PULL_LIMIT,
        "pull": "sequential" if args.sequential else "asks for the next page while writing",
    }
    hub = Hub(db, folder / "hub.log", profile=args.profile_hub)
    worker = Worker(0, folder / "worker.log")
    try:
        out["hub_start_s"] = round(hub.start(), 2)
        cpu0 = cpu_s(hub.pid)
        r = worker.call(
            "join",
            url=hub.url,
            token=token,
            dir=str(folder / "cache"),
            view=args.view,
            expected=expected,
            timeout=args.timeout,
            hub_access=hub_access,
            sequential=args.sequential,
        )
        marks = r["marks"]
        out.update(
            {
                "connected_s": marks.get("opened"),
                "usable_list_full_s": marks.get("list_full"),
                "usable_list_s": marks.get("list_equal"),
                "list_full_with_hub_access_s": marks.get("list_full_hub_access"),
                "list_equal_with_hub_access_s": marks.get("list_equal_hub_access"),
                "complete_s": marks.get("complete"),
                "pages": r["pages"],
                "rows": r["rows"],
                "pull_calls_s": r["call_s"],
                "apply_s": r["apply_s"],
                "list_checks": r["list_checks"],
                "list_check_s": r["list_check_s"],
                "cache_rows": r["counts"],
                "cache_mb": r["cache_mb"],
                "client_rss_kb": r["rss_kb"]["VmRSS"],
                "client_peak_rss_kb": r["rss_kb"]["VmHWM"],
                "hub_cpu_s": round(cpu_s(hub.pid) - cpu0, 2),
                "hub_rss_kb": rss_kb(hub.pid),
            }
        )
        worker.close()
        hub.stop()
        if args.split:
            source = open_workspace(db)
            read_s = 0.0
            wire = 0
            cursor = "0"
            while True:
                t = time.perf_counter()
                page = changes.changes_since(source, cursor, agent_id, PULL_LIMIT)
                read_s += time.perf_counter() - t
                wire += len(json.dumps(page.to_json()))
                cursor = page.cursor
                if not page.more:
                    break
            source.close()
            out["hub_read_s"] = round(read_s, 2)
            out["wire_mb"] = round(wire / 2**20, 1)
        if args.snapshot:
            t = time.perf_counter()
            changes.snapshot(db, folder / "snapshot.db", agent_id)
            out["snapshot_s"] = round(time.perf_counter() - t, 2)
            out["snapshot_mb"] = round((folder / "snapshot.db").stat().st_size / 2**20, 1)
    finally:
        worker.close()
        hub.close()
        out["scratch"] = str(folder)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
