"""The hub's collector (hub/collector.py): a full collection's survivors leave the next
full walks, and the sweep still frees the reference cycles among them."""

from __future__ import annotations

import asyncio
import gc
import weakref

from unibox_tui.hub.collector import HubCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


def test_survivors_of_a_full_collection_are_frozen_and_the_sweep_frees_their_cycles() -> None:
    async def run() -> None:
        collector = HubCollector(sweep_seconds=3600)
        collector.start()
        try:
            frozen = gc.get_freeze_count()
            kept = [cycle() for _ in range(1000)]  # made after start: not frozen yet
            gc.collect()  # a full collection (as CPython's own would run)
            assert gc.get_freeze_count() >= frozen + 2000  # its survivors: frozen
            refs = [ref for _, ref in kept]
            kept.clear()  # now garbage, but frozen cycles: no collection frees them
            gc.collect()
            assert all(ref() is not None for ref in refs)
            assert collector.sweep() >= 2000  # the sweep walks the frozen ones too
            assert all(ref() is None for ref in refs)
            assert collector.sweeps == 1
        finally:
            collector.stop()
        assert gc.get_freeze_count() == 0
        assert collector._after_full not in gc.callbacks

    asyncio.run(run())


def test_the_sweep_runs_on_its_own_every_period() -> None:
    async def run() -> None:
        collector = HubCollector(sweep_seconds=0.05)
        collector.start()
        try:
            # Each sweep walks this whole process (slow under a loaded test run): wait for
            # two, not for a time.
            for _ in range(600):
                if collector.sweeps >= 2:
                    break
                await asyncio.sleep(0.05)
            assert collector.sweeps >= 2
        finally:
            collector.stop()

    asyncio.run(run())
