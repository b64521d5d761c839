"""Builders for realistic test mail (what a customer's client would send)."""

from __future__ import annotations

import sysconfig
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

# CPython's own e-mail test corpus (real-world oddities), shipped with the Python install.
CORPUS = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"


def make_mail(
    *,
    sender: str = "Jane Customer <jane@customer.example>",
    to: str = "support@example.com",
    subject: str = "Order 1234 has not arrived",
    body: str = "Hello,\nmy order has not arrived yet.\nJane",
    message_id: str | None = "<m1@customer.example>",
    in_reply_to: str | None = None,
    references: str | None = None,
    cc: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    date: datetime | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


# Hand-made broken mail: every one must be stored (flagged if need be), never a crash.
MALFORMED = {
    "empty": b"",
    "garbage": bytes(range(256)) * 4,
    "headers only": b"From: a@x.org\r\nSubject: no body",
    "nul bytes": b"From: a\x00@x.org\r\nSubject: \x00\x00\r\n\r\n\x00body\x00",
    "bad base64": (
        b"From: a@x.org\r\nSubject: s\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!@@@###"
    ),
    "bad quoted-printable": (
        b"From: a@x.org\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=4"
    ),
    "missing boundary": (
        b"From: a@x.org\r\nSubject: s\r\nContent-Type: multipart/mixed\r\n\r\nno parts"
    ),
    "unterminated multipart": (
        b'From: a@x.org\r\nContent-Type: multipart/mixed; boundary="X"\r\n\r\n--X\r\n'
        b"Content-Type: text/plain\r\n\r\ncut off here"
    ),
    "deep nesting": b"From: a@x.org\r\nSubject: deep\r\n"
    + b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
        for i in range(200)
    )
    + b"Content-Type: text/plain\r\n\r\nbottom\r\n",
    "bad content-type params": (
        b"From: a@x.org\r\nContent-Type: text/plain; charset=\"; name=*=''%%%\r\n\r\nbody"
    ),
    "huge header line": b"From: a@x.org\r\nSubject: " + b"A" * 200_000 + b"\r\n\r\nbody",
    "address soup": b'From: <<@>>, ,,, "\r\nTo: @@@\r\nCc: =?utf-8?B?=?=\r\n\r\nx',
    "truncated rfc822": (
        b'From: a@x.org\r\nContent-Type: multipart/mixed; boundary="X"\r\n\r\n--X\r\n'
        b"Content-Type: message/rfc822\r\n\r\nFrom: inner\r\nContent-Type: multipart/alt"
    ),
    "lone CR line endings": b"From: a@x.org\rSubject: cr\r\rbody\r",
    "binary attachment no headers": b"\x89PNG\r\n\x1a\n" + bytes(500),
}


def nested(levels: int, text: str = "found at the bottom") -> bytes:
    """A well-formed message whose text sits `levels` multiparts deep."""
    body = f"Content-Type: text/plain\r\n\r\n{text}\r\n"
    for i in range(levels, 0, -1):
        body = f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n{body}--b{i}--\r\n'
    head = "From: a@x.example\r\nSubject: deep\r\nMessage-ID: <deep@x.example>\r\n"
    return (head + "MIME-Version: 1.0\r\n" + body).encode()
