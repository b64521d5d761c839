"""Parse fetched mail in a worker process during a large sync.

Python runs one thread at a time, and an initial sync has two CPU-heavy halves: parsing
MIME (pure Python) and storing (SQLite). Threads do not help — a busy parsing thread starves
the storing thread, which gives the interpreter lock back on every SQLite call and then
waits to get it back. A second process does: the worker parses batch n+1 while this process
stores batch n, so both cores work. This process also parses a tail of each batch, sized so
that neither side waits for the other (`_Share`).

What crosses the pipe is kept plain: raw bytes in, flat tuples out (rebuilding dataclasses
from pickles cost more than half of what the worker saved, in an earlier attempt). The
worker holds no password: parsing needs the channel's settings and thread key only.

Below `MIN_MESSAGES` the worker is not started: spawning it and importing the parser costs
~0.3 s, more than parsing a few batches here, and push latency must stay low.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from ...core import clock
from ...core.commands import Incoming, Prepared, prepare
from .imap import Batch, FetchedMessage

MIN_MESSAGES = 2000
IN_FLIGHT = 3  # batches parsed ahead of the one being stored

Packed = tuple[Any, ...]
Items = list[Incoming | Prepared]
_worker_channel: Any = None  # the EmailChannel a worker process parses with


class _Share:
    """How much of each batch this process parses itself while the worker parses the rest.

    The worker is one process; this one stores. Which is slower depends on the mail (HTML and
    attachments cost the parser, long threads the store) and on what else the machine runs,
    so the split is measured as the sync goes: per message, the worker's parse time `w`, this
    process's parse time `h` and its other work `s` (storing). Both sides take equally long
    per batch when this process parses the fraction f = (w - s) / (w + h)."""

    MOST = 0.6  # of a batch parsed here, whatever the measurements say

    def __init__(self) -> None:
        self.fraction = 0.3
        self._per_message: dict[str, float] = {}  # "worker", "here", "other" -> seconds

    def split(self, messages: list[FetchedMessage]) -> int:
        """Where this process's tail of `messages` starts."""
        return len(messages) - round(len(messages) * self.fraction)

    def measured(self, what: str, seconds: float, count: int) -> None:
        if count <= 0:
            return
        value = seconds / count
        old = self._per_message.get(what)
        self._per_message[what] = value if old is None else 0.5 * old + 0.5 * value
        w, h, s = (self._per_message.get(k) for k in ("worker", "here", "other"))
        if w is not None and h is not None and s is not None and w + h > 0:
            self.fraction = min(self.MOST, max(0.0, (w - s) / (w + h)))


def parsed_batches(
    batches: Iterator[Batch],
    parse_here: Callable[[list[FetchedMessage]], list[Incoming]],
    channel_args: tuple[Any, ...],
) -> Iterator[tuple[Items, Batch]]:
    """(incoming items, batch) for each batch, in order. Once the sync is large enough a
    worker process (`channel_args` rebuild the channel there) parses the head of each batch
    while this process parses the tail; smaller syncs are parsed here."""
    pool: ProcessPoolExecutor | None = None
    share = _Share()
    pending: deque[tuple[Future[Any] | None, list[FetchedMessage], Batch]] = deque()

    def hand_over(
        entry: tuple[Future[Any] | None, list[FetchedMessage], Batch],
    ) -> Iterator[tuple[Items, Batch]]:
        items, batch = _collect(*entry, parse_here, share)
        handed = time.perf_counter()
        yield items, batch
        share.measured("other", time.perf_counter() - handed, len(batch.messages))

    try:
        for batch in batches:
            started = False
            if pool is None and batch.total - batch.done >= MIN_MESSAGES:
                pool = _start(channel_args)
                started = pool is not None
            if pool is None:
                yield list(parse_here(batch.messages)), batch
                continue
            if started:
                # The worker takes ~0.15 s to start: this batch is parsed here meanwhile.
                pending.append((None, batch.messages, batch))
            else:
                cut = share.split(batch.messages)
                head = [(m.uid, m.raw, m.internaldate) for m in batch.messages[:cut]]
                pending.append((pool.submit(_parse, head), batch.messages[cut:], batch))
            if len(pending) > IN_FLIGHT:
                yield from hand_over(pending.popleft())
        while pending:
            yield from hand_over(pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _start(channel_args: tuple[Any, ...]) -> ProcessPoolExecutor | None:
    try:
        # spawn, not fork: the TUI and the engine run threads, and a forked child can
        # inherit a lock some other thread held.
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(os.getpid(), *channel_args),
        )
        pool.submit(int)  # start the worker now, not with the first real batch
    except (OSError, ValueError, RuntimeError):
        return None  # no processes here (a locked-down host): parse in this one
    return pool


def _collect(
    work: Future[tuple[float, list[Packed | None]]] | None,
    tail: list[FetchedMessage],
    batch: Batch,
    parse_here: Callable[[list[FetchedMessage]], list[Incoming]],
    share: _Share,
) -> tuple[Items, Batch]:
    """The batch's items in order: the worker's head, then the tail parsed here (first,
    so the worker keeps working meanwhile)."""
    started = time.perf_counter()
    mine = parse_here(tail)
    share.measured("here", time.perf_counter() - started, len(tail))
    if work is None:
        return list(mine), batch
    seconds, packed = work.result()
    share.measured("worker", seconds, len(packed))
    return [*(unpack(p) for p in packed if p is not None), *mine], batch


def _init(parent_pid: int, *channel_args: Any) -> None:
    global _worker_channel
    from ...lifeline import die_with_parent

    die_with_parent(parent_pid)  # a killed sync must not leave its worker behind
    from .channel import EmailChannel

    _worker_channel = EmailChannel(*channel_args)


def _parse(messages: list[tuple[Any, ...]]) -> tuple[float, list[Packed | None]]:
    """(seconds it took, packed items) for raw messages, in the worker."""
    started = time.perf_counter()
    channel = _worker_channel
    now = clock.utcnow()
    out: list[Packed | None] = []
    for uid, raw, internaldate in messages:
        item = channel.to_incoming(FetchedMessage(uid, raw, internaldate))
        out.append(None if item is None else pack(prepare(item, now)))
    return time.perf_counter() - started, out


def pack(p: Prepared) -> Packed:
    i = p.inc
    incoming = (
        i.channel_id,
        i.identity_kind,
        i.identity_value,
        i.contact_name,
        i.body,
        i.created_at,
        i.subject,
        i.body_html,
        i.external_id,
        i.references,
        i.conversation_hint,
        tuple(i.flags),
        i.meta,
    )
    return (
        incoming,
        p.identity,
        p.name,
        p.at,
        p.preview,
        p.subject,
        p.flags,
        p.meta_json,
        p.message_id,
        p.attachments,
    )


def unpack(packed: Packed) -> Prepared:
    i = packed[0]
    incoming = Incoming(
        channel_id=i[0],
        identity_kind=i[1],
        identity_value=i[2],
        contact_name=i[3],
        body=i[4],
        created_at=i[5],
        subject=i[6],
        body_html=i[7],
        external_id=i[8],
        references=i[9],
        conversation_hint=i[10],
        flags=frozenset(i[11]),
        meta=i[12],
    )
    return Prepared(incoming, *packed[1:])
