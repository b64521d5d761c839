"""Timing helpers shared by the benchmark scripts (never part of the test verdict)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timings(fn: Callable[[], object], runs: int = 50, warmup: int = 3) -> dict[str, float]:
    """p50/p95/max of `fn` in milliseconds over `runs` calls after `warmup` calls, wall
    clock, and p50/p95 of this thread's CPU time for the same calls (`cpu_*`): on the
    shared machine the wall figure includes time other processes had the cores, CPU does not."""
    for _ in range(warmup):
        fn()
    samples, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - start_cpu) * 1000)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    cpu.sort()
    p95 = max(0, int(len(samples) * 0.95) - 1)
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[p95], 3),
        "max_ms": round(samples[-1], 3),
        "cpu_p50_ms": round(statistics.median(cpu), 3),
        "cpu_p95_ms": round(cpu[p95], 3),
        "runs": runs,
    }


def thread_cpu_by_kind() -> dict[str, float]:
    """CPU seconds of this process's live threads, summed by what they are (their name
    without its number): the clients' sync loops, socket read loops, checkpointers..."""
    import os
    import re
    import threading
    from pathlib import Path

    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for t in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{t.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = re.sub(r"[-_]?\d+", "", t.name)
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out
