"""The engine runs channels only through the adapter interface (backends/base.py): a second
adapter, registered for the chat kind, receives and delivers through the same engine code
that runs e-mail, and every outcome it reports lands in the outbox the same way. The engine
never touches the database on its event loop's thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from unibox_tui.backends import registry
from unibox_tui.backends.base import (
    AdapterContext,
    ChannelAdapter,
    DeliveryResult,
    Handover,
    OutboxItem,
    ReceiveReport,
)
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.core.errors import InvalidRequest
from unibox_tui.engine import Engine

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


class LoopbackChat(ChannelAdapter):
    """A chat channel whose "server" is this class: what it is told to answer, it answers."""

    kind = "chat"
    pulls = True
    delivers = True
    inbound: ClassVar[list[cmd.Incoming]] = []
    answers: ClassVar[list[str]] = []  # "sent", "retry", "failed", "uncertain", "crash"
    delivered: ClassVar[list[tuple[str, str | None, str]]] = []  # (key, recipient, body)

    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id

    @classmethod
    def from_channel(cls, channel: Any, context: AdapterContext) -> LoopbackChat:
        return cls(channel.id)

    def sync_key(self) -> str:
        return "loopback"

    def receive(self, state: dict[str, Any], store: Any, progress: Any) -> ReceiveReport:
        done = int(state.get("done", 0))
        fresh = [item for item in self.inbound[done:] if item.channel_id == self.channel_id]
        if fresh:
            store(fresh, {"done": done + len(fresh)})
        return ReceiveReport()

    async def deliver(self, item: OutboxItem, handover: Handover) -> DeliveryResult:
        answer = self.answers.pop(0) if self.answers else "sent"
        if answer == "retry":
            return DeliveryResult.retry("busy, later", after=60)
        if answer == "failed":
            return DeliveryResult.failed("the visitor left")
        await handover()
        self.delivered.append((item.idempotency_key, item.recipient, item.body))  # it got it
        if answer == "crash":
            raise RuntimeError("socket gone")
        if answer in ("partial-retry", "partial-uncertain"):  # the text went, a file did not
            parts = {"text": f"chat-{item.idempotency_key}"}
            outcome = answer.removeprefix("partial-")
            return DeliveryResult(outcome, parts["text"], "a file: no ack", parts=parts)
        if answer == "uncertain":
            return DeliveryResult.uncertain(
                "no ack from the widget", f"chat-{item.idempotency_key}"
            )
        return DeliveryResult.sent(f"chat-{item.idempotency_key}")


class ProbeWorkspace(Workspace):
    """Notes the thread of every database call."""

    threads: list[int]

    @contextmanager
    def read(self) -> Iterator[Any]:  # type: ignore[override]
        self.threads.append(threading.get_ident())
        with super().read() as conn:
            yield conn

    @contextmanager
    def write(self, now: datetime | None = None) -> Iterator[Any]:  # type: ignore[override]
        self.threads.append(threading.get_ident())
        with super().write(now) as tx:
            yield tx


@pytest.fixture
def loopback() -> Iterator[type[LoopbackChat]]:
    kinds, loaded = dict(registry._KINDS), dict(registry._loaded)
    registry.register("chat", LoopbackChat)
    LoopbackChat.inbound, LoopbackChat.answers, LoopbackChat.delivered = [], [], []
    yield LoopbackChat
    registry._KINDS.clear()
    registry._KINDS.update(kinds)
    registry._loaded.clear()
    registry._loaded.update(loaded)


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[ProbeWorkspace]:
    open_workspace(tmp_path / "ws.db").close()
    ws = ProbeWorkspace(tmp_path / "ws.db")
    ws.threads = []
    cmd.create_agent(ws, "Ana Lima", "ana")
    cmd.create_inbox(ws, "Support")
    yield ws
    ws.close()


def run_once(ws: Workspace, at: datetime) -> Any:
    with Engine(ws, now=lambda: at) as engine:
        return asyncio.run(engine.run_once())


def delivery(ws: Workspace, conv: str, message_id: str) -> tuple[str | None, str | None]:
    [m] = [m for m in q.thread(ws, conv, access=EVERYTHING) if m.id == message_id]
    return m.delivery_state, m.delivery_error


def test_a_second_adapter_receives_and_delivers_through_the_same_engine(
    loopback: type[LoopbackChat], probe: ProbeWorkspace
) -> None:
    chat = cmd.add_channel(probe, "Support", "chat", "Site chat")
    loopback.inbound.append(cmd.Incoming(chat, "chat", "visitor-9", "Vi", "hello?", NOW))
    report = run_once(probe, NOW)
    assert [(c.name, c.new, c.error) for c in report.channels] == [("Site chat", 1, None)]
    [row] = q.list_conversations(probe, q.view("open", access=EVERYTHING)).rows
    assert row.channel_kind == "chat"

    first = cmd.reply(probe, row.id, "Hi Vi!", actor="ana", now=NOW)
    loopback.answers[:] = ["retry"]
    report = run_once(probe, NOW + timedelta(seconds=1))
    assert report.delivery.retrying == 1 and loopback.delivered == []
    assert delivery(probe, row.id, first) == ("queued", "retrying: busy, later")
    probe.threads.clear()
    report = run_once(probe, NOW + timedelta(seconds=62))  # after the adapter's own wait
    # Every database call of that engine ran off the thread its event loop ran on (this one).
    assert probe.threads and threading.get_ident() not in probe.threads
    assert report.delivery.sent == 1
    assert loopback.delivered == [(first, "visitor-9", "Hi Vi!")]
    assert delivery(probe, row.id, first) == ("sent", None)

    second = cmd.reply(probe, row.id, "Still there?", actor="ana", now=NOW)
    third = cmd.reply(probe, row.id, "Bye", actor="ana", now=NOW)
    loopback.answers[:] = ["failed", "crash"]
    report = run_once(probe, NOW + timedelta(seconds=70))
    assert (report.delivery.failed, report.delivery.uncertain) == (1, 1)
    assert delivery(probe, row.id, second) == ("failed", "the visitor left")
    state, reason = delivery(probe, row.id, third)
    assert state == "uncertain" and "socket gone" in (reason or "")
    run_once(probe, NOW + timedelta(days=1))
    assert [d[0] for d in loopback.delivered] == [first, third]  # never again on its own


def _visitor_writes(
    loopback: type[LoopbackChat], probe: ProbeWorkspace
) -> tuple[str, q.ConversationRow]:
    """A site chat whose visitor said hello, received through the engine: the channel's id
    and the conversation."""
    chat = cmd.add_channel(probe, "Support", "chat", "Site chat")
    loopback.inbound.append(cmd.Incoming(chat, "chat", "visitor-9", "Vi", "hello?", NOW))
    run_once(probe, NOW)
    [row] = q.list_conversations(probe, q.view("open", access=EVERYTHING)).rows
    return chat, row


def test_later_statuses_never_take_a_message_back(
    loopback: type[LoopbackChat], probe: ProbeWorkspace
) -> None:
    chat, row = _visitor_writes(loopback, probe)
    sent = cmd.reply(probe, row.id, "One", actor="ana", now=NOW)
    unsure = cmd.reply(probe, row.id, "Two", actor="ana", now=NOW)
    loopback.answers[:] = ["sent", "uncertain"]
    run_once(probe, NOW + timedelta(seconds=1))
    assert delivery(probe, row.id, unsure)[0] == "uncertain"

    def status(mid: str, state: str, reason: str | None = None) -> bool:
        return cmd.apply_status(probe, chat, f"chat-{mid}", state, reason)

    assert status(sent, "read") and delivery(probe, row.id, sent) == ("read", None)
    assert not status(sent, "delivered")  # late and out of order: kept at read
    assert not status(sent, "failed", "131047")  # read wins over a late failure
    assert not status(sent, "read")  # twice: nothing new
    assert not cmd.apply_status(probe, chat, "not-ours", "read")
    # An uncertain reply the provider then reports delivered is settled: no resend offered.
    assert cmd.apply_status(probe, chat, f"chat-{unsure}", "delivered")
    assert delivery(probe, row.id, unsure) == ("delivered", None)
    with pytest.raises(InvalidRequest, match="has not failed"):
        cmd.resend(probe, unsure, actor="ana")
    assert status(unsure, "failed", "re-engagement window closed")
    assert delivery(probe, row.id, unsure) == ("failed", "re-engagement window closed")
    with pytest.raises(InvalidRequest, match="delivered, read or failed"):
        status(unsure, "opened")


def test_a_receipt_for_the_text_of_a_reply_still_going_out_in_parts_changes_nothing(
    loopback: type[LoopbackChat], probe: ProbeWorkspace
) -> None:
    """The text of a reply went out and a file did not (yet): the text's receipt neither
    shows the reply delivered while its file waits to be retried, nor settles one whose
    file is in doubt as sent."""
    chat, row = _visitor_writes(loopback, probe)
    waiting = cmd.reply(probe, row.id, "One", actor="ana", now=NOW)
    unsure = cmd.reply(probe, row.id, "Two", actor="ana", now=NOW)
    loopback.answers[:] = ["partial-retry", "partial-uncertain"]
    run_once(probe, NOW + timedelta(seconds=1))
    assert delivery(probe, row.id, waiting) == ("queued", "retrying: a file: no ack")
    assert delivery(probe, row.id, unsure)[0] == "uncertain"
    assert not cmd.apply_status(probe, chat, f"chat-{waiting}", "delivered")
    assert not cmd.apply_status(probe, chat, f"chat-{unsure}", "read")
    assert delivery(probe, row.id, waiting)[0] == "queued"
    assert delivery(probe, row.id, unsure)[0] == "uncertain"
    run_once(probe, NOW + timedelta(minutes=5))  # the retry: the rest goes out
    assert delivery(probe, row.id, waiting) == ("sent", None)
    assert cmd.apply_status(probe, chat, f"chat-{waiting}", "delivered")
