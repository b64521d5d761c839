"""WAL checkpoints on a thread of their own, off the path of the writes that must be quick.

SQLite checkpoints a WAL database from inside a commit once the log passes 1,000 pages
(`wal_autocheckpoint`): that commit then copies the log into the file and waits for the
disk. On a hub client's cache the commit is the one applying a poke, and on the hub the one
a poke waits for, so every so often a teammate's change took 200-500 ms to show instead of
~40 (benchmarks/hub_team.py fan-out, 50 agents: p99 221-405 ms with checkpoints in the
commits, 52-59 ms without). Those connections turn them off (`apart`), and a Checkpointer
runs PASSIVE checkpoints, which never wait for or block a writer, every second instead.
(When the last connection to a file closes, SQLite checkpoints it whatever the setting.)"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

INTERVAL = 1.0


def apart(con: sqlite3.Connection) -> None:
    """No checkpoint inside this connection's commits (a Checkpointer does them)."""
    con.execute("PRAGMA wal_autocheckpoint=0")


class Checkpointer:
    """PASSIVE checkpoints of one database file every `interval` seconds, on a daemon
    thread with its own connection, until `stop()`."""

    def __init__(self, path: Path, interval: float = INTERVAL) -> None:
        self.path, self.interval = path, interval
        self._stop = threading.Event()
        # The last round's (busy, frames in the log, frames copied into the file).
        self.last: tuple[int, int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="unibox-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            apart(con)
            while not self._stop.wait(self.interval):
                try:
                    self.last = tuple(con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
                except sqlite3.Error:
                    pass  # busy or closing: the next round, or the last close, does it
        finally:
            con.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
