"""Processes Unibox starts end when the process that started them ends, however it ends.

A helper process (the engine's parse worker) that outlives its parent is a leak: after a
`kill -9` of `unibox sync`, the worker sat blocked on a pipe forever, and kept the
multiprocessing resource tracker alive with it (the tracker exits when the last holder of
its pipe is gone). A child calls `die_with_parent()` first thing:

- Linux: the kernel sends SIGKILL when the parent dies (`prctl(PR_SET_PDEATHSIG)`). The
  signal follows the parent *thread* that started the child, so start helpers from the
  thread that also stops them (the parse worker lives inside one sync call).
- Everywhere: a watchdog thread that waits on multiprocessing's parent sentinel (a pipe
  whose other end only the parent holds: end of file when it dies), or else polls the
  parent's pid, and ends the process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 1.0  # the watchdog's pace where no parent sentinel is at hand


def die_with_parent(parent_pid: int) -> None:
    """End this process as soon as `parent_pid` (the process that started it) has ended."""
    if sys.platform.startswith("linux"):
        _parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the signal was armed: we were reparented
    threading.Thread(target=_watch, args=(parent_pid,), name="lifeline", daemon=True).start()


def _parent_death_signal() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # no libc or no prctl: the watchdog
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch(parent_pid: int) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None) if parent is not None else None
    if sentinel is not None and parent is not None and parent.pid == parent_pid:
        with contextlib.suppress(OSError, ValueError):
            wait([sentinel])  # returns when the parent has ended
            os._exit(1)
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)
