"""A reply whose outcome is unknown is never sent again on its own (issue 15 item 1).

The SMTP server stores the message and is slow to answer 250; the engine (a real `unibox
sync` process) is killed with SIGKILL while it waits. After a restart the reply is shown as
"delivery uncertain" with the reason and the customer has it once; an agent's resend sends
it again, deliberately.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, Desk, _delivery, _queue_reply, make_desk

from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core.errors import InvalidRequest


def unibox(db: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.fixture
def desk(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server)
    yield d
    d.ws.close()


def _handed_over(desk: Desk, message_id: str) -> str | None:
    with desk.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT handed_over_at FROM outbox WHERE message_id = ?", (message_id,)
        ).scalar()


def test_engine_killed_while_smtp_stalls_delivers_once_then_uncertain(desk: Desk) -> None:
    env = {PASSWORD_ENV: desk.box.password}
    message_id = _queue_reply(desk)
    conv_id = desk.conversations()[0][0]
    desk.ws.close()
    desk.smtp.script(["stall"])

    engine = subprocess.Popen(
        [sys.executable, "-m", "unibox_tui", "sync", "--db", str(desk.path)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert desk.smtp.handler.stalled.wait(60), "the engine never handed the reply over"
        desk.reopen()
        # The hand-over was committed before the server had the message.
        assert _handed_over(desk, message_id) is not None
        assert _delivery(desk, message_id)[0] == "queued"
        engine.send_signal(signal.SIGKILL)
        engine.wait(30)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(30)
    desk.smtp.release()  # the server answers 250 to nobody: it has the message
    assert len(desk.smtp.messages) == 1

    # Restart: the reply is not sent again, and says why.
    restarted = unibox(desk.path, "sync", "--once", env=env)
    assert restarted.returncode == 0, restarted.stderr
    assert "1 of uncertain delivery" in restarted.stderr
    state, reason = _delivery(desk, message_id)
    assert state == "uncertain"
    assert reason is not None and "may or may not have arrived" in reason
    assert len(desk.smtp.messages) == 1
    again = unibox(desk.path, "sync", "--once", env=env)  # and never on its own
    assert again.returncode == 0 and len(desk.smtp.messages) == 1

    shown = unibox(desk.path, "conversations", "show", conv_id, "--json", env=env)
    [reply] = [m for m in json.loads(shown.stdout)["messages"] if m["id"] == message_id]
    assert reply["delivery_state"] == "uncertain" and "may or may not" in reply["delivery_error"]
    text = unibox(desk.path, "conversations", "show", conv_id, env=env).stdout
    assert "[uncertain]" in text and message_id in text

    # The agent resends it deliberately: delivered a second time, now recorded as sent.
    resent = unibox(desk.path, "conversations", "resend", message_id, "--as", "ana", env=env)
    assert resent.returncode == 0, resent.stderr
    assert _delivery(desk, message_id) == ("queued", None)
    sent = unibox(desk.path, "sync", "--once", env=env)
    assert sent.returncode == 0, sent.stderr
    assert len(desk.smtp.messages) == 2
    assert (
        desk.smtp.messages[0].message["Message-ID"] == desk.smtp.messages[1].message["Message-ID"]
    )
    assert _delivery(desk, message_id) == ("sent", None)
    # A sent reply is not resent or re-marked.
    refused = unibox(desk.path, "conversations", "resend", message_id, "--as", "ana", env=env)
    assert refused.returncode == 1 and "already sent" in refused.stderr
    assert refused.stderr.startswith("unibox: error: ") and "Traceback" not in refused.stderr


def test_mark_sent_settles_an_uncertain_reply(desk: Desk) -> None:
    message_id = _queue_reply(desk)
    [item] = outbox.due(desk.ws, datetime.now(UTC))
    with pytest.raises(InvalidRequest, match="uncertain"):
        cmd.mark_sent(desk.ws, message_id, actor="ana")  # queued: nothing to settle
    assert outbox.claim(desk.ws, item.entry_id)
    assert outbox.handed_over(desk.ws, item.entry_id)
    # ... the engine dies here. The next one (holding the engine lock) settles it at once.
    report = desk.once()
    assert report.delivery.uncertain == 1 and desk.smtp.messages == []
    result = unibox(desk.path, "conversations", "mark-sent", message_id, "--as", "ana", "--json",
                    env={PASSWORD_ENV: desk.box.password})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"message_id": message_id, "delivery_state": "sent"}
    assert _delivery(desk, message_id) == ("sent", None)
    desk.once(now=lambda: datetime.now(UTC) + timedelta(hours=1))
    assert desk.smtp.messages == []  # marked, never sent
    assert any("marked a reply as delivered" in body for _kind, body in _activities(desk))


def _activities(desk: Desk) -> list[tuple[str, str]]:
    with desk.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT kind, body FROM message WHERE kind = 'activity' ORDER BY rid"
        ).all()


def test_a_copy_found_in_sent_after_the_hand_over_counts_as_sent(
    desk: Desk,
) -> None:
    """The reply went out and the provider filed it in Sent (as Gmail does); the engine died
    before recording it."""
    message_id = _queue_reply(desk)
    with desk.engine() as engine:
        [item] = outbox.due(desk.ws, datetime.now(UTC))
        adapter = engine.adapter(engine.channels()[0])
        assert outbox.claim(desk.ws, item.entry_id)

        async def handover() -> None:
            assert outbox.handed_over(desk.ws, item.entry_id)

        _id, msg = adapter.build(item)  # type: ignore[attr-defined]
        asyncio.run(adapter.send(msg, handover))  # type: ignore[attr-defined]
        adapter.save_sent_copy(msg)  # type: ignore[attr-defined]
    desk.reopen()
    report = desk.once()  # no lease wait: a handed-over reply is never resent anyway
    assert report.delivery.sent == 1 and report.delivery.uncertain == 0
    assert len(desk.smtp.messages) == 1
    assert _delivery(desk, message_id) == ("sent", None)


def test_connection_lost_after_the_hand_over_is_uncertain_not_retried(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live engine whose SMTP connection drops after the message went out: not retried."""
    monkeypatch.setenv(PASSWORD_ENV, desk.box.password)
    message_id = _queue_reply(desk)
    desk.smtp.script(["drop"])
    report = desk.once()
    assert report.delivery.uncertain == 1 and report.delivery.retrying == 0
    assert _delivery(desk, message_id)[0] == "uncertain"
    desk.once(now=lambda: datetime.now(UTC) + timedelta(hours=2))
    assert desk.smtp.handler.attempts == 1
