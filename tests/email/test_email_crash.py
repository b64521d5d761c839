"""`unibox sync` killed with SIGKILL mid-sync leaves no process of its own behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.mail import make_mail
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, make_desk

from unibox_tui.backends.email import parse_worker

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads the process table from /proc"
)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process now."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Any process on the machine may have a name or arguments that are not UTF-8.
            stat = (entry / "stat").read_bytes().decode(errors="replace")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":  # a zombie has ended; it only waits for its parent's wait()
            table[int(entry.name)] = (int(fields[1]), cmdline)
    return table


def _descendants(root: int) -> dict[int, str]:
    table = _processes()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cmdline) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cmdline
                frontier.append(pid)
    return found


def _poll(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)  # polling interval, not a wait for an outcome


def test_killing_sync_mid_sync_leaves_no_worker_or_tracker_behind(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    # Enough mail that the sync starts its parse worker (and with it the resource tracker).
    count = parse_worker.MIN_MESSAGES + 200
    template = make_mail(message_id="<k-N@c.example>", subject="Case N")
    mailbox.server.seed_maildir(
        mailbox.user, [template.replace(b"-N", b"-%d" % i) for i in range(count)]
    )
    # Small batches: the sync takes long enough (several seconds) to be caught mid-way.
    desk = make_desk(tmp_path, mailbox, smtp_server, batch_size=10)
    desk.ws.close()
    sync = subprocess.Popen(
        [sys.executable, "-m", "unibox_tui", "sync", "--once", "--db", str(desk.path)],
        env={**os.environ, PASSWORD_ENV: mailbox.password},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def helpers() -> dict[int, str]:
            found = _descendants(sync.pid)
            worker = any("multiprocessing.spawn" in c for c in found.values())
            tracker = any("resource_tracker" in c for c in found.values())
            return found if worker and tracker else {}

        left = _poll(helpers, 60, "the parse worker and the resource tracker to start")
        assert sync.poll() is None, "the sync ended before it could be killed mid-sync"
        os.kill(sync.pid, signal.SIGKILL)
        sync.wait()
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.wait()

    def gone() -> bool:
        alive = _processes()
        return not any(alive.get(pid, (0, ""))[1] == cmdline for pid, cmdline in left.items())

    try:
        _poll(gone, 15, f"the sync's processes {sorted(left.values())} to exit")
    finally:
        alive = _processes()
        for pid, cmdline in left.items():  # never leave them to the next test
            if alive.get(pid, (0, ""))[1] == cmdline:
                os.kill(pid, signal.SIGKILL)


WATCHED = """
import multiprocessing, os, subprocess, sys, threading
from unibox_tui import lifeline

def child(parent_pid):
    # The watchdog alone, without the parent-death signal: the fallback off Linux.
    threading.Thread(target=lifeline._watch, args=(parent_pid,), daemon=True).start()
    print(os.getpid(), flush=True)
    threading.Event().wait()

if __name__ == "__main__":
    if sys.argv[1] == "spawn":  # a multiprocessing child: it watches the parent sentinel
        context = multiprocessing.get_context("spawn")
        context.Process(target=child, args=(os.getpid(),), daemon=False).start()
    elif sys.argv[1] == "popen":  # any other child: it polls the parent's pid
        subprocess.Popen([sys.executable, __file__, "child", str(os.getpid())])
    else:
        child(int(sys.argv[2]))
    threading.Event().wait()
"""


@pytest.mark.parametrize("how", ["spawn", "popen"])
def test_the_watchdog_alone_ends_a_child_whose_parent_was_killed(tmp_path: Path, how: str) -> None:
    script = tmp_path / "watched.py"
    script.write_text(WATCHED)
    parent = subprocess.Popen([sys.executable, str(script), how], stdout=subprocess.PIPE, text=True)
    child, command = 0, ""
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        ppid, command = _processes()[child]
        assert ppid == parent.pid
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _poll(lambda: child not in _processes(), 15, "the orphaned child to exit")
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]
        if child and _processes().get(child, (0, ""))[1] == command:
            os.kill(child, signal.SIGKILL)  # never leave it to the next test
