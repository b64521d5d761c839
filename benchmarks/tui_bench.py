"""Measure the agent TUI on a big demo workspace, headless at 160x48. Prints one JSON document.

    .venv/bin/python benchmarks/tui_bench.py [--db PATH] [--conversations 100000] [--presses 200]

The workspace is the demo (core.demo.build_demo, frozen time) plus one 200-message e-mail
thread added through the commands; `--db` keeps it for the next run. The measuring runs in a
fresh Python process (a cold start: imports, workspace open, first frame).

How latency is measured, inside the app: `App._display` (where Textual hands each
compositor update to the driver) is wrapped; after it, the update is also rendered to the
terminal byte string the real driver would write (`render_segments`), and that moment is
the end of the frame. A key's latency is from just before its Key event is posted to the
app's queue to the end of the first frame drawn after the work it caused (for search:
after the results arrived from the worker). For every timed key but search the app
thread's CPU time over the same interval is reported too (`<name>_cpu`): on this shared
2-vCPU machine the wall figure moves by ±40% between runs of the same code, the CPU figure
much less; `load_average` says how busy the machine was. Nothing here is part of the test
verdict.

Targets (issue 3): first rendered list <= 0.5 s, j p95 <= 16 ms, open a 200-message thread
<= 50 ms, search to first results <= 100 ms, switch view <= 30 ms, peak RSS <= 150 MB.
Issue 15 added a 5.4 MB message: moving onto it, `e` (show more) and leaving it are timed
like any other key.
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import compileall  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unibox_tui.core.access import EVERYTHING  # noqa: E402

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SIZE = (160, 48)
BIG_THREAD = "Bench: the 200-message thread"
LONG_MAIL = "Bench: a 5.4 MB message"


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


# ------------------------------------------------------------------------------ workspace


def prepare(path: Path, conversations: int, seed: int) -> dict[str, object]:
    from unibox_tui.core import commands as cmd
    from unibox_tui.core import queries
    from unibox_tui.core.db import open_workspace
    from unibox_tui.core.demo import build_demo

    built: dict[str, object] = {}
    if not path.exists():
        built = build_demo(path, conversations=conversations, seed=seed, now=NOW)
    with open_workspace(path) as ws:
        demo = ws.setting("demo") or {}
        if demo.get("built_at") != NOW.strftime("%Y-%m-%dT%H:%M:%SZ"):
            # A `unibox demo` file dates its conversations by the real clock: the bench's
            # threads (dated by NOW) would sit at the bottom of the list, not where it walks.
            sys.exit(
                f"tui_bench: {path} is not a demo this bench built (built at "
                f"{demo.get('built_at')}, not {NOW:%Y-%m-%d %H:%M}); give a new --db path"
            )
        if not ws.setting("bench_thread"):
            channel = next(c for c in queries.channels(ws) if c.kind == "email")
            start = NOW - timedelta(hours=20)
            first = None
            for i in range(100):
                at = start + timedelta(minutes=12 * i)
                body = (
                    f"Hello again, this is update {i} on my order.\n"
                    "The parcel is still not here and the tracking page has not moved since "
                    "Tuesday. Could you check with the carrier once more?\n\n"
                    f"On Mon, 2 Mar 2026 at 09:{i % 60:02d}, Acme Support wrote:\n"
                    "> We have asked the carrier.\n> We will write again today."
                )
                result = cmd.ingest(
                    ws,
                    cmd.Incoming(
                        channel.id,
                        "email",
                        "bench.customer@example.com",
                        "Bench Customer",
                        body,
                        at,
                        subject=BIG_THREAD,
                        external_id=f"<bench-{i}@example.com>",
                        references=(f"<bench-{i - 1}@example.com>",) if i else (),
                    ),
                )
                first = first or result.conversation_id
                cmd.reply(
                    ws,
                    first,
                    f"Thanks, checking now (reply {i}).",
                    actor="ana",
                    now=at + timedelta(minutes=5),
                )
            ws.set_setting("bench_thread", first)
        if not ws.setting("bench_long"):
            # A customer pastes a whole log: one message of ~5.4 MB (issue 15). A month old,
            # so the j walk above never passes it.
            channel = next(c for c in queries.channels(ws) if c.kind == "email")
            log = "\n".join(
                f"2026-03-01T09:{n // 60 % 60:02d}:{n % 60:02d} worker-{n % 7} job {n} "
                "finished: status=ok items=120 elapsed=0.42s"
                for n in range(80_000)
            )
            result = cmd.ingest(
                ws,
                cmd.Incoming(
                    channel.id,
                    "email",
                    "bench.logs@example.com",
                    "Bench Logs",
                    f"Here is the whole log:\n{log}",
                    NOW - timedelta(days=30),
                    subject=LONG_MAIL,
                    external_id="<bench-long@example.com>",
                ),
            )
            ws.set_setting("bench_long", result.conversation_id)
        stats = queries.stats(ws)
        thread_id = ws.setting("bench_thread")
        size = queries.conversation(ws, thread_id, access=EVERYTHING).message_count
    return {"built": built, "stats": stats, "thread_messages": size}


# ------------------------------------------------------------------------------ the child


def child(path: str, presses: int, profile: str | None = None) -> None:
    from textual import events

    from unibox_tui.config import Config
    from unibox_tui.core.db import open_workspace

    imported_core = time.perf_counter()
    from unibox_tui.gc_pacing import hold_until_started

    hold_until_started()  # as `unibox` does before it imports the app (cli.run_tui)
    from unibox_tui.app import UniboxApp
    from unibox_tui.screens.inbox import InboxScreen
    from unibox_tui.screens.search import SearchScreen

    imported = time.perf_counter()
    ws = open_workspace(path)
    opened = time.perf_counter()
    config = Config(path=Path(tempfile.mkdtemp()) / "config.toml", agent="ana")
    app = UniboxApp(ws, config, now=lambda: NOW)
    constructed = time.perf_counter()

    frames: list[tuple[float, float]] = []
    # The conversation the thread pane showed in each frame: the list cursor moves in one
    # frame and the thread follows in the next (screens/inbox.py).
    frame_thread: list[str | None] = []
    frame_cpu: list[float] = []  # this thread's CPU clock at the end of each frame
    first_list_frame: list[float] = []
    first_list_cpu: list[float] = []  # (all threads', the app thread's) CPU clock then
    original = app._display

    def display(screen, update):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        original(screen, update)
        if update is None:
            return
        update.render_segments(app.console)  # the bytes a terminal driver would write
        end = time.perf_counter()
        frames.append((began, end))
        frame_cpu.append(time.thread_time())
        shown = getattr(app.screen, "thread", None)
        conversation = getattr(shown, "conversation", None)
        frame_thread.append(conversation.id if conversation is not None else None)
        if profiling:
            profiling[0].disable()
        if not first_list_frame and isinstance(app.screen, InboxScreen):
            if app.screen.conv_list.total > 0:
                first_list_frame.append(end)
                first_list_cpu.extend((time.process_time(), time.thread_time()))

    app._display = display  # type: ignore[method-assign]

    cpu_samples: list[float] = []
    profiling: list = []  # the profiler while the j presses run with --profile

    async def key(name: str, settle: float = 0.06, thread: bool = False) -> float:
        """Post a key; ms to the end of the first frame drawn after it (`thread`: of the
        first frame whose thread shows the row the list cursor is on then). Also records
        the CPU time the app's thread spent in that interval (`cpu_samples`): on a shared
        machine, wall time includes time the host gave to other guests, CPU time does not."""
        count, start, cpu_start = len(frames), time.perf_counter(), time.thread_time()
        if profiling:
            profiling[0].enable()
        app.post_message(events.Key(name, name if len(name) == 1 else None))
        deadline = start + 2
        while len(frames) == count and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        at = count
        if thread:
            row = app.screen.conv_list.selected  # type: ignore[attr-defined]
            wanted = row.id if row is not None else None
            while time.perf_counter() < deadline:
                at = next((i for i in range(count, len(frames)) if frame_thread[i] == wanted), -1)
                if at >= 0:
                    break
                await asyncio.sleep(0.001)
            if at < 0:
                return float("nan")
        await asyncio.sleep(settle)
        if len(frames) <= count:
            return float("nan")
        cpu_samples.append((frame_cpu[at] - cpu_start) * 1000)
        return (frames[at][1] - start) * 1000

    out: dict[str, object] = {}

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            while not first_list_frame:
                await asyncio.sleep(0.005)
            out["cold_start"] = {
                "process_to_first_list_ms": round((first_list_frame[0] - PROCESS_START) * 1000, 1),
                # CPU since the process began (interpreter start-up included): on a shared
                # machine the wall figure above moves with the load, these much less.
                "process_cpu_to_first_list_ms": round(first_list_cpu[0] * 1000, 1),
                "app_thread_cpu_to_first_list_ms": round(first_list_cpu[1] * 1000, 1),
                "app_to_first_list_ms": round((first_list_frame[0] - opened) * 1000, 1),
                "imports_ms": round((imported - PROCESS_START) * 1000, 1),
                "of_which_textual_and_app_ms": round((imported - imported_core) * 1000, 1),
                "open_workspace_ms": round((opened - imported) * 1000, 1),
                "construct_app_ms": round((constructed - opened) * 1000, 1),
            }
            await app.workers.wait_for_complete()
            await asyncio.sleep(0.3)
            screen = app.screen
            assert isinstance(screen, InboxScreen)
            lst = screen.conv_list

            # j: move down. The cursor moves in the first frame (j_key), the thread follows
            # in the next one (j_key_thread: until the frame that shows the new row's thread).
            await key("j")  # leave the big thread at row 0
            cpu_samples.clear()
            if profile:  # --profile: from each j's post to the end of its first frame
                import cProfile

                profiling.append(cProfile.Profile())
            walk_cpu = time.thread_time()
            samples = [await key("j") for _ in range(presses)]
            walk_cpu = time.thread_time() - walk_cpu
            if profile:
                profiling.pop().dump_stats(profile)
            out["j_key"] = {**summary(samples), "rows_moved": lst.cursor}
            out["j_key_cpu"] = summary(cpu_samples)
            cpu_samples.clear()
            samples = [await key("j", thread=True) for _ in range(presses)]
            out["j_key_thread"] = summary(samples)
            out["j_key_thread_cpu"] = summary(cpu_samples)
            # All the app thread's CPU over the first walk, per key: the frames and what
            # each key left for after them (the next thread made ready, layout of older
            # messages), and the app's timers over the 60 ms after each key.
            out["j_walk_cpu_per_key_ms"] = round(walk_cpu * 1000 / presses, 2)

            # Open the 200-message thread with k from the row below it, cold: the block
            # cache emptied first.
            from unibox_tui.core import queries

            big = ws.setting("bench_thread")
            with ws.read() as conn:
                where = queries.index_of(
                    conn, lst.view, queries.conversation(ws, big, access=EVERYTHING)
                )
            samples = []
            cpu_samples.clear()
            for _ in range(10):
                lst.move_to(where + 1)
                await asyncio.sleep(0.1)
                screen.thread._blocks.clear()
                samples.append(await key("k", thread=True))
                assert screen.thread_row and screen.thread_row.id == big
            out["open_200_message_thread"] = {
                **summary(samples),
                "messages": len(screen.thread.messages),
                "lines": len(screen.thread._lines),
            }
            out["open_200_message_thread_cpu"] = summary(cpu_samples)

            # The 5.4 MB message: move onto it with k (the thread shows it at once), cold,
            # then `e` (show more) on it. Before issue 15 each took 5-7 s.
            long_id = ws.setting("bench_long")
            with ws.read() as conn:
                where = queries.index_of(
                    conn, lst.view, queries.conversation(ws, long_id, access=EVERYTHING)
                )
            samples = []
            cpu_samples.clear()
            for _ in range(5):
                lst.move_to(where + 1)
                await asyncio.sleep(0.1)
                screen.thread._blocks.clear()
                samples.append(await key("k", thread=True))
                assert screen.thread_row and screen.thread_row.id == long_id
            body = len(screen.thread.messages[-1].body)
            out["open_5mb_message"] = {
                **summary(samples),
                "body_chars": body,
                "lines": len(screen.thread._lines),
            }
            out["open_5mb_message_cpu"] = summary(cpu_samples)
            cpu_samples.clear()
            samples = [await key("e", settle=0.1) for _ in range(5)]
            out["show_more_5mb"] = {**summary(samples), "lines": len(screen.thread._lines)}
            out["show_more_5mb_cpu"] = summary(cpu_samples)
            cpu_samples.clear()
            samples = [await key("j", thread=True) for _ in range(5)]  # and off it again
            out["leave_5mb_message"] = summary(samples)
            out["leave_5mb_message_cpu"] = summary(cpu_samples)

            # Switch view: number keys, each a different view (1-7: the two inboxes and the
            # five fixed views; channel kinds have keys of their own, not numbers).
            cpu_samples.clear()
            samples = [await key(str(n), settle=0.15) for n in (3, 4, 5, 6, 7, 1, 2, 5, 6, 4) * 2]
            out["switch_view"] = summary(samples)
            out["switch_view_cpu"] = summary(cpu_samples)

            # Search: from the last key of the query to the first frame with the results.
            await key("slash", settle=0.2)
            search = app.screen
            assert isinstance(search, SearchScreen)
            samples, hits = [], {}
            shown: list[float] = []
            original_show = search.show_hits

            def show_hits(*args, **kwargs):  # type: ignore[no-untyped-def]
                original_show(*args, **kwargs)
                shown.append(time.perf_counter())

            search.show_hits = show_hits  # type: ignore[method-assign]
            for word in ("refund", "invoice", "password", "delivery", "zhang", "pedido"):
                search.query_one("Input").value = word[:-1]
                await asyncio.sleep(0.3)
                count, start = len(shown), time.perf_counter()
                app.post_message(events.Key(word[-1], word[-1]))
                while len(shown) == count and time.perf_counter() - start < 3:
                    await asyncio.sleep(0.001)
                ready = shown[-1]
                while not any(b >= ready for b, _ in frames) and time.perf_counter() - start < 3:
                    await asyncio.sleep(0.001)
                end = next(e for b, e in frames if b >= ready)
                samples.append((end - start) * 1000)
                hits[word] = len(search.hits)
            out["search_to_first_results"] = {**summary(samples), "hits": hits}
            await pilot.press("escape")

            # Sort (`O`, issue 16) on All open: from the enter that picks an order to the
            # first frame of the list in that order; then j through the list sorted oldest
            # waiting first (its pages sort the view's rows instead of walking an index).
            from unibox_tui import actions

            if "sort" not in actions.SPECS:  # an older Unibox (an A/B run against a base)
                return
            await key("5", settle=0.2)
            resort: dict[str, list[float]] = {}
            for order in ("waiting", "customer", "priority", "newest") * 3:
                await key("O", settle=0.15)
                app.screen.query_one("Input").value = order  # the picker's filter
                await asyncio.sleep(0.15)
                resort.setdefault(order, []).append(await key("enter", settle=0.15))
            out["sort_to_first_frame"] = {order: summary(s) for order, s in resort.items()}
            await key("O", settle=0.15)
            app.screen.query_one("Input").value = "waiting"
            await asyncio.sleep(0.15)
            await key("enter", settle=0.3)
            cpu_samples.clear()
            samples = [await key("j") for _ in range(presses)]
            out["j_key_sorted_oldest_waiting"] = {**summary(samples), "rows_moved": lst.cursor}
            out["j_key_sorted_oldest_waiting_cpu"] = summary(cpu_samples)

    asyncio.run(run())
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # Of the resident memory at the end: private (Python heap, SQLite page caches) and
    # file-backed (the database pages SQLite maps with mmap, shared with the OS cache).
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        for name in ("VmRSS", "RssAnon", "RssFile"):
            if name in fields:
                out[f"end_{name}_mb"] = round(int(fields[name].split()[0]) / 1024, 1)
    print(json.dumps(out))


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="workspace to use (built there if missing, and kept)")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument(
        "--profile", help="write a cProfile of the j presses here (slows them; figures are off)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.presses, args.profile)
        return
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="unibox-tui-")) / "demo.db"
    prepared = prepare(path, args.conversations, args.seed)
    # Start as an installed package does: pip compiles its bytecode at install time. Without
    # this, an editable checkout run with PYTHONDONTWRITEBYTECODE recompiles every module of
    # the app on every start (~100 ms more here), which no user's start pays.
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "unibox_tui", quiet=1)
    load_before = os.getloadavg()
    env = {**os.environ, "TZ": "UTC"}
    run = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(path),
            "--presses",
            str(args.presses),
            *(["--profile", args.profile] if args.profile else []),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"the measuring process failed:\n{run.stderr[-3000:]}")
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    report = {
        "workspace": {**prepared["stats"], "thread_messages": prepared["thread_messages"]},  # type: ignore[dict-item]
        "terminal": f"{SIZE[0]}x{SIZE[1]} headless",
        "cpu_count": os.cpu_count(),
        # The machine's 1/5/15-minute load averages before and after the measuring process:
        # wall figures above a load of ~1 per core say more about the neighbours than us.
        "load_average": {"before": load_before, "after": os.getloadavg()},
        **measured,
        "targets": {
            "first_list_ms": 500,
            "j_p95_ms": 16,
            "open_200_thread_ms": 50,
            "search_ms": 100,
            "switch_view_ms": 30,
            "peak_rss_mb": 150,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
