"""Writers of one workspace file in one process that share `Workspace.write_lock` (a hub
client's cache: the app's commands and the sync thread's pages, sync/client.py) wait for
each other's commit on the lock, not in SQLite's polling wait for a locked file."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from unibox_tui.core.db import open_workspace
from unibox_tui.core.errors import UniboxError


def hold_a_page(path: Path, lock: threading.RLock | None, held: threading.Event) -> None:
    """What the sync thread does with a page: its own connection, a write transaction."""
    other = sqlite3.connect(path, isolation_level=None, timeout=5)
    with lock or threading.RLock():
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO setting (key, value, updated_at, seq) VALUES ('page', '1', NULL, 0)"
        )
        held.set()
        time.sleep(0.3)
        other.execute("COMMIT")
    other.close()


@pytest.mark.parametrize("shared", [True, False])
def test_a_write_waits_for_the_other_writer_on_the_shared_lock(
    tmp_path: Path, shared: bool
) -> None:
    path = tmp_path / "cache.db"
    # No wait for a locked file at all: only the shared lock can make the command wait.
    ws = open_workspace(path, busy_timeout=0.0)
    ws.set_setting("warm", 1)  # the write connection is open before the collision
    lock = threading.RLock()
    if shared:
        ws.write_lock = lock
    held = threading.Event()
    page = threading.Thread(target=hold_a_page, args=(path, lock if shared else None, held))
    page.start()
    try:
        assert held.wait(10)
        if shared:
            ws.set_setting("command", 1)  # waits for the page's commit, then writes
            assert ws.setting("command") == 1 and ws.setting("page") == 1
        else:  # SQLite's own answer to the same collision, without a wait
            with pytest.raises(UniboxError, match="is locked"):
                ws.set_setting("command", 1)
    finally:
        page.join()
        ws.close()
