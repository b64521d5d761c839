"""Slack notifications against a real HTTP server on 127.0.0.1: batched, rate-limited,
retried, escaped for mrkdwn (hostile customer names cannot ping @channel or forge links),
posted after commit by the engine, never from the ingest path; the webhook URL stays out of
the database and the logs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import T0, Team, later
from tests.core.test_cli import unibox
from tests.waiting import wait_for
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox, slack
from unibox_tui.engine import BackgroundEngine
from unibox_tui.slack_notifier import SlackNotifier

HOSTILE = "<!channel> & <https://evil.example|click here> @here"


class Hook:
    """A local stand-in for Slack's incoming webhook: records each POST's JSON and answers
    with the next status of `answers` (200 once they run out)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.answers: list[tuple[int, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, headers = hook.answers.pop(0) if hook.answers else (200, {})
                hook.posts.append({"path": self.path, "status": status, **json.loads(body)})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts if p["status"] == 200]

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    h = Hook()
    monkeypatch.setenv("SLACK_SUPPORT", h.url)
    yield h
    h.close()


@pytest.fixture
def team(team: Team) -> Team:
    cmd.set_agent(team.ws, "ana", role="admin")  # Slack settings are an admin's
    return team


def support_posts(team: Team, events: list[str] | None = None) -> None:
    cmd.set_slack(team.ws, "Support", "env:SLACK_SUPPORT", events, actor="ana")


def test_events_are_batched_escaped_and_rate_limited(team: Team, hook: Hook) -> None:
    support_posts(team)
    lines: list[str] = []
    notifier = SlackNotifier(team.ws, log=lines.append)
    conv = team.start("Please <b>help</b> & fast", name=HOSTILE, subject="<@U123> refund")
    assert hook.posts == []  # storing the message posted nothing: only the notifier does
    cmd.assign(team.ws, conv, "bo", actor="ana", now=later(1))
    cmd.comment(team.ws, conv, "@bo can you look? <!here>", actor="ana", now=later(2))
    assert notifier.tick(0.0) == 1
    [text] = hook.texts()
    new, assigned, mention = text.split("\n")
    escaped = "&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; @here"
    assert new == (f"*New conversation* from {escaped}: Support · email · “&lt;@U123&gt; refund”")
    assert assigned.startswith("*Assigned to Bo Chen* by Ana Lima: Support · email")
    assert assigned.endswith(f"({escaped})")
    assert mention.startswith("*Ana Lima mentioned @bo* in Support · email")
    assert mention.endswith("@bo can you look? &lt;!here&gt;")
    # Nothing a customer wrote can open a Slack control sequence: no raw < or > is left.
    assert "<" not in text and ">" not in text
    assert hook.posts[0]["path"] == "/services/T0/B0/secret-token"
    assert "link_names" not in hook.posts[0]

    # About one post a second per webhook: what comes sooner waits, then goes together.
    team.start("Second", who="dan@example.com", name="Dan", subject="Two", at=later(3))
    team.start("Third", who="eve@example.com", name="Eve", subject="Three", at=later(4))
    assert notifier.tick(0.5) == 0 and len(hook.posts) == 1
    assert notifier.tick(1.0) == 1
    assert hook.texts()[1].count("*New conversation*") == 2
    assert lines == []


def test_a_failed_post_is_retried_with_back_off(team: Team, hook: Hook) -> None:
    support_posts(team)
    lines: list[str] = []
    notifier = SlackNotifier(team.ws, log=lines.append)
    hook.answers = [(500, {}), (429, {"Retry-After": "5"})]
    team.start("Hello", name="Carla")
    assert notifier.tick(0.0) == 0  # 500: try again in 2 s
    assert notifier.tick(1.0) == 0 and len(hook.posts) == 1
    assert notifier.tick(2.0) == 0  # 429: Slack says 5 s
    assert notifier.tick(6.0) == 0 and len(hook.posts) == 2
    assert notifier.tick(7.0) == 1
    assert "*New conversation* from Carla" in hook.texts()[0]
    assert lines == [
        "slack: Support: post failed (HTTP 500); retrying in 2 s",
        "slack: Support: post failed (HTTP 429); retrying in 5 s",
    ]


def test_only_the_chosen_events_of_configured_inboxes(team: Team, hook: Hook) -> None:
    support_posts(team, ["failed_delivery"])
    notifier = SlackNotifier(team.ws)
    conv = team.start("Hi", name="Carla")
    team.start("Sales question", channel=team.sales_email, who="dan@example.com", name="Dan")
    reply = cmd.reply(team.ws, conv, "Answer", actor="ana", now=later(5))
    [entry] = [e for e in outbox.due(team.ws, later(60)) if e.message_id == reply]
    outbox.mark_failed(team.ws, entry.entry_id, "550 <mailbox> full & gone")
    assert notifier.tick(0.0) == 1
    [text] = hook.texts()
    assert text == (
        "*A reply could not be delivered* to Carla: Support · email · “Order late”: "
        "550 &lt;mailbox&gt; full &amp; gone"
    )


def test_the_webhook_url_stays_out_of_the_database_and_logs(
    team: Team, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    support_posts(team)
    lines: list[str] = []
    monkeypatch.delenv("SLACK_SUPPORT")
    notifier = SlackNotifier(team.ws, log=lines.append)
    team.start("Hi", name="Carla")
    notifier.tick(0.0)
    notifier.tick(1.0)
    assert lines == [
        "slack: Support: environment variable SLACK_SUPPORT is not set; export it and try "
        "again; its events are not posted"
    ]  # said once, not every second
    # With the URL back but nothing listening, the failure says why without the URL.
    monkeypatch.setenv("SLACK_SUPPORT", hook.url)
    hook.close()
    team.start("Again", who="dan@example.com", name="Dan", subject="Two", at=later(3))
    notifier.tick(2.0)
    assert len(lines) == 2 and lines[1].startswith("slack: Support: post failed (")
    assert all("secret-token" not in line and "127.0.0.1" not in line for line in lines)
    assert [c.to_json() for c in slack.configs(team.ws)] == [
        {"inbox": "Support", "webhook": "env:SLACK_SUPPORT", "events": list(slack.EVENTS)}
    ]
    team.ws.close()  # checkpoints the WAL: everything is in the file now
    assert b"secret-token" not in Path(team.ws.path).read_bytes()


def test_the_engine_posts_after_commit(team: Team, hook: Hook) -> None:
    support_posts(team)
    engine = BackgroundEngine(team.ws, use_lock=False, outbox_seconds=0.2)
    engine.start()
    try:
        team.start("Anyone?", name=HOSTILE, subject="Help", at=T0)
        texts = wait_for(hook.texts, what="the engine posted the new conversation")
    finally:
        engine.stop()
    assert texts[0].startswith("*New conversation* from &lt;!channel&gt;")


def test_cli_set_show_remove(team: Team, hook: Hook) -> None:
    db = str(team.ws.path)
    out = unibox(
        "slack", "set", "Support", "--webhook-env", "SLACK_SUPPORT", "--events",
        "new_conversation,failed_delivery", "--db", db, "--as", "ana", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "inbox": "Support",
        "webhook": "env:SLACK_SUPPORT",
        "events": ["new_conversation", "failed_delivery"],
    }
    shown = unibox("slack", "show", "--db", db, "--json")
    assert json.loads(shown.stdout)["slack"][0]["inbox"] == "Support"
    assert hook.url not in shown.stdout
    for bad, message in (
        (("--events", "everything"), "unknown Slack event"),
        (("--webhook-file", "/x"), "give one of"),
        ((), "give one of"),
    ):
        args = ["slack", "set", "Support", "--db", db, "--as", "ana", *bad]
        if bad and bad[0] == "--events":
            args += ["--webhook-env", "X"]
        if bad and bad[0] == "--webhook-file":
            args += ["--webhook-env", "X"]
        out = unibox(*args)
        assert out.returncode == 1 and message in out.stderr, out.stderr
    out = unibox("slack", "set", "Support", "--webhook-env", "X", "--db", db, "--as", "bo")
    assert out.returncode == 1 and "only an admin" in out.stderr
    out = unibox("slack", "remove", "Support", "--db", db, "--as", "ana", "--json")
    assert json.loads(out.stdout) == {"removed": True}
    assert json.loads(unibox("slack", "show", "--db", db, "--json").stdout) == {"slack": []}


def test_an_assignment_by_routing_is_posted(team: Team, hook: Hook) -> None:
    """Routing's assignment (core/routing.py) is an "assigned" event like a person's."""
    from datetime import UTC, datetime

    support_posts(team, ["assigned"])
    cmd.set_routing(team.ws, "Support", rules="round-robin", agents=["bo"], actor="ana")
    notifier = SlackNotifier(team.ws, log=lambda _line: None)
    now = datetime.now(UTC)  # routed: a message of today, not history from a first sync
    team.start("Routed to someone", who="dan@example.com", name="Dan", subject="Hi", at=now)
    assert notifier.tick(0.0) == 1
    [text] = hook.texts()
    assert text.startswith("*Assigned to Bo Chen*: Support · email"), text
