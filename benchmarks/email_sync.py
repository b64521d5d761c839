"""E-mail channel benchmark against a local Dovecot, with mbsync (isync) as the yardstick.

Prints one JSON document:
- initial sync of N messages (default 20,000) into the cache (threaded, FTS-indexed), msg/s
- no-change resync time at N and at 10*N messages
- APPEND -> in the cache latency (IDLE push through the running engine), p50/p95 over 50
- peak RSS of this process
- mbsync pulling the same mailbox into a Maildir: initial msg/s and no-change time, ratios

Targets: initial >= 2x mbsync msg/s; no-change resync no slower than mbsync and flat from N
to 10*N; push p95 < 1 s.

    .venv/bin/python benchmarks/email_sync.py [--messages 20000] [--no-large]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from servers.dovecot import PASSWORD, Dovecot  # noqa: E402

from unibox_tui.core import commands as cmd  # noqa: E402
from unibox_tui.core.db import open_workspace  # noqa: E402
from unibox_tui.engine import Engine  # noqa: E402

WORDS = (
    "order delivery invoice refund account password login package tracking payment card "
    "subscription plan upgrade cancel broken screen battery warranty replacement address "
    "shipping customs return label please thanks hello regards urgent question problem "
    "error update help weekend monday tomorrow yesterday still waiting again support team"
).split()
NAMES = "Ana Bo Carla Dmitri Eve Farid Greta Hiro Ines Jonas Kemal Lena Mara Nico Olga".split()
SURNAMES = "Lima Chen Souza Ivanov Park Haddad Berg Sato Costa Weber Aydin Novak Rossi".split()


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


class Corpus:
    """Realistic support mail: threads of 1-6 messages, quoting, HTML, attachments, robots."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.customers = [
            (
                f"{self.rng.choice(NAMES)} {self.rng.choice(SURNAMES)}",
                f"c{i}@customer{i % 97}.example",
            )
            for i in range(4000)
        ]
        self.start = datetime.now(UTC) - timedelta(days=60)
        self.serial = 0

    def messages(self, count: int) -> list[bytes]:
        out: list[bytes] = []
        while len(out) < count:
            out.extend(self.thread(min(self.rng.randint(1, 6), count - len(out))))
        return out

    def copies(self, base: list[bytes], count: int) -> list[bytes]:
        """`count` more messages made from `base` by renaming their ids and subjects (building
        each with EmailMessage costs ~2 ms: too slow for the 10x mailbox)."""
        out: list[bytes] = []
        round_ = 0
        while len(out) < count:
            round_ += 1
            prefix = f"<r{round_}x".encode()
            tag = f"#{round_}-".encode()
            for raw in base[: count - len(out)]:
                head, sep, body = raw.partition(b"\n\n")
                head = re.sub(rb"<(\d+\.)", lambda m, p=prefix: p + m.group(1), head)
                out.append(head.replace(b" #", b" " + tag, 1) + sep + body)
        return out

    def thread(self, size: int) -> list[bytes]:
        rng = self.rng
        name, addr = rng.choice(self.customers)
        subject = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{rng.randint(1000, 99999)}"
        when = self.start + timedelta(minutes=rng.randint(0, 60 * 24 * 58))
        ids: list[str] = []
        mails = []
        for n in range(size):
            self.serial += 1
            mid = f"{self.serial}.{rng.getrandbits(40):x}@customer.example"
            msg = EmailMessage()
            msg["From"] = f"{name} <{addr}>"
            msg["To"] = "support@example.com"
            if rng.random() < 0.1:
                msg["Cc"] = f"colleague{rng.randint(1, 9)}@{addr.split('@')[1]}"
            msg["Subject"] = subject if n == 0 else f"Re: {subject}"
            msg["Date"] = format_datetime(when + timedelta(hours=n * rng.randint(1, 20)))
            msg["Message-ID"] = f"<{mid}>"
            if ids:
                msg["In-Reply-To"] = f"<{ids[-1]}>"
                msg["References"] = " ".join(f"<{i}>" for i in ids[-5:])
            if rng.random() < 0.04:
                msg["Auto-Submitted"] = "auto-replied"
            elif rng.random() < 0.04:
                msg["List-Id"] = "<news.example.com>"
                msg["Precedence"] = "bulk"
            body = "\n\n".join(
                paragraph(rng, rng.randint(15, 70)) for _ in range(rng.randint(2, 6))
            )
            if n:
                body += "\n\nOn an earlier day, Support wrote:\n> " + paragraph(rng, 40)
            style = rng.random()
            if style < 0.10:  # HTML only
                msg.set_content(
                    "<html><body>"
                    + "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
                    + "</body></html>",
                    subtype="html",
                )
            else:
                msg.set_content(body + f"\n\n{name}")
                if style < 0.40:
                    msg.add_alternative(
                        "<html><body>"
                        + "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
                        + "</body></html>",
                        subtype="html",
                    )
            if rng.random() < 0.08:
                data = rng.randbytes(rng.randint(3_000, 40_000))
                msg.add_attachment(
                    data, maintype="application", subtype="pdf", filename=f"scan{n}.pdf"
                )
            ids.append(mid)
            mails.append(msg.as_bytes())
        return mails


