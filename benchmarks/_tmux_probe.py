"""Run `unibox` with a probe, for tmux_bench.py --profile (not a benchmark of its own).

    python benchmarks/_tmux_probe.py [--cprofile] OUT unibox-args...

SIGUSR1 starts a window, SIGUSR2 ends it and writes, for that window:
- OUT.prof (with --cprofile): a cProfile (CPU time) of the app's main thread (the event
  loop: keys, layout, rendering); it triples the app's CPU, so the other figures are then
  off,
- OUT.json: the CPU seconds of each thread by its name (the event loop, Textual's input and
  output threads, workers, the engine), and what went to the terminal: the number of writes
  and their sizes in bytes (each compositor update is one write).
The signal handlers run on the main thread between bytecodes, so the profiler attaches to
the loop's thread.
"""

from __future__ import annotations

import cProfile
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread, by name (ours or the OS id for foreign threads)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task.name), f"tid-{task.name}")
        name = "main" if int(task.name) == os.getpid() else name
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def main() -> None:
    args = sys.argv[1:]
    use_cprofile = args[0] == "--cprofile"
    if use_cprofile:
        args = args[1:]
    out = Path(args[0])
    sys.argv = ["unibox", *args[1:]]
    writes: list[int] = []
    state: dict[str, object] = {}

    from textual.drivers.linux_driver import LinuxDriver

    original = LinuxDriver.write

    def write(self: LinuxDriver, data: str) -> None:
        if "cpu" in state:
            writes.append(len(data.encode()))
        original(self, data)

    LinuxDriver.write = write  # type: ignore[method-assign]

    from textual.screen import Screen

    refresh = Screen._compositor_refresh
    # (CPU ms, bytes, start, end) of each compositor refresh; start and end on the
    # system's monotonic clock, which the bench reads too.
    frames: list[tuple[float, int, float, float]] = []
    keys_in: list[tuple[float, float]] = []  # (read by the input thread, handled by the app)
    read_at: list[float] = []

    def compositor_refresh(self: Screen) -> None:
        if "cpu" not in state:
            return refresh(self)
        sent = len(writes)
        t0, w0 = time.thread_time(), time.monotonic()
        refresh(self)
        cpu = (time.thread_time() - t0) * 1000
        frames.append((cpu, sum(writes[sent:]), w0, time.monotonic()))

    from textual import events
    from textual.app import App
    from textual.drivers import _writer_thread

    flushed: list[float] = []  # when the output thread handed a batch to the terminal

    class TimedFile:
        def __init__(self, file: object) -> None:
            self._file = file

        def __getattr__(self, name: str) -> object:
            return getattr(self._file, name)

        def flush(self) -> None:
            self._file.flush()  # type: ignore[attr-defined]
            if "cpu" in state:
                flushed.append(time.monotonic())

    writer_init = _writer_thread.WriterThread.__init__

    def timed_writer(self: object, file: object) -> None:
        writer_init(self, TimedFile(file))  # type: ignore[arg-type]

    _writer_thread.WriterThread.__init__ = timed_writer  # type: ignore[method-assign]

    process_message = LinuxDriver.process_message

    def posted(self: LinuxDriver, message: object) -> None:
        if "cpu" in state and isinstance(message, events.Key):
            read_at.append(time.monotonic())
        process_message(self, message)

    LinuxDriver.process_message = posted  # type: ignore[method-assign]
    on_event = App.on_event

    async def handled(self: App, event: events.Event) -> None:
        if "cpu" in state and isinstance(event, events.Key) and read_at:
            keys_in.append((read_at.pop(0), time.monotonic()))
        await on_event(self, event)

    App.on_event = handled  # type: ignore[method-assign]

    Screen._compositor_refresh = compositor_refresh  # type: ignore[method-assign]

    def start(_signum: int, _frame: object) -> None:
        writes.clear()
        frames.clear()
        keys_in.clear()
        flushed.clear()
        read_at.clear()
        state["cpu"] = thread_cpu()
        if use_cprofile:
            # CPU time of the main thread, not wall time: the machine is shared.
            profiler = cProfile.Profile(time.thread_time)
            state["profiler"] = profiler
            profiler.enable()

    def stop(_signum: int, _frame: object) -> None:
        if "cpu" not in state:
            return
        profiler = state.pop("profiler", None)
        if isinstance(profiler, cProfile.Profile):
            profiler.disable()
            profiler.dump_stats(f"{out}.prof")
        before = state.pop("cpu")
        assert isinstance(before, dict)
        after = thread_cpu()
        cpu = {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}
        Path(f"{out}.json").write_text(
            json.dumps(
                {
                    "thread_cpu_s": {k: v for k, v in cpu.items() if v},
                    "writes": len(writes),
                    "bytes": sum(writes),
                    "write_sizes": writes,
                    "frames": frames,
                    "keys": keys_in,
                    "flushed": flushed,
                }
            )
        )

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)

    from unibox_tui.cli import main as unibox

    unibox()


if __name__ == "__main__":
    main()
