"""Shared parts of the hub benchmarks (benchmarks/hub_*.py): a team workspace with N agents
and their tokens, a real `unibox hub` subprocess (optionally under cProfile), and client
processes (benchmarks/_hub_worker.py) that each host several HubClients on threads and
answer one JSON line per request on stdin/stdout.

Every client runs in a process apart from the hub; times across processes are compared on
`time.time()` (one system clock on one machine).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PYTHON = sys.executable
UNIBOX = [PYTHON, "-m", "unibox_tui"]


def rss_kb(pid: int) -> dict[str, int]:
    """Current and peak resident set of a process, in KiB (from /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_template(conversations: int, path: Path) -> Path:
    """A demo workspace built once and reused as the template of every run."""
    if not path.exists():
        subprocess.run(
            [
                *UNIBOX,
                "demo",
                "--conversations",
                str(conversations),
                "--generate-only",
                "--db",
                str(path),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def team_workspace(template: Path, target: Path, agents: int, prefix: str = "bench") -> dict:
    """Copy `template` to `target` and add `agents` agents with hub tokens.

    Returns {"tokens": {handle: token}, "agents": {handle: id}, "conversations": [ids of
    open conversations in an inbox every agent may see, newest first]}."""
    from unibox_tui.core import commands as cmd
    from unibox_tui.core.commands.tokens import issue_token
    from unibox_tui.core.db import open_workspace

    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    ws = open_workspace(target)
    try:
        tokens, ids = {}, {}
        for i in range(agents):
            handle = f"{prefix}{i:03d}"
            ids[handle] = cmd.create_agent(ws, f"Bench Agent {i}", handle, actor=None)
            tokens[handle] = issue_token(ws, handle)
        with ws.read() as conn:
            convs = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT c.id FROM conversation c JOIN inbox i ON i.id = c.inbox_id "
                    "WHERE i.access = 'everyone' AND c.status = 'open' "
                    "ORDER BY c.last_message_at DESC LIMIT 500"
                ).all()
            ]
    finally:
        ws.close()
    return {"tokens": tokens, "agents": ids, "conversations": convs}


def on_postgres(
    workspace: Path, url: str | None, settings: tuple[str, ...] = ()
) -> tuple[str, Any]:
    """Move the SQLite `workspace` to PostgreSQL with `unibox migrate`'s code: into `url` (an
    EMPTY database of yours), or without one into a new database of a private server
    (tests/servers/postgres.py, `settings` as its `-c` options). Returns the database's URL
    and the private server (None for yours), which the caller stops."""
    from unibox_tui.core.move import migrate

    server = None
    if url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from servers.postgres import PostgresServer

        server = PostgresServer(settings)
        url = server.database()
    migrate(str(workspace), url)
    return url, server


def seed_caches(hub_db: Path, agents: dict[str, str], directory: Any) -> float:
    """Give each agent a cache made by `changes.snapshot` (what a first sync ends with,
    built inside SQLite) so that setting up many clients takes seconds, not a replay of the
    log each: one snapshot, copied (the agents share one access rule and have no
    notifications yet). `directory(handle)` is the client's cache folder. Returns seconds."""
    from unibox_tui.core import changes

    started = time.perf_counter()
    first: Path | None = None
    for handle, agent_id in agents.items():
        folder = Path(directory(handle))
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{agent_id}.db"
        if first is None:
            changes.snapshot(hub_db, target, agent_id)
            first = target
        else:
            shutil.copyfile(first, target)
    return time.perf_counter() - started


class Hub:
    """A `unibox hub --no-channels` subprocess on a free loopback port, on a workspace file
    or (`db` a URL) a workspace on PostgreSQL."""

    def __init__(self, db: Path | str, log: Path, *, profile: Path | None = None) -> None:
        self.db, self.log, self.profile = db, log, profile
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for /healthz; returns the seconds that took."""
        if self.profile is not None:  # yappi over every thread (benchmarks/_hub_profiled.py)
            args = [PYTHON, str(Path(__file__).with_name("_hub_profiled.py")), str(self.profile)]
        else:
            args = [*UNIBOX]
        if isinstance(self.db, str):  # PostgreSQL: this node's files beside the log
            args += ["hub", "--database-url", self.db, "--state-dir", f"{self.log}.state"]
        else:
            args += ["hub", "--db", str(self.db)]
        args.append("--no-channels")
        args += ["--listen", f"127.0.0.1:{self.port}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"), env=env
        )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited ({self.proc.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not answer /healthz in {timeout} s")
            time.sleep(0.02)
        return time.perf_counter() - started

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as r:
            return json.loads(r.read())

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def count(self, sql: str) -> int:
        """One number read from the hub's workspace by a separate connection."""
        if isinstance(self.db, str):
            import psycopg

            from unibox_tui.core.postgres import conninfo

            with psycopg.connect(conninfo(self.db)) as pg:
                return int(pg.execute(sql).fetchone()[0])  # type: ignore[index]
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()

    def head(self) -> int:
        return self.count("SELECT value FROM sequence WHERE name = 'seq'")


class Worker:
    """A client process (benchmarks/_hub_worker.py): `call(op, **args)` sends one request
    and returns its reply; `send` + `reply` split that so requests run in parallel."""

    def __init__(self, index: int, log: Path) -> None:
        self.index = index
        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).with_name("_hub_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("ab"),
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.index} died (exit {self.proc.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"worker {self.index}: {answer['error']}")
        return answer

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.send(op, **args)
        return self.reply()

    def close(self) -> None:
        try:
            self.call("quit")
        except (RuntimeError, OSError, ValueError):
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def all_call(workers: list[Worker], op: str, per: list[dict] | None = None, **args: Any) -> list:
    """The same request to every worker at once (or `per[i]` extra args to worker i)."""
    for i, w in enumerate(workers):
        w.send(op, **args, **(per[i] if per else {}))
    return [w.reply() for w in workers]


def percentiles(samples: list[float], scale: float = 1000.0, unit: str = "ms") -> dict[str, float]:
    """p50/p90/p99/max of seconds, in milliseconds (or `scale` and `unit` given)."""
    s = sorted(samples)
    if not s:
        return {}

    def at(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, round(p * len(s)) - 1))] * scale, 2)

    return {
        f"p50_{unit}": at(0.50),
        f"p90_{unit}": at(0.90),
        f"p99_{unit}": at(0.99),
        f"max_{unit}": round(s[-1] * scale, 2),
        "n": len(s),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }
