"""Opt-in timings of the chat pipeline, for benchmarks/chat_bench.py (`--stages`): with
UNIBOX_HUB_TRACE=FILE in its environment the hub notes, as JSON lines appended to FILE,
when each visitor message passed each stage (`send`: handler start, queued for the writer,
writer start and commit, head known, answered), each poke (`poke`: asked for, started after
the gap, pages read, sent; the change number it covers), each group of agents' pushes
(`push`) and each garbage collection of a millisecond or more (`gc`: generation, start,
ms). The benchmark joins them with its own clocks (the visitor's emit, the agent's receipt
and apply) on the wall clock, which every process on the machine shares.

Off (the default) it costs one attribute test per stage."""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

PATH = os.environ.get("UNIBOX_HUB_TRACE") or None
ON = PATH is not None
_lines: list[str] = []
now = time.time  # the wall clock: the benchmark's processes compare their stamps with it


def note(kind: str, **fields: Any) -> None:
    """Keep one record (written out by `flush`, the watcher's turn or every 200 records)."""
    fields["kind"] = kind
    _lines.append(json.dumps(fields))
    if len(_lines) >= 200:
        flush()


def flush() -> None:
    if not _lines or PATH is None:
        return
    text = "\n".join(_lines) + "\n"
    _lines.clear()
    with open(PATH, "a", encoding="utf-8") as f:
        f.write(text)


_gc_started = 0.0


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = now()
    else:
        took = (now() - _gc_started) * 1000
        if took >= 1.0:  # the young collections under a millisecond are not what stalls
            note("gc", gen=info["generation"], start=_gc_started, ms=round(took, 2))


def watch_gc() -> None:
    """Note every collection of a millisecond or more (only when tracing)."""
    if ON and _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
