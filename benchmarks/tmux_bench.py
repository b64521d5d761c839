"""Unibox and neomutt through a real terminal (tmux, 160x48) on 100k conversations/messages.

    .venv/bin/python benchmarks/tmux_bench.py [--conversations 100000] [--presses 100]
        [--starts 5] [--dir /tmp/unibox-tmux-bench]

What it measures, for each program, the same way:
- start: from (re)spawning the program in a tmux pane to the first screen that shows the
  list (Unibox: a conversation row; neomutt: the index with its `Msgs:` status line).
  The first start of each is reported apart (cold caches, neomutt builds its header cache).
- `j`: from sending the key to the pane to the moment tmux had read the output that changed
  the screen: tmux's control mode (`tmux -C`) sends a %output notification for each piece
  of output it reads; after each, the pane is captured (text and colours, `capture-pane
  -e`) and compared with the capture before the key. The change is credited to the last
  %output read before the capture that differs (never earlier than it can have happened).
  `seen_ms` is when that capture came back. The screen is not polled in a loop: a colour
  capture of a 160x48 screen costs tmux 10-30 ms on a loaded machine, and polling held up
  tmux reading the program's output (the same key measured 85 ms p50 that way, 10 ms now).
  Between keys the screen is left to settle (unchanged for 150 ms), so a late repaint of
  one key is not credited to the next.
- CPU: the program's own user+system time (/proc/PID/stat) per key, from the key to the
  change (`cpu_ms_mean`) and from the change until the screen settled (`cpu_after_ms_mean`:
  work the key left for after its first frame), which on a loaded machine move far less
  than the wall figures.
- `--probe OUT` (Unibox only) runs it under benchmarks/_tmux_probe.py: CPU per thread, CPU
  and bytes of each frame, and where each key's wall time went (to the input thread, the
  event loop, the first frame, tmux); `--cprofile` adds a profile of the main thread.

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
import select
import shlex
import shutil
import signal
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
# With no new output, the screen is captured again this often: tmux may send a %output
# notification a moment before the grid holds what it brought.
RECHECK_S = 0.02
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
        self._buf = bytearray()
        # When each %output notification (the pane's program wrote, and tmux has read and
        # parsed it) arrived, while output is on (`outputs(True)`).
        self.output_times: list[float] = []
        self._block("attach")  # the attach command's own (empty) reply comes first
        self.outputs(False)

    def outputs(self, on: bool) -> None:
        """%output notifications on or off (off: no floods while only the screen matters)."""
        self.command("refresh-client -f " + ("!no-output" if on else "no-output"))

    def command(self, line: str) -> list[bytes]:
        """Run one tmux command; its output lines (between %begin and %end)."""
        self.stdin.write(line.encode() + b"\n")
        return self._block(line)

    def _readline(self, timeout: float | None = None) -> bytes | None:
        """One line of the control connection (None: nothing within `timeout` seconds)."""
        fd = self.stdout.fileno()
        while (end := self._buf.find(b"\n")) < 0:
            if timeout is not None and not select.select([fd], [], [], timeout)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RuntimeError("tmux control connection closed")
            self._buf += chunk
        line = bytes(self._buf[: end + 1])
        del self._buf[: end + 1]
        return line

    def _note(self, raw: bytes) -> None:
        if raw.startswith(b"%output "):
            self.output_times.append(time.monotonic())

    def wait_output(self, timeout: float) -> bool:
        """Read the connection until a %output notification arrives (False: none within
        `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        seen = len(self.output_times)
        while len(self.output_times) == seen:
            left = deadline - time.monotonic()
            raw = self._readline(max(left, 0)) if left > 0 else None
            if raw is None:
                return False
            self._note(raw)
        return True

    def _block(self, line: str) -> list[bytes]:
        out: list[bytes] = []
        inside = False
        while True:
            raw = self._readline()
            assert raw is not None
            if raw.startswith(b"%begin"):
                inside, out = True, []
            elif raw.startswith((b"%end", b"%error")) and inside:
                if raw.startswith(b"%error"):
                    raise RuntimeError(f"tmux: {line}: {b''.join(out).decode(errors='replace')}")
                return out
            elif inside:
                out.append(raw)
            else:
                self._note(raw)

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
    """Wall seconds from spawning to the first list, and the program's CPU seconds by then.
    The pane's text is polled every RECHECK_S (a respawned pane's first output does not
    always come as %output notifications, so the key presses' way is not used here)."""
    t0 = time.perf_counter()
    tmux.spawn(argv, cwd, env)
    while not ready.search(tmux.text()):
        if time.perf_counter() - t0 > TIMEOUT_S:
            raise SystemExit("tmux_bench: gave up waiting for the first list")
        time.sleep(RECHECK_S / 4)
    wall = time.perf_counter() - t0
    return wall, cpu_s(tmux.pid())


def presses(
    tmux: Tmux, key: str, n: int, stamps: list[tuple[float, float]] | None = None
) -> dict[str, object]:
    """`stamps`: gets each key's (sent, change seen) on the monotonic clock."""
    pid = tmux.pid()
    wall: list[float] = []
    seen: list[float] = []
    cpu: list[float] = []
    after: list[float] = []  # from the change until the screen settled (work left over)
    changed_at: float | None = None
    tmux.outputs(True)
    for _ in range(n):
        before = settle(tmux)
        c0 = cpu_s(pid)
        if changed_at is not None:
            after.append((c0 - changed_at) * 1000)
        tmux.output_times.clear()
        checked = 0
        t0 = time.monotonic()
        tmux.keys(key)
        while True:
            if len(tmux.output_times) == checked:
                if time.monotonic() > t0 + 10:
                    raise SystemExit(f"tmux_bench: `{key}` changed nothing in 10 s")
                tmux.wait_output(RECHECK_S)
            now = tmux.screen()
            # Every %output read before the capture's reply is in the capture; the change
            # is credited to the last of them (never earlier than it can have happened).
            if tmux.output_times and now != before:
                wall.append((tmux.output_times[-1] - t0) * 1000)
                seen.append((time.monotonic() - t0) * 1000)
                break
            checked = len(tmux.output_times)
        if stamps is not None:
            stamps.append((t0, t0 + wall[-1] / 1000))
        changed_at = cpu_s(pid)
        cpu.append((changed_at - c0) * 1000)
    settle(tmux)
    tmux.outputs(False)
    if changed_at is not None:
        after.append((cpu_s(pid) - changed_at) * 1000)
    return {
        # From sending the key to tmux having read the output that changed the screen.
        "wall_ms": summary(wall),
        # ... to the capture that showed the change (what polling the screen sees; a capture
        # of a 160x48 screen in colour costs tmux ~10-30 ms on a loaded machine).
        "seen_ms": summary(seen),
        # /proc counts in clock ticks (10 ms): the mean over the run is the useful figure.
        "cpu_ms_mean": round(statistics.fmean(cpu), 2),
        # What a key costs in all: from the change until the screen stayed the same for
        # SETTLE_S (work done after the frame, e.g. the next thread got ready, and the
        # app's idle timers over those 150 ms).
        "cpu_after_ms_mean": round(statistics.fmean(after), 2),
    }


def stages(
    stamps: list[tuple[float, float]],
    keys: list[tuple[float, float]],
    frames: list[tuple[float, int, float, float]],
) -> dict[str, object]:
    """Where each key's wall time went: sent -> read by the app's input thread -> handled
    on its event loop -> its first frame started -> that frame handed to the output thread
    -> the bench saw the change. With the first frame's CPU and bytes."""
    parts: dict[str, list[float]] = {
        "to_input_thread": [],
        "to_event_loop": [],
        "to_frame_start": [],
        "frame": [],
        "to_seen": [],
        "first_frame_cpu": [],
        "first_frame_bytes": [],
    }
    for sent, seen in stamps:
        key = next((k for k in keys if k[0] >= sent), None)
        if key is None or key[0] > seen:
            continue
        frame = next((f for f in frames if f[2] >= key[1]), None)
        if frame is None or frame[3] > seen:
            continue
        parts["to_input_thread"].append((key[0] - sent) * 1000)
        parts["to_event_loop"].append((key[1] - key[0]) * 1000)
        parts["to_frame_start"].append((frame[2] - key[1]) * 1000)
        parts["frame"].append((frame[3] - frame[2]) * 1000)
        parts["to_seen"].append((seen - frame[3]) * 1000)
        parts["first_frame_cpu"].append(frame[0])
        parts["first_frame_bytes"].append(float(frame[1]))
    return {name: summary(values) for name, values in parts.items() if values}


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
    probe_out: Path | None = None,
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
    if probe_out is not None:
        os.kill(tmux.pid(), signal.SIGUSR1)  # _tmux_probe.py: start the window
    stamps: list[tuple[float, float]] = []
    j = presses(tmux, "j", n, stamps)
    result = {
        "first_start_s": round(first, 3),
        "first_start_cpu_s": round(first_cpu, 3),
        "start_ms": summary(warm) if warm else None,
        "start_cpu_ms": summary(warm_cpu) if warm_cpu else None,
        "j": j,
    }
    if probe_out is not None:
        done = Path(f"{probe_out}.json")
        done.unlink(missing_ok=True)
        Path(f"{probe_out}.prof").unlink(missing_ok=True)
        os.kill(tmux.pid(), signal.SIGUSR2)
        wait_for("the probe's figures", done.exists, timeout=30)
        time.sleep(0.2)  # written in one call; let it land
        probe = json.loads(done.read_text())
        sizes = probe.pop("write_sizes")
        probe["thread_cpu_ms_per_key"] = {
            k: round(v * 1000 / n, 2) for k, v in probe.pop("thread_cpu_s").items()
        }
        probe["bytes_per_key"] = round(probe["bytes"] / n)
        probe["writes_per_key"] = round(probe["writes"] / n, 2)
        probe["write_bytes"] = summary([float(x) for x in sizes]) if sizes else None
        frames = probe.pop("frames")
        probe["frames_per_key"] = round(len(frames) / n, 2)
        probe["frame_cpu_ms"] = summary([f[0] for f in frames]) if frames else None
        probe["frame_bytes"] = summary([float(f[1]) for f in frames]) if frames else None
        probe["stages_ms"] = stages(stamps, probe["keys"], frames)
        done.write_text(json.dumps({**json.loads(done.read_text()), "stamps": stamps}))
        probe.pop("keys")
        if Path(f"{probe_out}.prof").exists():
            probe["probe_out"] = f"{probe_out}.prof"
        result["probe"] = probe
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
    parser.add_argument(
        "--probe",
        type=Path,
        metavar="OUT",
        help="run Unibox under benchmarks/_tmux_probe.py: CPU per thread, CPU and bytes of "
        "each frame over the j presses (the figures are then not quite the benchmark's)",
    )
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="with --probe: a cProfile (CPU time) of the app's main thread in OUT.prof "
        "(it triples the app's CPU)",
    )
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
        if args.probe:
            probe = [str(ROOT / ".venv/bin/python"), str(ROOT / "benchmarks/_tmux_probe.py")]
            probe += ["--cprofile"] if args.cprofile else []
            argv = [*probe, str(args.probe.resolve()), *argv[1:]]
        results["unibox"] = measure(
            tmux,
            "unibox",
            argv,
            ROOT,
            env,
            UNIBOX_ROW,
            args.starts,
            args.presses,
            probe_out=args.probe,
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
