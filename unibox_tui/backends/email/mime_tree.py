"""Raw mail -> the `email.message.Message` tree that `BytesParser(policy=compat32)` builds,
without the feed parser for mail that is well formed.

The stdlib's feed parser reads a message one line at a time in Python and compiles a fresh
regular expression for every multipart boundary (each message has its own, so the `re`
cache never helps): on an initial sync that was half of all parsing time. Most mail is
simple and well formed, and for that mail the tree is easy to build with string searches:
header lines, a blank line, and for multiparts the boundary lines.

`message_tree()` builds exactly the tree the stdlib would (same headers, raw values,
payload strings, preamble and epilogue) when the message is plainly well formed, and
otherwise hands the bytes to the stdlib parser. "Otherwise" is anything the feed parser
would record a defect for or treats specially: no blank line after the headers, a line that
is neither a header nor a continuation, a Unix "From " line, a lone CR, a multipart without
a boundary, a missing start or close boundary, empty parts, message/* parts and digests,
deep nesting. tests/email/test_email_mime_tree.py checks the two agree on CPython's corpus
and on generated mail.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import Message
from itertools import pairwise
from typing import Literal

_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+):([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)(?:\r?\n)")
_BLANK_LINE = re.compile(r"\n(\r?\n)")
# A Content-Type whose parameters are plain `name=value` or `name="value"`: no RFC 2231
# (`*`), no escapes, no angle brackets, nothing but blanks between them.
_SIMPLE_TYPE = re.compile(r"\s*[!#-'*-+.0-9A-Z^-~-]+/[!#-'*-+.0-9A-Z^-~-]+\s*")
_SIMPLE_PARAM = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"([^"\\<>]*)"|([^\s;"\\<>]*))\s*')
MAX_DEPTH = 8


class _Irregular(Exception):
    """The fast path does not handle this message: use the stdlib parser."""


def message_tree(raw: bytes) -> Message:
    """The compat32 message tree of `raw` (what `message_from_bytes` returns)."""
    text = raw.decode("ascii", "surrogateescape")
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return _stdlib(raw)  # a lone CR is a line break to the feed parser
    try:
        return _entity(text, 0)
    except _Irregular:
        return _stdlib(raw)


def _stdlib(raw: bytes) -> Message:
    return message_from_bytes(raw, policy=policy.compat32)


def _entity(text: str, depth: int) -> Message:
    """One MIME entity: headers, a blank line, a body."""
    if depth > MAX_DEPTH:
        raise _Irregular
    msg = Message()
    if text.startswith("From "):
        raise _Irregular  # a Unix mbox envelope line
    if text.startswith("\n") or text.startswith("\r\n"):
        body_start = 1 if text[0] == "\n" else 2  # no headers at all
    else:
        blank = _BLANK_LINE.search(text)
        if blank is None:
            raise _Irregular  # headers up to the end, or no separator
        header_end = blank.start() + 1
        body_start = blank.end()
        pos = 0
        headers = msg._headers  # type: ignore[attr-defined]
        while pos < header_end:
            found = _HEADER.match(text, pos)
            if found is None:
                raise _Irregular  # a line that is neither a header nor a continuation
            headers.append((found.group(1), found.group(2).lstrip(" \t").rstrip("\r\n")))
            pos = found.end()
        if pos != header_end:
            raise _Irregular
    body = text[body_start:]
    maintype = msg.get_content_maintype()
    if maintype == "message":
        raise _Irregular  # attached messages and delivery reports: the stdlib's job
    if maintype == "multipart":
        _multipart(msg, body, depth)
    else:
        msg._payload = body  # type: ignore[attr-defined]
    return msg


def content_type_param(msg: Message, name: str) -> str | Literal[False] | None:
    """`msg.get_param(name)` for a Content-Type with only simple parameters (most mail);
    False when the header is anything else (then ask the stdlib). The stdlib re-parses the
    whole header, RFC 2231 and all, on every call: a tenth of parse time went there."""
    value = msg.get("content-type")
    if not isinstance(value, str):
        return None if value is None else False
    found = _SIMPLE_TYPE.match(value)
    if found is None:
        return False
    params: dict[str, str] = {}
    pos, end = found.end(), len(value)
    while pos < end:
        param = _SIMPLE_PARAM.match(value, pos)
        if param is None:
            return False
        quoted, bare = param.group(2), param.group(3)
        params.setdefault(param.group(1).lower(), bare if quoted is None else quoted)
        pos = param.end()
    return params.get(name)


def content_charset(msg: Message) -> str | None:
    """`msg.get_content_charset()`: US-ASCII names only, lower case."""
    simple = content_type_param(msg, "charset")
    if simple is False:
        return msg.get_content_charset()
    return simple.lower() if simple is not None and simple.isascii() else None


def boundary(msg: Message) -> str | None:
    """`msg.get_boundary()`: trailing blanks are not part of it (RFC 2046)."""
    simple = content_type_param(msg, "boundary")
    if simple is False:
        return msg.get_boundary()
    return None if simple is None else simple.rstrip()


def _multipart(msg: Message, body: str, depth: int) -> None:
    separator = boundary(msg)
    if not separator or msg.get_content_subtype() == "digest":
        raise _Irregular  # no boundary; digests default their parts to message/rfc822
    encoding = str(msg.get("content-transfer-encoding", "8bit")).lower()
    if encoding not in ("7bit", "8bit", "binary"):
        raise _Irregular  # the stdlib records a defect
    lines = _boundary_lines("--" + separator, body)
    if len(lines) < 2 or not lines[-1][2]:
        raise _Irregular  # no start or no close boundary
    first_start = lines[0][0]
    if first_start:
        msg.preamble = _without_last_eol(body[:first_start])
    parts = []
    for (_, end, close), (next_start, _, _) in pairwise(lines):
        if close:
            raise _Irregular  # a part after the close boundary
        chunk = body[end:next_start]
        if not chunk:
            raise _Irregular  # doubled boundary lines
        part = _entity(chunk, depth + 1)
        # The line break before a boundary belongs to the boundary (RFC 2046), so it comes
        # off the part's payload, or off a nested multipart's epilogue.
        if isinstance(part._payload, list):  # type: ignore[attr-defined]
            tail = part.epilogue
            part.epilogue = _without_last_eol(tail) if tail else None
        else:
            part._payload = _without_last_eol(part._payload)  # type: ignore[attr-defined]
        parts.append(part)
    msg._payload = parts  # type: ignore[attr-defined]
    msg.epilogue = body[lines[-1][1] :]


def _without_last_eol(text: str) -> str:
    # Not a regex anchored with \Z: re.sub scans from the start of the string, which for a
    # large base64 attachment was a tenth of all parsing time.
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _boundary_lines(separator: str, body: str) -> list[tuple[int, int, bool]]:
    """(line start, line end after its line break, is the close boundary) of each boundary
    line, as the feed parser recognises them: the separator at the start of a line, then
    optional "--", optional blanks, then the end of the line."""
    out: list[tuple[int, int, bool]] = []
    size = len(separator)
    pos = 0
    while True:
        at = body.find(separator, pos)
        if at < 0:
            return out
        pos = at + size
        if at and body[at - 1] != "\n":
            continue
        rest = pos
        close = body.startswith("--", rest)
        if close:
            rest += 2
        while rest < len(body) and body[rest] in " \t":
            rest += 1
        if rest == len(body):
            out.append((at, rest, close))
            if close:
                return out
            continue
        if body.startswith("\r\n", rest):
            rest += 2
        elif body[rest] == "\n":
            rest += 1
        else:
            continue  # "--boundaryX": not a boundary line
        out.append((at, rest, close))
        if close:
            return out
