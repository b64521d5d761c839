"""Unibox and neomutt through a real terminal (tmux, 160x48) on 100k conversations/messages.

    .venv/bin/python benchmarks/tmux_bench.py [--conversations 100000] [--presses 100]
        [--starts 5] [--dir /tmp/unibox-tmux-bench]

What it measures, for each program, the same way:
- start: from (re)spawning the program in a tmux pane to the first screen that shows the
  list (Unibox: a conversation row; neomutt: the index with its `Msgs:` status line).
  The first start of each is reported apart (cold caches, neomutt builds its header cache).
- `j`: from sending the key to the pane to the first capture of the pane (text and colours,
  `capture-pane -e`) that differs from the one before the key. Between keys the screen is
  left to settle (unchanged for 150 ms), so a late repaint of one key is not credited to the
  next. The polling runs over one tmux control-mode connection (`tmux -C`): one round trip
  is well under a millisecond, no process is started per poll.
- CPU: the program's own user+system time (/proc/PID/stat) per key, from the key to the
  change, which on a loaded machine moves far less than the wall figures.

It builds what it needs once, in --dir: the Unibox demo workspace (`unibox demo
--generate-only`, ~2-8 min) and a Maildir of 100k small messages for neomutt (~20 s), and
neomutt's header cache on its first start. It installs nothing: when tmux or neomutt is
missing it says so (`apt-get install -y tmux neomutt`) and stops.

Issue 16's targets: Unibox `j` p95 <= 16 ms; start under 0.5 s.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 160, 48
SETTLE_S = 0.15  # the screen is "settled" when unchanged for this long
TIMEOUT_S = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A Unibox conversation row: the list column ends with the status and the age.
UNIBOX_ROW = re.compile(r"│.*\b(open|snoozed|closed)\s+\d+[smhdwy]\S*\s*│")
NEOMUTT_INDEX = re.compile(r"Msgs:\d+")


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)], 2),  # nearest rank
        "max": round(ordered[-1], 2),
        "n": len(ordered),
    }


class Tmux:
    """One private tmux server with one session, driven over a control-mode connection."""

    def __init__(self, socket: str) -> None:
        self.base = ["tmux", "-L", socket, "-f", "/dev/null"]
        subprocess.run([*self.base, "kill-server"], capture_output=True)
        subprocess.run(
            [*self.base, "new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", "b"],
            check=True,
        )
        subprocess.run([*self.base, "set", "-g", "window-size", "manual"], check=True)
        subprocess.run([*self.base, "set", "-g", "remain-on-exit", "on"], check=True)
        self.control = subprocess.Popen(
            [*self.base, "-C", "attach", "-t", "b"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert self.control.stdin and self.control.stdout
        self.stdin, self.stdout = self.control.stdin, self.control.stdout
        self._block("attach")  # the attach command's own (empty) reply comes first
        self.command("refresh-client -f no-output")  # no %output floods

    def command(self, line: str) -> list[bytes]:
        """Run one tmux command; its output lines (between %begin and %end)."""
        self.stdin.write(line.encode() + b"\n")
        return self._block(line)

    def _block(self, line: str) -> list[bytes]:
        out: list[bytes] = []
        inside = False
        while True:
            raw = self.stdout.readline()
            if not raw:
                raise RuntimeError("tmux control connection closed")
            if raw.startswith(b"%begin"):
                inside, out = True, []
            elif raw.startswith((b"%end", b"%error")) and inside:
                if raw.startswith(b"%error"):
                    raise RuntimeError(f"tmux: {line}: {b''.join(out).decode(errors='replace')}")
                return out
            elif inside:
                out.append(raw)

    def screen(self) -> bytes:
        return b"".join(self.command("capture-pane -p -e -t b"))

    def text(self) -> str:
        return b"".join(self.command("capture-pane -p -t b")).decode(errors="replace")

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        cmd = f"cd {shlex.quote(str(cwd))} && exec env -u PYTHONDONTWRITEBYTECODE {exports} "
        cmd += shlex.join(argv)
        self.command(f"respawn-pane -k -t b {shlex.quote(cmd)}")

    def pid(self) -> int:
        return int(b"".join(self.command("display -p -t b '#{pane_pid}'")).strip())

    def keys(self, *keys: str) -> None:
        self.command("send-keys -t b " + " ".join(shlex.quote(k) for k in keys))

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)
        self.control.wait(timeout=10)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_for(what: str, check: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"tmux_bench: gave up waiting for {what}")


def settle(tmux: Tmux, quiet: float = SETTLE_S, timeout: float = 30.0) -> bytes:
    """Wait until the screen stays the same for `quiet` seconds; return it."""
    last, since, deadline = tmux.screen(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.005)
        now = tmux.screen()
        if now != last:
            last, since = now, time.monotonic()
    return last


def start_once(
    tmux: Tmux, argv: list[str], cwd: Path, env: dict[str, str], ready: re.Pattern[str]
) -> tuple[float, float]:
    """Wall seconds from spawning to the first list, and the program's CPU seconds by then."""
    t0 = time.perf_counter()
    tmux.spawn(argv, cwd, env)
    wait_for("the first list", lambda: bool(ready.search(tmux.text())))
    wall = time.perf_counter() - t0
    return wall, cpu_s(tmux.pid())


def presses(tmux: Tmux, key: str, n: int) -> dict[str, object]:
    pid = tmux.pid()
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(n):
        before = settle(tmux)
        c0 = cpu_s(pid)
        t0 = time.perf_counter()
        tmux.keys(key)
        while tmux.screen() == before:
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"tmux_bench: `{key}` changed nothing in 10 s")
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((cpu_s(pid) - c0) * 1000)
    return {
        "wall_ms": summary(wall),
        # /proc counts in clock ticks (10 ms): the mean over the run is the useful figure.
        "cpu_ms_mean": round(statistics.fmean(cpu), 2),
    }


