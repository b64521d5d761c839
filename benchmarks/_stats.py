"""Timing helpers shared by the benchmark scripts (never part of the test verdict)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timings(fn: Callable[[], object], runs: int = 50, warmup: int = 3) -> dict[str, float]:
    """p50/p95/max of `fn` in milliseconds over `runs` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 3),
        "max_ms": round(samples[-1], 3),
        "runs": runs,
    }
