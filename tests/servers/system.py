"""What the tests' real servers need from the machine: their Debian packages (Dovecot,
PostgreSQL, Redis), installed with apt-get when missing, and a way to end them. CI is a fresh
Debian machine where we are root, so the tests install rather than skip, and fail with a line
that says what to do when that is impossible. Each server module says which package and why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def start(make: Callable[[], T], unavailable: type[Exception]) -> T:
    """A real server for a fixture, or the test fails saying what to install: never a skip,
    which would let a run without the server pass with its tests silently left out."""
    import pytest  # here: the benchmarks use these servers without pytest

    try:
        return make()
    except unavailable as error:
        pytest.fail(str(error), pytrace=False)


def install(package: str, need: str, error: type[Exception]) -> None:
    """apt-get install `package`, or raise `error` with what to do. `need`: why the tests
    want it, for the message ("the e-mail tests need a real IMAP server")."""
    if os.geteuid() != 0:
        raise error(
            f"{package} is not installed and we are not root: run "
            f"`apt-get install -y {package}` ({need})"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise error(
                f"`{' '.join(argv)}` failed ({done.returncode}); {need}: "
                f"{done.stderr.strip()[-300:]}"
            )


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:  # type: ignore[type-arg]
    """End a server process: SIGTERM, then SIGKILL if it is still there after `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