def measure(
    tmux: Tmux,
    name: str,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    ready: re.Pattern[str],
    starts: int,
    n: int,
    before_keys: tuple[str, ...] = (),
) -> dict[str, object]:
    print(f"tmux_bench: {name}: first start", file=sys.stderr)
    first, first_cpu = start_once(tmux, argv, cwd, env, ready)
    warm: list[float] = []
    warm_cpu: list[float] = []
    for _ in range(starts):
        wall, cpu = start_once(tmux, argv, cwd, env, ready)
        warm.append(wall * 1000)
        warm_cpu.append(cpu * 1000)
    print(f"tmux_bench: {name}: {n} x j", file=sys.stderr)
    settle(tmux, quiet=1.0, timeout=120)
    if before_keys:
        tmux.keys(*before_keys)
    result = {
        "first_start_s": round(first, 3),
        "first_start_cpu_s": round(first_cpu, 3),
        "start_ms": summary(warm),
        "start_cpu_ms": summary(warm_cpu),
        "j": presses(tmux, "j", n),
    }
    return result


def build_demo(db: Path, conversations: int) -> None:
    if db.exists():
        return
    print(f"tmux_bench: building the {conversations:,} demo at {db}", file=sys.stderr)
    subprocess.run(
        [
            str(ROOT / ".venv/bin/unibox"),
            "demo",
            "--conversations",
            str(conversations),
            "--generate-only",
            "--db",
            str(db),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def build_maildir(maildir: Path, messages: int) -> None:
    """`messages` small, read messages, one a minute back in time, 50 senders."""
    done = maildir / ".complete"
    if done.exists() and done.read_text() == str(messages):
        return
    shutil.rmtree(maildir, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    print(f"tmux_bench: writing {messages:,} messages to {maildir}", file=sys.stderr)
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    cur = maildir / "cur"
    for i in range(messages):
        when = start - timedelta(minutes=i)
        sender = f"customer{i % 50}@example.com"
        body = (
            f"From: Customer {i % 50} <{sender}>\n"
            "To: support@acme.test\n"
            f"Subject: Question number {i}\n"
            f"Date: {format_datetime(when)}\n"
            f"Message-ID: <bench-{i}@example.com>\n"
            "\n"
            f"Hello, this is message {i}. Could you help?\n"
        )
        (cur / f"{int(when.timestamp())}.{i}.bench:2,S").write_text(body)
    done.write_text(str(messages))


def muttrc(path: Path, maildir: Path, cache: Path) -> None:
    path.write_text(
        "\n".join(
            [
                "set mbox_type=Maildir",
                f'set folder="{maildir.parent}"',
                f'set spoolfile="{maildir}"',
                f'set header_cache="{cache}"',
                'set record=""',
                "set sort=reverse-date",
                "set mail_check_stats=no",
                "set mark_old=no",
                "set wait_key=no",
                "",
            ]
        )
    )


def missing_tools() -> list[str]:
    return [tool for tool in ("tmux", "neomutt") if shutil.which(tool) is None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=100_000, help="neomutt's Maildir")
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/unibox-tmux-bench"))
    parser.add_argument("--db", type=Path, help="an existing demo workspace to use")
    parser.add_argument("--skip-neomutt", action="store_true")
    args = parser.parse_args()
    missing = missing_tools()
    if args.skip_neomutt and missing == ["neomutt"]:
        missing = []
    if missing:
        raise SystemExit(
            f"tmux_bench: missing {', '.join(missing)}: apt-get install -y {' '.join(missing)}"
        )
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.db or args.dir / f"demo-{args.conversations}.db"
    build_demo(db, args.conversations)
    # Start as an installed package does: from compiled bytecode. An editable checkout
    # under PYTHONDONTWRITEBYTECODE recompiles the app on every start (~250 ms of CPU).
    compileall.compile_dir(str(ROOT / "unibox_tui"), quiet=1)
    load_before = os.getloadavg()

    tmux = Tmux(f"unibox-bench-{os.getpid()}")
    results: dict[str, object] = {}
    try:
        home = args.dir / "home"  # a config of its own: the user's is not touched
        home.mkdir(exist_ok=True)
        env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "TERM": "tmux-256color",
            "COLORTERM": "truecolor",
        }
        argv = [str(ROOT / ".venv/bin/unibox"), "demo", "--quiet", "--db", str(db)]
        argv += ["--conversations", str(args.conversations)]
        results["unibox"] = measure(
            tmux, "unibox", argv, ROOT, env, UNIBOX_ROW, args.starts, args.presses
        )
        if not args.skip_neomutt:
            maildir = args.dir / "maildir" / "INBOX"
            build_maildir(maildir, args.messages)
            rc = args.dir / "muttrc"
            muttrc(rc, maildir, args.dir / "hcache")
            nm = ["neomutt", "-n", "-F", str(rc)]
            results["neomutt"] = measure(
                tmux,
                "neomutt",
                nm,
                args.dir,
                env,
                NEOMUTT_INDEX,
                args.starts,
                args.presses,
                before_keys=("=",),  # the first (newest) message, as Unibox starts
            )
    finally:
        tmux.close()
    print(
        json.dumps(
            {
                "benchmark": "tmux_bench",
                "terminal": f"tmux {WIDTH}x{HEIGHT}",
                "conversations": args.conversations,
                "maildir_messages": None if args.skip_neomutt else args.messages,
                "presses": args.presses,
                "results": results,
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
