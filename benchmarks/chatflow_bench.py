"""Chatflows: what a visitor's message costs the hub's writer when a bot answers it, and what
picking a chatflow for a page costs.

    .venv/bin/python benchmarks/chatflow_bench.py [--db /tmp/scratch.db] [--runs 200]

Without --db a new workspace is made in a temporary folder; with --db the file is WRITTEN TO
(a chat channel, 50 chatflows, conversations): give it a scratch copy, e.g. of a 100k demo, to
see the cost on a large workspace. Prints one JSON document: p50/p95/max in ms of
- `ingest_then_start`: a visitor's first message stored, then `bot_turn` starting the bot
  (opening + first answer: a validation re-ask), as the hub does for a new chat;
- `answer`: a valid answer that runs set_property, a ticket and the hand-off;
- `choose_chatflow`: the targeting of 50 enabled chatflows for one page;
- `expire_idle_tick`: `expire_bot_sessions` when nothing is due (the engine's 1 s tick).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import timings

from unibox_tui.core import chatflow_queries as fq
from unibox_tui.core import clock
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.chatflows import Context
from unibox_tui.core.db import open_workspace

BOT = """\
type = "bot"
priority = 100
welcome = "Hi!"

[[steps]]
id = "email"
type = "question"
text = "Your e-mail?"
validate = "email"
property = "email"

[[steps]]
type = "ticket"
title = "Chat from {{answers.email}}"

[[steps]]
type = "handoff"
text = "Connecting you."
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="a scratch copy: it is written to (default: a new file)")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or str(Path(folder.name) / "bench.db")
    with open_workspace(path) as ws:
        if not any(i.name == "Support" for i in q.inboxes(ws)):
            cmd.create_inbox(ws, "Support")
        chat = cmd.add_channel(ws, "Support", "chat", f"Bench chat {clock.utcnow():%H%M%S%f}")
        for i in range(49):
            text = f'type = "live_chat"\npriority = {i}\n[target]\nurl_contains = "/p{i}/"\n'
            cmd.save_chatflow(ws, f"bench live {chat} {i}", text, channel=chat)
        bot = cmd.save_chatflow(ws, f"bench bot {chat}", BOT, channel=chat)
        counter = iter(range(10**9))
        started: list[str] = []

        def ingest_then_start() -> None:
            n = next(counter)
            now = clock.utcnow()
            conv = cmd.ingest(
                ws,
                cmd.Incoming(chat, "chat", f"bench-visitor-{chat}-{n}", "", "hello", now),
            ).conversation_id
            cmd.bot_turn(ws, conv, "hello", now, chatflow_id=bot)
            started.append(conv)

        def answer() -> None:
            conv = started.pop()
            n = next(counter)
            cmd.bot_turn(ws, conv, f"v{n}@bench.example", clock.utcnow())

        page = Context(url="https://shop.example/p48/x?utm_source=ads")
        assert fq.choose_chatflow(ws, chat, page) is not None
        results = {
            "ingest_then_start": timings(ingest_then_start, args.runs),
            "answer": timings(answer, args.runs),
            "choose_chatflow": timings(lambda: fq.choose_chatflow(ws, chat, page), args.runs),
            "expire_idle_tick": timings(
                lambda: cmd.expire_bot_sessions(ws, clock.utcnow() - timedelta(hours=1)),
                args.runs,
            ),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
