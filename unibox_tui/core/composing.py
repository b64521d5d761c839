"""What an e-mail reply or forward carries besides its text: addresses (To, Cc, Bcc), files,
and the quoted message. Pure rules, no database: the reply and forward commands, the CLI and
the TUI's composer all check with these, so an address or a file is judged the same way
everywhere.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses
from pathlib import Path

from .errors import InvalidRequest
from .text import clean

# Files sent with one reply, in all. Bounded by what one command may carry to a team hub
# (hub/protocol.py MAX_PAYLOAD, 8 MB, with base64 taking 4/3 of the bytes).
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ADDRESSES = 50  # To + Cc + Bcc of one message
# name@domain.tld, no spaces; what a person types, not all of RFC 5322.
ADDRESS = re.compile(
    r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def parse_addresses(text: str | list[str] | None, what: str = "address") -> list[str]:
    """The addresses in a field ("Ana <ana@x.com>, bo@y.org"), lower-cased, once each.
    Raises InvalidRequest naming the first one that is not an address."""
    if text is None:
        return []
    parts = [text] if isinstance(text, str) else list(text)
    found: list[str] = []
    for part in parts:
        for chunk in re.split(r"[,;\n]", part):
            if not chunk.strip():
                continue
            pairs = getaddresses([chunk])
            address = pairs[0][1].strip() if len(pairs) == 1 else ""
            if not ADDRESS.match(address):
                raise InvalidRequest(
                    f"{what}: {clean(chunk.strip())[:60]!r} is not an e-mail address "
                    "(like name@example.com)"
                )
            found.append(address.lower())
    return list(dict.fromkeys(found))


@dataclass
class MailFields:
    """The e-mail parts of a reply being written (the composer's fields, kept in a draft)."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # paths, read when the reply is sent
    quote: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "files": self.files,
            "quote": self.quote,
        }

    @classmethod
    def from_json(cls, data: object) -> MailFields | None:
        if not isinstance(data, dict) or not data:
            return None

        def strings(key: str) -> list[str]:
            value = data.get(key)
            return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

        return cls(
            strings("to"),
            strings("cc"),
            strings("bcc"),
            strings("files"),
            data.get("quote") is True,
        )


def signature_for(signature: str, agent_name: str) -> str:
    """A channel's signature with {{agent.name}} / {{agent.first_name}} filled in: what the
    composer shows and what the e-mail channel appends when it sends."""
    first = agent_name.split()[0] if agent_name.split() else ""
    return (
        signature.replace("{{agent.name}}", agent_name)
        .replace("{{agent.first_name}}", first)
        .strip()
    )


def content_type(filename: str) -> str:
    """The MIME type a file is sent as, from its name (as the reply command stores it)."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def check_file(path: str, already: int = 0) -> int:
    """The size of a file to attach; InvalidRequest, one line, when it is missing, not a
    file, or would take the reply's files over MAX_ATTACHMENT_BYTES."""
    if not path.strip():
        raise InvalidRequest("no file named; type a path")
    p = Path(os.path.expanduser(path.strip()))
    if not p.exists():
        raise InvalidRequest(f"no file {str(p)!r}; check the path")
    if not p.is_file():
        raise InvalidRequest(f"{str(p)!r} is not a file")
    size = p.stat().st_size
    if already + size > MAX_ATTACHMENT_BYTES:
        raise InvalidRequest(
            f"{p.name} is {megabytes(size)}: files of one reply may total "
            f"{megabytes(MAX_ATTACHMENT_BYTES)} at most"
            + (f" ({megabytes(already)} already attached)" if already else "")
        )
    return size


def read_file(path: str, already: int = 0) -> tuple[str, bytes]:
    """(file name, bytes) of a file to attach; InvalidRequest as check_file, or unreadable."""
    check_file(path, already)
    p = Path(os.path.expanduser(path.strip()))
    try:
        return p.name, p.read_bytes()
    except OSError as e:
        raise InvalidRequest(f"cannot read {str(p)!r}: {e.strerror or e}") from None


def encode_files(paths: list[str]) -> list[tuple[str, str]]:
    """The files as the reply command takes them: (name, base64), checked as a whole."""
    out: list[tuple[str, str]] = []
    total = 0
    for path in paths:
        name, data = read_file(path, total)
        total += len(data)
        out.append((name, base64.b64encode(data).decode("ascii")))
    return out


def decode_files(files: list[tuple[str, str]] | None) -> list[tuple[str, str, bytes]]:
    """(name, content type, bytes) of the command's files; the size rule checked again (the
    command may come from a hub client)."""
    out: list[tuple[str, str, bytes]] = []
    total = 0
    for name, encoded in files or ():
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"the file {clean(name)[:80]!r} is not base64") from None
        total += len(data)
        if total > MAX_ATTACHMENT_BYTES:
            raise InvalidRequest(
                f"the files total more than {megabytes(MAX_ATTACHMENT_BYTES)}; send fewer"
            )
        safe = clean(os.path.basename(name.replace("\\", "/"))).strip()[:200] or "file"
        out.append((safe, content_type(safe), data))
    return out


def quoted(body: str, name: str, when: datetime | None) -> str:
    """The standard quoted reply: 'On DATE, NAME wrote:' then the text with '> '."""
    date = when.strftime("%a, %d %b %Y at %H:%M") if when else "an earlier date"
    lines = body.rstrip().splitlines() or [""]
    quoted_lines = "\n".join(">" + (" " + line if line else "") for line in lines)
    return f"On {date}, {name or 'they'} wrote:\n{quoted_lines}"


def forwarded(
    body: str, name: str, address: str | None, when: datetime | None, subject: str
) -> str:
    """One forwarded message, the way mail programs write it."""
    sender = f"{name} <{address}>" if name and address else (address or name or "unknown")
    date = when.strftime("%a, %d %b %Y %H:%M") if when else ""
    return (
        "---------- Forwarded message ---------\n"
        f"From: {sender}\nDate: {date}\nSubject: {subject}\n\n{body.rstrip()}"
    )
