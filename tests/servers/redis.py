"""A private, real Redis server for tests and benchmarks (recipe in shared/FACTS.md): Debian's
redis-server on 127.0.0.1 and a free port, its files in a temp dir, nothing saved to disk.
Installed with apt-get when missing (scripts/setup --test does it too), as Dovecot is."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from waiting import wait_for

from . import system
from .dovecot import free_port

PACKAGE = "redis-server"


class RedisUnavailable(RuntimeError):
    """Missing and cannot be installed: the only reason to skip."""


def ensure_redis() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    system.install(PACKAGE, "the several-nodes tests need a real Redis", RedisUnavailable)
    found = shutil.which("redis-server")
    if not found:
        raise RedisUnavailable(f"{PACKAGE} installed but no redis-server was found")
    return found


class RedisServer:
    """One running redis-server; `stop()` ends it and removes its dir."""

    def __init__(self) -> None:
        binary = ensure_redis()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="unibox-redis-"))
        self.proc = subprocess.Popen(
            [
                binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, what=f"redis-server answered on port {self.port}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        import redis

        if self.proc.poll() is not None:
            log = self.dir / "redis.log"
            raise AssertionError(f"redis-server exited: {log.read_text() if log.exists() else ''}")
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        system.stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
