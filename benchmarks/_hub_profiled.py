"""`unibox hub` under a profiler, for the hub benchmarks' `--profile-hub FILE`: the same
arguments as `unibox hub`, then on exit (SIGTERM) FILE.txt gets the report.

- yappi (the default) over every thread (the event loop, the writer, the readers): the
  functions by total CPU time, by own time, and per thread. Needs `pip install yappi` (not
  a project dependency: a scratch tool). Its cost per call is high: it inflates code that
  makes many small calls (SQLAlchemy, asyncio) more than the rest.
- `UNIBOX_PROFILER=cprofile`: cProfile of the event loop's thread only (socket.io,
  pokes, emits; not the writer's commands nor the readers' queries) in CPU time, cheaper
  per call.
- `UNIBOX_PROFILE_WINDOW=1` (yappi): profile only between two SIGUSR2 (a benchmark's timed
  window, without the connects before it and the disconnects after)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    out = Path(sys.argv[1])
    sys.argv = ["unibox", *sys.argv[2:]]
    from unibox_tui.cli import main as cli

    if os.environ.get("UNIBOX_PROFILER") == "cprofile":
        import cProfile
        import pstats
        import time

        profiler = cProfile.Profile(time.thread_time)  # CPU, not time waiting for it
        profiler.enable()
        try:
            cli(standalone_mode=False)
        finally:
            profiler.disable()
            profiler.dump_stats(out.with_suffix(".prof"))  # for pstats
            with out.with_suffix(".txt").open("w") as f:
                stats = pstats.Stats(profiler, stream=f)
                stats.sort_stats("cumulative").print_stats(70)
                stats.sort_stats("tottime").print_stats(50)
        return
    import yappi

    yappi.set_clock_type("cpu")
    if os.environ.get("UNIBOX_PROFILE_WINDOW"):
        import signal

        def toggle(*_: object) -> None:
            if yappi.is_running():
                yappi.stop()
            else:
                yappi.start(builtins=False, profile_threads=True)

        signal.signal(signal.SIGUSR2, toggle)
    else:
        yappi.start(builtins=False, profile_threads=True)
    try:
        cli(standalone_mode=False)
    finally:
        yappi.stop()
        stats = yappi.get_func_stats()
        with out.with_suffix(".txt").open("w") as f:
            for key, title in (("ttot", "total"), ("tsub", "own")):
                f.write(f"==== by {title} CPU time\n")
                for s in list(stats.sort(key, "desc"))[:60]:
                    name = f"{s.module.split('site-packages/')[-1]}:{s.lineno} {s.name}"
                    f.write(f"{s.ttot:9.3f} {s.tsub:9.3f} {s.ncall:9d}  {name}\n")
            f.write("==== threads\n")
            for t in yappi.get_thread_stats():
                f.write(f"{t.ttot:9.3f}  {t.name} {t.id}\n")


if __name__ == "__main__":
    main()
