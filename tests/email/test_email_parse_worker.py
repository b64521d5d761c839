"""A large sync parses in a worker process: what it hands back stores exactly like mail
parsed in this process, in the same order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from servers.mail import CORPUS, MALFORMED, make_mail

from unibox_tui.backends.email import parse_worker
from unibox_tui.backends.email.channel import EmailChannel
from unibox_tui.backends.email.imap import Batch, FetchedMessage, FolderState
from unibox_tui.backends.email.settings import EmailSettings
from unibox_tui.core.commands import Incoming, Prepared, prepare

KEY = "k" * 32


def _channel() -> tuple[EmailChannel, tuple[object, ...]]:
    settings = EmailSettings.from_dict(
        {"imap_host": "imap.invalid", "username": "u", "password_source": "env:NONE"},
        "support@example.com",
    )
    return EmailChannel("chan-1", settings, "", KEY), ("chan-1", settings, "", KEY)


def _batches(raws: list[bytes], size: int) -> list[Batch]:
    when = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    messages = [FetchedMessage(uid, raw, when) for uid, raw in enumerate(raws, 1)]
    return [
        Batch(messages[i : i + size], FolderState(1, min(i + size, len(raws))), i + size, len(raws))
        for i in range(0, len(messages), size)
    ]


def _comparable(item: Incoming | Prepared) -> Prepared:
    """A prepared item without its fresh ids (those differ on every run, by design)."""
    p = item if isinstance(item, Prepared) else prepare(item)
    return replace(p, message_id="", attachments=tuple(("", *a[1:]) for a in p.attachments))


def test_the_worker_gives_what_parsing_here_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [make_mail(subject=f"Order {n}", message_id=f"<m{n}@x>") for n in range(30)]
    raws += [make_mail(html="<p>only <b>html</b></p>", message_id="<h@x>")]
    raws += list(MALFORMED.values()) + [p.read_bytes() for p in sorted(CORPUS.glob("msg_*"))]
    channel, args = _channel()
    batches = _batches(raws, 10)

    # The threshold is the only thing changed: a test-sized sync goes to the worker.
    monkeypatch.setattr(parse_worker, "MIN_MESSAGES", 1)
    via_worker = list(parse_worker.parsed_batches(iter(batches), channel._incoming_batch, args))
    monkeypatch.setattr(parse_worker, "MIN_MESSAGES", 10**9)
    here = list(parse_worker.parsed_batches(iter(batches), channel._incoming_batch, args))

    assert [b for _, b in via_worker] == batches == [b for _, b in here]  # same order
    # After the first batch (parsed here while the worker starts) the worker parses the head
    # of each batch and this process its tail.
    kinds = [[type(item) for item in items] for items, _ in via_worker]
    assert set(kinds[0]) == {Incoming}
    assert all(Prepared in batch for batch in kinds[1:])
    assert any(Incoming in batch for batch in kinds[1:])
    worker_items = [_comparable(i) for items, _ in via_worker for i in items]
    here_items = [_comparable(i) for items, _ in here for i in items]
    assert len(worker_items) == len(raws)
    assert worker_items == here_items


def test_pack_and_unpack_keep_every_field() -> None:
    channel, _ = _channel()
    raw = make_mail(html="<p>x</p>", attachments=[("a.pdf", "application/pdf", b"%PDF-1")])
    item = channel.to_incoming(FetchedMessage(7, raw, None))
    assert item is not None
    prepared = prepare(item)
    assert parse_worker.unpack(parse_worker.pack(prepared)) == prepared


def test_this_process_parses_the_share_that_makes_both_sides_equally_busy() -> None:
    share = parse_worker._Share()
    messages = [FetchedMessage(n, b"", None) for n in range(1000)]
    # Per message: the worker parses in 150 µs, this process in 100 µs and stores in 50 µs.
    share.measured("worker", 0.150, 1000)
    share.measured("here", 0.010, 100)
    share.measured("other", 0.050, 1000)
    cut = share.split(messages)
    assert cut == 600  # the worker: 600 x 150 µs; here: 50 ms + 400 x 100 µs; both 90 ms
    share.measured("other", 0.350, 1000)  # storing got slow (its mean is now 200 µs)
    assert share.split(messages) == 1000  # the worker parses everything
    for _ in range(10):
        share.measured("other", 0.0, 1000)
        share.measured("here", 0.001, 1000)
    assert share.split(messages) == 400  # never more than 60% here