def _seed_child(
    maildir: str, home: str, count: int, start: int, seed: int, templated: bool
) -> float:
    corpus = Corpus(seed)
    if templated:
        base = corpus.messages(min(count, 5000))
        mails = base + corpus.copies(base, count - len(base))
    else:
        mails = corpus.messages(count)
    root = Path(maildir)
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    for i, raw in enumerate(mails, start):
        (root / "new" / f"{stamp}.M{i}P1.unibox-seed").write_bytes(raw)
    subprocess.run(["chown", "-R", "dovecot:dovecot", home], check=True)
    return round(sum(len(m) for m in mails) / 1e6, 1)


def seed_in_child(
    server: Dovecot, user: str, count: int, start: int, seed: int, *, templated: bool
) -> float:
    """Generate and write the mailbox in a child process, so this process's peak RSS is the
    engine's, not the generator's. Returns the megabytes written."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        maildir = str(server.maildir(user))
        home = str(server.root / "home" / user)
        return pool.apply(_seed_child, (maildir, home, count, start, seed, templated))


def warm(server: Dovecot, user: str) -> None:
    """Index the mailbox and pull the files into the page cache before anything is timed,
    so neither contender pays Dovecot's first indexing."""
    for path in server.maildir(user).rglob("*"):
        if path.is_file():
            # In chunks: Dovecot's index cache of a 200k mailbox is hundreds of MB, and a
            # whole read would be this process's peak RSS, reported as the engine's.
            with path.open("rb") as f:
                while f.read(1 << 20):
                    pass
    with server.client(user) as client:
        client.select_folder("INBOX", readonly=True)


def setup_workspace(path: Path, server: Dovecot, user: str) -> object:
    ws = open_workspace(path)
    cmd.create_inbox(ws, "Support")
    cmd.add_channel(
        ws,
        "Support",
        "email",
        "Support mail",
        "support@example.com",
        settings={
            "imap_host": server.host,
            "imap_port": server.port,
            "security": "none",
            "username": user,
            "password_source": "env:BENCH_PW",
            "smtp_host": "127.0.0.1",
            "smtp_port": 9,
        },
    )
    return ws


def run_once(ws: object) -> tuple[float, int]:
    with Engine(ws) as engine:  # type: ignore[arg-type]
        started = time.perf_counter()
        report = asyncio.run(engine.run_once())
        elapsed = time.perf_counter() - started
    errors = [c.error for c in report.channels if c.error]
    if errors:
        raise RuntimeError(errors[0])
    return elapsed, sum(c.new for c in report.channels)


def cache_counts(ws: object) -> dict[str, int]:
    with ws.read() as conn:  # type: ignore[attr-defined]
        one = lambda sql: int(conn.exec_driver_sql(sql).scalar_one())  # noqa: E731
        return {
            "messages": one("SELECT count(*) FROM message WHERE kind = 'incoming'"),
            "conversations": one("SELECT count(*) FROM conversation"),
            "fts_rows": one("SELECT count(*) FROM message_fts")
            if _has(conn, "message_fts")
            else -1,
        }


def _has(conn: object, table: str) -> bool:
    return bool(
        conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT 1 FROM sqlite_master WHERE name = ?", (table,)
        ).first()
    )


async def push_latency(
    ws: object, server: Dovecot, user: str, corpus: Corpus, count: int
) -> list[float]:
    stop = asyncio.Event()
    latencies: list[float] = []
    with Engine(ws, poll_seconds=600) as engine:  # type: ignore[arg-type]
        task = asyncio.create_task(engine.run(stop))
        deadline = time.monotonic() + 30
        while not engine._watchers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        appender = server.client(user)
        try:
            for raw in corpus.messages(count)[:count]:
                mid = raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode()
                started = time.perf_counter()
                await asyncio.to_thread(appender.append, "INBOX", raw)
                while time.perf_counter() - started < 10:
                    with ws.read() as conn:  # type: ignore[attr-defined]
                        if conn.exec_driver_sql(
                            "SELECT 1 FROM message WHERE external_id = ?", (mid,)
                        ).first():
                            break
                    await asyncio.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)
        finally:
            appender.logout()
            stop.set()
            await asyncio.wait_for(task, 30)
    return latencies


MBSYNC_CONF = """\
IMAPAccount bench
Host {host}
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore bench-remote
Account bench

MaildirStore bench-local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel bench
Far :bench-remote:
Near :bench-local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
"""


def mbsync_available() -> str | None:
    found = shutil.which("mbsync")
    if found:
        return found
    if os.geteuid() == 0:
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "isync"]):
            subprocess.run(argv, capture_output=True, timeout=600)
    return shutil.which("mbsync")


