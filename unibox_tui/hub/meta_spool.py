"""The webhook spool: Meta's webhook bodies that the hub answered 200 and has not stored yet,
in an append-only file next to the workspace (`<workspace>.webhooks`).

Meta wants its 200 fast, and a 200 means "we have it": Meta does not send it again. So the
hub appends the signed body here before it answers, and stores it in a later batch
(hub/meta_http.py). A hub that stops in between (a crash, a kill, a restart) finds the
bodies here when it starts and stores them then. Storing is idempotent on the provider's ids
(`mid`, `wamid`; statuses never go back), so a body stored twice (the hub stopped after
storing it and before marking it done) changes nothing.

Each record is `MAGIC, length, crc32` then `kind NUL channel id NUL raw body`. The offset up
to which everything is stored is kept in `<spool>.done` (8 bytes); once all is stored the
spool is emptied. A record cut short (the machine lost power mid-write) and what follows it
are dropped when the spool is read.

Appends are plain `write(2)` calls without `fsync`: what was written survives the process
(the kernel holds it), not a power cut of the machine in the next seconds. One fsync per
webhook would cost more than the whole rest of the answer.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("unibox.hub.meta")
HEADER = struct.Struct(">4sII")
MAGIC = b"UBW1"
DONE = struct.Struct(">Q")


@dataclass(frozen=True)
class Record:
    kind: str
    channel_id: str
    raw: bytes
    end: int  # the spool offset just after this record


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.done_path = path.with_name(path.name + ".done")
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.done_fd = os.open(self.done_path, os.O_RDWR | os.O_CREAT, 0o600)
        self.end = os.fstat(self.fd).st_size

    @classmethod
    def beside(cls, workspace_path: Path) -> Spool:
        return cls(workspace_path.with_name(workspace_path.name + ".webhooks"))

    def append(self, kind: str, channel_id: str, raw: bytes) -> int:
        """Keep one body; returns the offset after it (what `stored` is told later)."""
        record = kind.encode() + b"\0" + channel_id.encode() + b"\0" + raw
        data = HEADER.pack(MAGIC, len(record), zlib.crc32(record)) + record
        written = os.write(self.fd, data)
        if written != len(data):  # a full disk: do not answer 200 for what is not kept
            raise OSError(f"the webhook spool took {written} of {len(data)} bytes")
        self.end += len(data)
        return self.end

    def stored(self, upto: int) -> None:
        """Everything up to offset `upto` is in the workspace. When that is all of it the
        spool is emptied, so it stays small while the hub keeps up."""
        if upto >= self.end:
            os.ftruncate(self.fd, 0)
            self.end = 0
            upto = 0
        os.pwrite(self.done_fd, DONE.pack(upto), 0)

    def pending(self) -> Iterator[Record]:
        """The records not yet stored (read when the hub starts, before any append)."""
        raw = os.pread(self.done_fd, DONE.size, 0)
        start = DONE.unpack(raw)[0] if len(raw) == DONE.size else 0
        if start > self.end:  # emptied after the mark was written: all of it is new
            start = 0
        offset = start
        with open(self.path, "rb") as f:
            f.seek(start)
            while True:
                head = f.read(HEADER.size)
                if not head:
                    return
                if len(head) < HEADER.size:
                    break
                magic, length, crc = HEADER.unpack(head)
                record = f.read(length)
                if magic != MAGIC or len(record) < length or zlib.crc32(record) != crc:
                    break
                offset += HEADER.size + length
                kind, channel_id, body = record.split(b"\0", 2)
                yield Record(kind.decode(), channel_id.decode(), body, offset)
        log.warning("webhook spool: a damaged record at offset %d; dropping the rest", offset)
        os.ftruncate(self.fd, offset)
        self.end = offset

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.done_fd)
