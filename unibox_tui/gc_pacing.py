"""Garbage collection paced to the agent's pauses.

A full (generation 2) collection walks every live object: with Textual, SQLAlchemy and the
screen's line caches loaded that takes ~100 ms here, which an agent feels as a stuck key
(measured: every ~10th `j` took 110-180 ms). So once the app is up, the objects that live as
long as it does are frozen out of the collector's walks, automatic full collections are off,
and a full collection runs when no key has been pressed for IDLE_SECONDS. The young
generations still collect automatically (~0.1-2 ms each), which keeps memory in check
(turning those off too saved ~1 ms per key but held ~15 MB more of reference cycles until
the next pause; freezing alone left 40-80 ms full collections in the key path).

Each idle collection then freezes what survived it, so the next one walks only what was
made since (an agent reading, no key pressed, had a full walk of every cached row and
strip every MIN_GAP_SECONDS; a message that arrived meanwhile waited for it). What the
collector would free among frozen objects (reference cycles that became garbage) waits for
the sweep: every SWEEP_SECONDS the idle collection unfreezes everything and walks it all.
The hub does the same after each of its automatic full collections (hub/collector.py).
"""

from __future__ import annotations

import gc
import time

IDLE_SECONDS = 1.0
MIN_GAP_SECONDS = 5.0  # at most one full collection per this many seconds
NEVER = 1_000_000_000  # a generation-2 threshold that is never reached
SWEEP_SECONDS = 300.0  # at most this long between walks over the frozen objects too


def sweep() -> int:
    """One full collection over everything, frozen objects included, whose survivors are
    then frozen; returns how many objects it freed."""
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    return freed


def hold_until_started() -> None:
    """No automatic collections until `IdleCollector.start` (after the app's first frame).
    Start-up makes a few hundred thousand objects that live as long as the app (modules,
    the stylesheet, the widgets): the collector walked them ~180 times before the first frame
    (~25 ms here), to free almost nothing. start() collects once, then freezes them. Call it
    before importing the app (`unibox` does); a process that never starts an app should not."""
    gc.disable()


class IdleCollector:
    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None
        self._last_input = time.monotonic()
        self._last_full = time.monotonic()
        self._last_sweep = time.monotonic()

    def start(self) -> None:
        """Call once the app's long-lived objects exist (after the first screen mounted)."""
        if self._saved is not None:
            return
        gc.collect()
        gc.freeze()
        self._saved = gc.get_threshold()
        gen0, gen1, _ = self._saved
        gc.set_threshold(gen0, gen1, NEVER)
        gc.enable()  # held off during start-up (hold_until_started)

    def stop(self) -> None:
        """Give the process its normal collector back (tests run many apps in one)."""
        if self._saved is None:
            return
        gc.set_threshold(*self._saved)
        gc.unfreeze()
        self._saved = None

    def input(self) -> None:
        self._last_input = time.monotonic()

    def idle(self) -> bool:
        """No key for IDLE_SECONDS: a good moment for work the agent should not feel."""
        return time.monotonic() - self._last_input >= IDLE_SECONDS

    def tick(self) -> bool:
        """Run a full collection if the agent is idle and one is due; True if it ran."""
        now = time.monotonic()
        if self._saved is None or now - self._last_input < IDLE_SECONDS:
            return False
        if now - self._last_full < MIN_GAP_SECONDS:
            return False
        if now - self._last_sweep >= SWEEP_SECONDS:
            sweep()
            self._last_sweep = now
        else:
            gc.collect()  # over what is not frozen: what was made since the last one
            gc.freeze()
        self._last_full = now
        return True