def mbsync_run(binary: str, conf: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([binary, "-q", "-c", str(conf), "-a"], capture_output=True, timeout=3600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mbsync failed: {done.stderr.decode(errors='replace')[-300:]}")
    return elapsed


def maildir_count(path: Path) -> int:
    return sum(1 for sub in ("cur", "new") for _ in (path / "INBOX" / sub).iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--large-factor", type=int, default=10)
    parser.add_argument("--no-large", action="store_true", help="skip the 10x resync step")
    parser.add_argument("--pushes", type=int, default=50)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="unibox-bench-"))
    server = Dovecot()
    server.start()
    os.environ["BENCH_PW"] = PASSWORD
    result: dict[str, object] = {"messages": args.messages}
    try:
        user = server.add_user("support@example.com")
        corpus = Corpus(seed=99)  # for the pushes; the mailbox is seeded by a child process
        t = time.perf_counter()
        result["mailbox_mb"] = seed_in_child(server, user, args.messages, 0, 7, templated=False)
        result["seed_seconds"] = round(time.perf_counter() - t, 1)
        warm(server, user)

        # --- ours: initial sync ---------------------------------------------------------
        ws = setup_workspace(work / "ws.db", server, user)
        elapsed, new = run_once(ws)
        counts = cache_counts(ws)
        result["initial_sync"] = {
            "seconds": round(elapsed, 2),
            "msgs_per_s": round(new / elapsed),
            **counts,
        }
        result["engine_peak_rss_mb_after_initial"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
        nochange = [run_once(ws)[0] for _ in range(3)]
        result["nochange_resync_s"] = {str(args.messages): round(min(nochange), 4)}

        # --- mbsync: same mailbox ------------------------------------------------------
        binary = mbsync_available()
        if binary:
            local = work / "mbsync"
            local.mkdir()
            conf = work / "mbsyncrc"
            conf.write_text(
                MBSYNC_CONF.format(
                    host=server.host, port=server.port, user=user, password=PASSWORD, local=local
                )
            )
            conf.chmod(0o600)
            m_initial = mbsync_run(binary, conf)
            pulled = maildir_count(local)
            m_nochange = min(mbsync_run(binary, conf) for _ in range(3))
            result["mbsync"] = {
                "initial_seconds": round(m_initial, 2),
                "msgs_per_s": round(pulled / m_initial),
                "pulled": pulled,
                "nochange_s": {str(args.messages): round(m_nochange, 4)},
            }
        else:
            result["mbsync"] = None
            result["mbsync_missing"] = "mbsync (Debian package isync) is not installed"

        # --- push latency --------------------------------------------------------------
        latencies = asyncio.run(push_latency(ws, server, user, corpus, args.pushes))
        latencies.sort()
        result["push_latency_s"] = {
            "count": len(latencies),
            "p50": round(statistics.median(latencies), 3),
            "p95": round(latencies[int(len(latencies) * 0.95) - 1], 3),
            "max": round(latencies[-1], 3),
            "engine_peak_rss_mb_after": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ),
        }

        # --- 10x mailbox: no-change resync again ---------------------------------------
        if not args.no_large:
            big = args.messages * args.large_factor
            extra = big - args.messages - args.pushes
            t = time.perf_counter()
            server.stop()
            seed_in_child(server, user, extra, args.messages + 10, 8, templated=True)
            server.start()
            warm(server, user)
            result["large_seed_seconds"] = round(time.perf_counter() - t, 1)
            elapsed, new = run_once(ws)
            result["large_catch_up"] = {
                "seconds": round(elapsed, 1),
                "msgs_per_s": round(new / elapsed),
                "engine_peak_rss_mb_after": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
            }
            nochange = [run_once(ws)[0] for _ in range(3)]
            result["nochange_resync_s"][str(big)] = round(min(nochange), 4)  # type: ignore[index]
            if binary:
                mbsync_run(binary, conf)  # pull the new mail first
                m_nochange = min(mbsync_run(binary, conf) for _ in range(3))
                result["mbsync"]["nochange_s"][str(big)] = round(m_nochange, 4)  # type: ignore[index]
        ws.close()  # type: ignore[attr-defined]

        result["engine_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
        ours = result["initial_sync"]["msgs_per_s"]  # type: ignore[index]
        if result.get("mbsync"):
            mb = result["mbsync"]
            result["ratios"] = {
                "initial_vs_mbsync": round(ours / mb["msgs_per_s"], 2),  # type: ignore[index]
                "nochange_vs_mbsync": {
                    size: round(value / mb["nochange_s"][size], 3)  # type: ignore[index]
                    for size, value in result["nochange_resync_s"].items()  # type: ignore[union-attr]
                    if size in mb["nochange_s"]  # type: ignore[index]
                },
            }
        result["targets"] = {
            "initial_2x_mbsync": bool(result.get("ratios"))
            and result["ratios"]["initial_vs_mbsync"] >= 2,  # type: ignore[index]
            "push_p95_under_1s": result["push_latency_s"]["p95"] < 1.0,  # type: ignore[index]
        }
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
