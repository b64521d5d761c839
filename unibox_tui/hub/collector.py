"""Garbage collection on a busy hub: full collections walk only what is new.

With 1,000 chat visitors connected, what the hub holds for them (sockets, sessions, their
tasks and buffers) lives in the collector's oldest generation, and CPython runs a full
collection each time that generation has grown by a quarter: 10 in 30 s under
benchmarks/chat_bench.py's load, 127 ms each and up to 182 ms, every thread of the hub
stopped meanwhile (a visitor's message waited for one in each of its stages; the p99 was
made of them). So every full collection ends with `gc.freeze()`: what survived it is moved
to the permanent generation, out of the next ones' walks, which then cover only what was
made since (a few milliseconds).

What the collector would have freed among frozen objects (a reference cycle that a closed
socket leaves) waits for the sweep: every SWEEP_SECONDS everything is unfrozen, collected
once and frozen again. That one full walk costs what each automatic one did (~100-200 ms
under load), once per SWEEP_SECONDS instead of every few seconds. Objects without cycles
are freed at once by their reference counts, frozen or not.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from .. import gc_pacing

SWEEP_SECONDS = gc_pacing.SWEEP_SECONDS


class HubCollector:
    def __init__(self, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.sweep_seconds = sweep_seconds
        self.sweeps = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what start-up made (modules, the ORM's mappers, socket.io, the drivers),
        then freeze the survivors of every full collection. Call on the event loop."""
        gc.collect()
        gc.freeze()
        if self._after_full not in gc.callbacks:
            gc.callbacks.append(self._after_full)
        self._task = asyncio.get_running_loop().create_task(self._sweep_every())

    def stop(self) -> None:
        if self._after_full in gc.callbacks:
            gc.callbacks.remove(self._after_full)
        if self._task is not None:
            self._task.cancel()
        gc.unfreeze()  # a process that runs hubs one after another (tests) frees them

    def sweep(self) -> int:
        """One full collection over everything, frozen objects included; returns what it
        freed."""
        self.sweeps += 1
        return gc_pacing.sweep()

    def _after_full(self, phase: str, info: dict[str, Any]) -> None:
        # Runs in whichever thread the collection ran in, after it finished.
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    async def _sweep_every(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            self.sweep()
