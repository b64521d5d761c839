"""The agent app in a browser (`unibox hub --web`): time from signing in to the first frame
and to the inbox drawn, in real Chromium, and the memory of each app process.

    .venv/bin/python benchmarks/web_app_bench.py [--conversations 2000] [--runs 5] [--tabs 3]

Builds a demo workspace (in a temp folder), issues tokens, starts a real `unibox hub --web`
and drives Debian's Chromium (Playwright, FACTS.md). Prints one JSON document:
- `sign_in_to_first_frame_ms`: from the click on "Sign in" to textual.js marking the page
  `-first-byte` (the app's first frame reached the browser); run 0 starts with an empty
  cache folder (a first sign-in: the app pulls the agent's whole view), later runs reuse
  it (an agent coming back). `sign_in_to_inbox_ms`: to the conversation list drawn (text
  in the list column of a screenshot, polled: the time the first screenshot showing it was taken: resolution one screenshot and its
  analysis, ~100-300 ms).
  `hub_first_frame_ms`: the hub's own figure, from spawning the process to its first bytes.
- `app_cpu_s`: CPU seconds an app process spent until its inbox was drawn (user+system).
- `rss_mb`: VmRSS of each of --tabs app processes open at once (different agents), after
  their inbox was drawn; the hub's RSS before and with them.
- `loadavg`: the machine's load when it started and ended (the machine is shared).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _hubbench import rss_kb  # noqa: E402
from hub.test_web_app import TEXT_ROWS_JS  # noqa: E402  (the tests' "inbox drawn" measure)

VIEWPORT = {"width": 1280, "height": 800}


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build(folder: Path, conversations: int, agents: int) -> tuple[Path, dict[str, str]]:
    db = folder / "ws.db"
    demo = ["demo", "--generate-only", "--db", str(db), "--conversations", str(conversations)]
    subprocess.run(
        [sys.executable, "-m", "unibox_tui", *demo],
        check=True,
        capture_output=True,
    )
    from unibox_tui.core.commands.tokens import issue_token
    from unibox_tui.core.db import open_workspace

    ws = open_workspace(db)
    try:
        handles = [
            r[0]
            for r in ws.engine.connect()
            .exec_driver_sql("SELECT handle FROM agent WHERE active ORDER BY handle")
            .all()
        ][:agents]
        tokens = {h: issue_token(ws, h) for h in handles}
    finally:
        ws.close()
    return db, tokens


def text_rows(scratch: Any, png: bytes) -> float:
    return float(scratch.evaluate(TEXT_ROWS_JS, [base64.b64encode(png).decode(), 0.2, 0.55]))


def open_app(browser: Any, scratch: Any, url: str, token: str) -> dict[str, Any]:
    """Sign in in a fresh context; returns the figures and the open page (and context)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{url}/app")
    page.fill("#token", token)
    start = time.monotonic()
    page.click("button[type=submit]")
    page.wait_for_selector("body.-first-byte", state="attached", timeout=120_000)
    first = time.monotonic()
    deadline = first + 120
    while True:
        shot_at = time.monotonic()  # the inbox was there when this screenshot was taken
        if text_rows(scratch, page.screenshot()) > 0.25:
            break
        if time.monotonic() > deadline:
            raise SystemExit("the inbox was not drawn within 120 s")
    drawn = shot_at
    apps = page.request.get(f"{url}/app/status").json()["apps"]
    app = max(apps, key=lambda a: a["slot"]) if apps else {}
    return {
        "context": context,
        "pid": app.get("pid"),
        "first_frame_ms": round((first - start) * 1000, 1),
        "inbox_ms": round((drawn - start) * 1000, 1),
        "hub_first_frame_ms": app.get("first_frame_ms"),
        "app_cpu_s": round(cpu_seconds(app["pid"]), 3) if app.get("pid") else None,
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tabs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from servers.browser import chromium_path
    from servers.hub import HubProcess

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="unibox-webbench-") as tmp:
        folder = Path(tmp)
        db, tokens = build(folder, args.conversations, max(args.tabs, 1))
        hub = HubProcess(
            db, folder / "hub.log", args=("--web", "--web-max-apps", str(args.tabs + 1))
        ).start()
        try:
            hub_rss_idle = rss_kb(hub.proc.pid)["VmRSS"]  # type: ignore[union-attr]
            first_agent = next(iter(tokens))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
                scratch = browser.new_context().new_page()  # decodes the screenshots
                runs = []
                for _ in range(args.runs):  # one agent: run 0 cold cache, then warm
                    result = open_app(browser, scratch, hub.url, tokens[first_agent])
                    result.pop("context").close()
                    runs.append(result)
                    while hub.children():  # the next run starts once this app has ended
                        time.sleep(0.05)
                tabs = [open_app(browser, scratch, hub.url, token) for token in tokens.values()]
                rss = [rss_kb(t["pid"])["VmRSS"] / 1024 for t in tabs if t["pid"]]
                hub_rss_busy = rss_kb(hub.proc.pid)["VmRSS"]  # type: ignore[union-attr]
                for t in tabs:
                    t.pop("context").close()
                browser.close()
        finally:
            hub.stop()
    warm = runs[1:] or runs
    print(
        json.dumps(
            {
                "conversations": args.conversations,
                "runs": args.runs,
                "viewport": VIEWPORT,
                "sign_in_to_first_frame_ms": {
                    "cold": runs[0]["first_frame_ms"],
                    "warm": summary([r["first_frame_ms"] for r in warm]),
                },
                "sign_in_to_inbox_ms": {
                    "cold": runs[0]["inbox_ms"],
                    "warm": summary([r["inbox_ms"] for r in warm]),
                },
                "hub_first_frame_ms": {
                    "cold": runs[0]["hub_first_frame_ms"],
                    "warm": summary([r["hub_first_frame_ms"] for r in warm]),
                },
                "app_cpu_s": {
                    "cold": runs[0]["app_cpu_s"],
                    "warm": summary([r["app_cpu_s"] for r in warm]),
                },
                "rss_mb": {
                    "per_app": [round(v, 1) for v in rss],
                    "tabs": len(rss),
                    "hub_idle": round(hub_rss_idle / 1024, 1),
                    "hub_with_tabs": round(hub_rss_busy / 1024, 1),
                },
                "loadavg": {"start": load_start, "end": os.getloadavg()},
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
