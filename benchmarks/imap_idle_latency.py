"""How long the IMAP server itself takes to announce new mail: APPEND to a local Dovecot,
then wait on a bare IDLE connection (imapclient, no Unibox code) for the EXISTS.

This is the floor under `benchmarks/email_sync.py`'s push latency: what the server adds
before any client can know there is mail. Prints JSON (milliseconds).

    .venv/bin/python benchmarks/imap_idle_latency.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.dovecot import Dovecot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    dovecot = Dovecot()
    dovecot.start()
    try:
        user = dovecot.add_user()
        idle = dovecot.client(user)
        idle.select_folder("INBOX")
        idle.idle()
        waits: list[float] = []
        for i in range(args.runs):
            raw = (
                f"From: a@customer.example\r\nTo: support@example.com\r\nSubject: t{i}\r\n"
                f"Message-ID: <idle{i}@customer.example>\r\n\r\nhello\r\n"
            ).encode()
            dovecot.append(user, raw)
            appended = time.perf_counter()
            while True:
                responses = idle.idle_check(timeout=5)
                if any(
                    isinstance(r, tuple) and len(r) > 1 and r[1] == b"EXISTS" for r in responses
                ):
                    break
            waits.append((time.perf_counter() - appended) * 1000)
            time.sleep(0.1)
        waits.sort()
        print(
            json.dumps(
                {
                    "runs": len(waits),
                    "append_to_exists_ms": {
                        "p50": round(statistics.median(waits), 1),
                        "p95": round(waits[max(0, int(len(waits) * 0.95) - 1)], 1),
                        "min": round(waits[0], 1),
                        "max": round(waits[-1], 1),
                    },
                },
                indent=2,
            )
        )
    finally:
        dovecot.close()


if __name__ == "__main__":
    main()
