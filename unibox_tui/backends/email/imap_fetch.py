"""`UID FETCH (UID INTERNALDATE BODY.PEEK[])` read straight off the connection.

imapclient parses FETCH answers with a tokenizer that walks every byte outside the message
literals in Python and keeps every response in imaplib's untagged list first: on an initial
sync that was 75 µs a message, as much as our whole MIME parse. Here the command is sent on
imaplib's connection and the answer is read line by line with the literal taken in one read,
so the cost is a few regular-expression matches per message. Everything else on the
connection stays with imapclient; this reader consumes its answer to the tagged end, so
imapclient/imaplib never see it.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone

from imapclient import IMAPClient

from .errors import ChannelError, ConnectError

_TAGS = itertools.count(1)
_LITERAL = re.compile(rb"\{(\d+)\}\r\n\Z")
_FETCH = re.compile(rb"\* \d+ FETCH \(")
_UID = re.compile(rb"[( ]UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]*)"')
_BODY = re.compile(rb'BODY\[\] (?:\x00(\d+)\x00|NIL|"((?:[^"\\]|\\.)*)")')
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def fetch_bodies(client: IMAPClient, uids: list[int]) -> dict[int, tuple[bytes, datetime | None]]:
    """UID -> (raw message, INTERNALDATE as aware UTC) for the UIDs the server still has.
    Never sets \\Seen. Raises ChannelError for a refused command, ConnectError (via OSError
    from the socket) when the connection drops."""
    imap = client._imap
    tag = b"UBX%d" % next(_TAGS)
    imap.send(b"%s UID FETCH %s (UID INTERNALDATE BODY.PEEK[])\r\n" % (tag, sequence_set(uids)))
    found: dict[int, tuple[bytes, datetime | None]] = {}
    while True:
        head, literals = _response(imap)
        if head.startswith(tag + b" "):
            status, _, text = head[len(tag) + 1 :].partition(b" ")
            if status.upper() != b"OK":
                reason = text.decode("utf-8", "replace").strip()
                raise ChannelError(f"the IMAP server refused to fetch mail: {reason}")
            return found
        if not _FETCH.match(head):
            continue  # EXISTS, EXPUNGE, VANISHED, flag updates: the next sync handles them
        uid = _UID.search(head)
        body = _BODY.search(head)
        if uid is None or body is None:
            continue
        if body.group(1) is not None:
            raw = literals[int(body.group(1))]
        elif body.group(2) is not None:
            raw = re.sub(rb"\\(.)", rb"\1", body.group(2))
        else:
            raw = b""
        date = _INTERNALDATE.search(head)
        found[int(uid.group(1))] = (raw, internaldate(date.group(1)) if date else None)


def _response(imap: object) -> tuple[bytes, list[bytes]]:
    """One whole response: its text with each literal replaced by `\\0<n>\\0`, and the
    literals."""
    parts: list[bytes] = []
    literals: list[bytes] = []
    while True:
        line = imap.readline()  # type: ignore[attr-defined]
        if not line:
            raise ConnectError("the IMAP server closed the connection during a fetch")
        literal = _LITERAL.search(line)
        if literal is None:
            parts.append(line.rstrip(b"\r\n"))
            return b"".join(parts), literals
        size = int(literal.group(1))
        data = imap.read(size)  # type: ignore[attr-defined]
        if len(data) != size:
            raise ConnectError("the IMAP connection was lost in the middle of a message")
        parts.append(line[: literal.start()] + b"\x00%d\x00" % len(literals))
        literals.append(data)


def sequence_set(uids: list[int]) -> bytes:
    """[1, 2, 3, 7, 9, 10] -> b"1:3,7,9:10" (sorted input keeps the command short)."""
    out: list[bytes] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0] if ordered else 0
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        out.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
        start = prev = uid
    if ordered:
        out.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
    return b",".join(out)


def internaldate(value: bytes) -> datetime | None:
    """`21-Nov-2026 09:05:00 +0100` (day may be space-padded) -> aware UTC; None if odd."""
    try:
        day_month_year, clock, zone = value.decode("ascii").split()
        day, month, year = day_month_year.split("-")
        hour, minute, second = (int(x) for x in clock.split(":"))
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        stamp = datetime(
            int(year),
            _MONTHS[month.lower()],
            int(day),
            hour,
            minute,
            second,
            tzinfo=timezone(offset),
        )
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        return None
    return stamp.astimezone(UTC)
