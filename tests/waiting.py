"""Waiting in tests: poll a condition until it holds or a deadline passes, then fail saying
what never happened. Tests never sleep a fixed time to wait for something, and never assert
how long it took (timing figures belong in benchmarks/).

    from waiting import wait_for, until
    wait_for(lambda: server.messages, what="the SMTP server got the reply")   # threads
    await until(lambda: app.seen_seq > start, what="the app saw the change")  # asyncio, Pilot
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE = 20.0  # generous: a loaded CI machine is slow, and a passing wait returns at once
POLL = 0.01


def _timed_out(what: str, timeout: float) -> AssertionError:
    return AssertionError(f"waited {timeout:g} s and still not: {what}")


def wait_for(predicate: Callable[[], T], *, what: str, timeout: float = DEADLINE) -> T:
    """Block until `predicate()` is truthy (returned), polling; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(POLL)


async def until(predicate: Callable[[], T], *, what: str, timeout: float = DEADLINE) -> T:
    """`wait_for` for the event loop (Pilot tests, the engine): other tasks, timers and
    workers' callbacks run between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(POLL)
