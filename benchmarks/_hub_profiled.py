"""`unibox hub` under yappi (every thread: the event loop, the writer, the readers), for the
hub benchmarks' `--profile-hub FILE`: the same arguments as `unibox hub`, then on exit
(SIGTERM) FILE.txt gets the functions by total CPU time, by own time, and per thread.
Needs `pip install yappi` (not a project dependency: a scratch tool)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import yappi

    out = Path(sys.argv[1])
    sys.argv = ["unibox", *sys.argv[2:]]
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    try:
        from unibox_tui.cli import main as cli

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
