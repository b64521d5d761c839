"""Parse fetched mail in a worker process during a large sync.

Python runs one thread at a time, and an initial sync has two CPU-heavy halves: parsing
MIME (pure Python) and storing (SQLite). Threads do not help — a busy parsing thread starves
the storing thread, which gives the interpreter lock back on every SQLite call and then
waits to get it back. A second process does: the worker parses batch n+1 while this process
stores batch n, so both cores work.

What crosses the pipe is kept plain: raw bytes in, flat tuples out (rebuilding dataclasses
from pickles cost more than half of what the worker saved, in an earlier attempt). The
worker holds no password: parsing needs the channel's settings and thread key only.

Below `MIN_MESSAGES` the worker is not started: spawning it and importing the parser costs
~0.3 s, more than parsing a few batches here, and push latency must stay low.
"""

from __future__ import annotations

import multiprocessing
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
_worker_channel: Any = None  # the EmailChannel a worker process parses with


def parsed_batches(
    batches: Iterator[Batch],
    parse_here: Callable[[Batch], list[Incoming]],
    channel_args: tuple[Any, ...],
) -> Iterator[tuple[list[Incoming] | list[Prepared], Batch]]:
    """(incoming items, batch) for each batch, in order. Parsed in a worker process once
    the sync is large enough (`channel_args` rebuild the channel there), else here."""
    pool: ProcessPoolExecutor | None = None
    pending: deque[tuple[Future[list[Packed | None]] | list[Incoming], Batch]] = deque()
    try:
        for batch in batches:
            started = False
            if pool is None and batch.total - batch.done >= MIN_MESSAGES:
                pool = _start(channel_args)
                started = pool is not None
            if pool is None:
                yield parse_here(batch), batch
                continue
            if started:
                # The worker takes ~0.15 s to start: this batch is parsed here meanwhile.
                pending.append((parse_here(batch), batch))
            else:
                messages = [(m.uid, m.raw, m.internaldate) for m in batch.messages]
                pending.append((pool.submit(_parse, messages), batch))
            if len(pending) > IN_FLIGHT:
                yield _collect(*pending.popleft())
        while pending:
            yield _collect(*pending.popleft())
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
            initargs=channel_args,
        )
        pool.submit(int)  # start the worker now, not with the first real batch
    except (OSError, ValueError, RuntimeError):
        return None  # no processes here (a locked-down host): parse in this one
    return pool


def _collect(
    work: Future[list[Packed | None]] | list[Incoming], batch: Batch
) -> tuple[list[Incoming] | list[Prepared], Batch]:
    if isinstance(work, list):
        return work, batch
    return [unpack(p) for p in work.result() if p is not None], batch


def _init(*channel_args: Any) -> None:
    global _worker_channel
    from .channel import EmailChannel

    _worker_channel = EmailChannel(*channel_args)


def _parse(messages: list[tuple[Any, ...]]) -> list[Packed | None]:
    channel = _worker_channel
    now = clock.utcnow()
    out: list[Packed | None] = []
    for uid, raw, internaldate in messages:
        item = channel.to_incoming(FetchedMessage(uid, raw, internaldate))
        out.append(None if item is None else pack(prepare(item, now)))
    return out


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
