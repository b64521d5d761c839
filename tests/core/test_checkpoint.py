"""A hub's workspace and a hub client's cache checkpoint on a thread of their own, never
inside a write's commit (core/checkpoint.py): a checkpoint in the commit that applied a poke
held a teammate's change back 200-500 ms in one fan-out command of ~100."""

from __future__ import annotations

import time
from pathlib import Path

from unibox_tui.core.db import open_workspace


def test_writes_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws.db")
    try:
        ws.checkpoint_apart()
        with ws.engine.connect() as conn:  # every connection that writes
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for i in range(300):  # ~1,500 pages of log: past SQLite's own 1,000-page trigger
            ws.set_setting(f"bench.{i}", "x" * 20_000)
        checkpointer = ws._checkpointer
        deadline = time.monotonic() + 10
        while not (checkpointer.last and checkpointer.last[1] and checkpointer.last[2]):
            assert time.monotonic() < deadline, "no checkpoint round copied the log"
            time.sleep(0.05)
        _busy, logged, copied = checkpointer.last
        assert logged > 1000 and copied == logged  # all of it, by the thread, none by a commit
    finally:
        ws.close()
    assert not checkpointer._thread.is_alive()  # close() ends it
