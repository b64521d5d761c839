"""A real `unibox hub` process for tests: started on a free loopback port with its own
workspace file (or a PostgreSQL URL, for several nodes with `redis` and `state_dir`),
stopped with SIGTERM (or killed with SIGKILL to test crash recovery), and restarted on the
same workspace and port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    def __init__(
        self,
        db: Path | str,
        log: Path,
        *,
        channels: bool = False,
        args: tuple[str, ...] = (),
        redis: str | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.db = db  # a workspace file, or a database URL (--database-url)
        self.log = log
        self.port = free_port()
        self.channels = channels
        self.args = args  # more `unibox hub` options, e.g. ("--web",)
        self.redis = redis
        self.state_dir = state_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HubProcess:
        where = "--database-url" if isinstance(self.db, str) else "--db"
        args = [sys.executable, "-m", "unibox_tui", "hub", where, str(self.db)]
        args += ["--listen", f"127.0.0.1:{self.port}"]
        if self.redis:
            args += ["--redis", self.redis]
        if self.state_dir is not None:
            args += ["--state-dir", str(self.state_dir)]
        if not self.channels:
            args.append("--no-channels")
        args += self.args
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # stdout too: the hub passes on there what a `--web` app process printed when it
        # ended (textual-serve's AppService), e.g. a crash's traceback.
        log = self.log.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
        wait_for(self.healthy, what=f"the hub answered /healthz on port {self.port}")
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"the hub exited ({self.proc.returncode}):\n{self.log.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def health(self) -> dict:
        """What /healthz answers (e.g. "channels": this node runs them)."""
        import json

        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as r:
            return dict(json.loads(r.read()))

    def children(self) -> list[int]:
        """The hub's child processes now (e.g. the browser apps of `--web`)."""
        assert self.proc is not None
        found: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                found.append(int(entry.name))
        return found

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
