"""The MIME parser: real-world corpus, hand-made malformed mail, random bytes. Never raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers.mail import CORPUS, MALFORMED, make_mail, nested

from unibox_tui.backends.email.mime import (
    ParsedEmail,
    decode_header_text,
    message_ids,
    parse_email,
    raw_id,
)
from unibox_tui.core.text import clean


def _check_invariants(parsed: ParsedEmail, raw: bytes) -> None:
    assert isinstance(parsed.text, str)
    assert parsed.external_id
    assert parsed.date.tzinfo is not None
    assert parsed.size == len(raw)
    if parsed.unparsed:
        assert parsed.external_id == raw_id(raw)
        assert parsed.attachments[0].data == raw  # the raw mail is kept whole
    if parsed.partial:
        assert parsed.attachments[-1].data == raw  # read in part: kept whole as well


def test_cpython_email_corpus_parses_without_a_crash() -> None:
    files = sorted(CORPUS.glob("msg_*.txt"))
    if not files:
        pytest.skip(
            f"CPython's e-mail test corpus is not installed here (looked in {CORPUS}); "
            "install the Python test suite (e.g. Debian libpython3.11-testsuite) to run this"
        )
    assert len(files) >= 40
    parsed_ok = 0
    for path in files:
        raw = path.read_bytes()
        parsed = parse_email(raw)
        _check_invariants(parsed, raw)
        parsed_ok += not parsed.unparsed
    # Most of the corpus is real mail; only bare MIME fragments (no mail headers) end up raw.
    assert parsed_ok >= len(files) - 8


def test_corpus_details_are_decoded() -> None:
    if not (CORPUS / "msg_16.txt").exists():
        pytest.skip(f"CPython's e-mail test corpus is not installed here ({CORPUS})")
    bounce = parse_email((CORPUS / "msg_16.txt").read_bytes())
    assert bounce.from_address == "postmaster@ucla.edu"
    assert bounce.content_type == "multipart/report"
    digest = parse_email((CORPUS / "msg_02.txt").read_bytes())
    assert digest.subject.startswith("Ppp digest")
    assert len(digest.attachments) >= 1


def test_plain_text_is_preferred_and_html_is_kept() -> None:
    raw = make_mail(body="Plain words", html="<p>HTML <b>words</b></p>")
    parsed = parse_email(raw)
    assert parsed.text == "Plain words"
    assert parsed.html is not None and "<b>words</b>" in parsed.html
    assert parsed.from_address == "jane@customer.example"
    assert parsed.from_name == "Jane Customer"
    assert parsed.message_id == "m1@customer.example"


def test_html_only_mail_becomes_clean_text() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: hi\r\nMessage-ID: <h@x>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        b"<body><p>Hello <b>there</b></p><ul><li>one</li><li>two</li></ul></body></html>"
    )
    parsed = parse_email(raw)
    assert "Hello there" in parsed.text
    assert "one" in parsed.text and "two" in parsed.text
    assert "alert" not in parsed.text and "color" not in parsed.text and "<" not in parsed.text
    assert parsed.html is not None and "<b>there</b>" in parsed.html


def test_threading_headers() -> None:
    raw = make_mail(in_reply_to="<b@x>", references="<a@x> <b@x>")
    parsed = parse_email(raw)
    assert parsed.in_reply_to == ["b@x"]
    assert parsed.references == ["a@x", "b@x"]
    assert parsed.thread_ids == ("b@x", "a@x")


def test_message_ids_tolerate_junk() -> None:
    assert message_ids("<a@b> junk <c@d>") == ["a@b", "c@d"]
    assert message_ids("a@b") == ["a@b"]
    assert message_ids("") == []
    assert message_ids("no ids here") == []


def test_cc_and_to_are_kept() -> None:
    raw = make_mail(cc="Boss <Boss@Customer.example>, other@customer.example")
    parsed = parse_email(raw)
    assert parsed.cc == ["boss@customer.example", "other@customer.example"]
    assert parsed.to == ["support@example.com"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?B?w4lsw6huZQ==?=", "Élène"),
        ("=?iso-8859-1?Q?J=FCrgen_M=FCller?=", "Jürgen Müller"),
        ("=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab"),  # whitespace between words is dropped
        ("=?x-klingon?Q?abc?=", "abc"),  # unknown charset: fall back, keep the text
        ("=?utf-8?B?####?=", "=?utf-8?B?####?="),  # broken base64: keep it literally
        ("plain", "plain"),
    ],
)
def test_header_decoding(header: str, expected: str) -> None:
    assert decode_header_text(header) == expected


def test_an_osc8_link_in_a_quoted_sender_name_is_shown_without_a_trace() -> None:
    # In quotes, `ESC \` is a quoted-pair: the parser keeps the ESC and drops the `\`.
    raw = (
        b'From: "\x1b]8;;http://evil.example\x1b\\innocent\x1b]8;;\x1b\\ link probe" '
        b"<probe@evil.example>\r\nSubject: hi\r\nMessage-ID: <p@evil.example>\r\n\r\nhi\r\n"
    )
    assert clean(parse_email(raw).from_name) == "innocent link probe"


def test_raw_8bit_headers_are_decoded() -> None:
    utf8 = "Subject: Grüße aus Köln\r\nFrom: a@x.org\r\n\r\nhi\r\n".encode()
    assert parse_email(utf8).subject == "Grüße aus Köln"
    latin = "Subject: Grüße\r\nFrom: a@x.org\r\n\r\nhi\r\n".encode("latin-1")
    assert parse_email(latin).subject == "Grüße"


def test_body_charsets_with_fallback() -> None:
    body = "Ça coûte 10 €".encode("cp1252")
    raw = (
        b"From: a@x.org\r\nSubject: s\r\nContent-Type: text/plain; charset=x-unknown-cs\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    )
    assert parse_email(raw).text == "Ça coûte 10 €"
    koi8 = (
        b"From: a@x.org\r\nSubject: s\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
        + "Привет".encode("koi8-r")
    )
    assert parse_email(koi8).text == "Привет"


def test_attachments_and_size_limit() -> None:
    small = b"%PDF-1.4 tiny"
    big = b"x" * 5000
    raw = make_mail(
        attachments=[
            ("invoice.pdf", "application/pdf", small),
            ("dump.bin", "application/octet-stream", big),
        ]
    )
    parsed = parse_email(raw, attachment_limit=1000)
    by_name = {a.filename: a for a in parsed.attachments}
    assert by_name["invoice.pdf"].data == small
    assert by_name["invoice.pdf"].note is None
    assert by_name["dump.bin"].data is None
    assert by_name["dump.bin"].size == 5000
    assert "over the 1000 bytes limit" in (by_name["dump.bin"].note or "")
    assert parsed.text.startswith("Hello")


def test_rfc2231_and_encoded_filenames_are_decoded_and_made_safe() -> None:
    raw = (
        b"From: a@x.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain\r\n\r\nbody\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\r\n"
        b"A\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?Q?../../etc/passwd?="\r\n\r\nB\r\n'
        b"--B--\r\n"
    )
    names = [a.filename for a in parse_email(raw).attachments]
    assert names[0] == "résumé.pdf"
    assert "/" not in names[1]


def test_date_fallbacks() -> None:
    received = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    garbage = b"From: a@x.org\r\nDate: yesterday-ish\r\nSubject: s\r\n\r\nx"
    assert parse_email(garbage, received_at=received).date == received
    future = b"From: a@x.org\r\nDate: Mon, 1 Jan 3000 10:00:00 +0000\r\nSubject: s\r\n\r\nx"
    assert parse_email(future, received_at=received).date == received
    naive = b"From: a@x.org\r\nDate: Mon, 02 Nov 2026 10:00:00 -0000\r\nSubject: s\r\n\r\nx"
    assert parse_email(naive).date == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_forwarded_mail_names_the_original_sender() -> None:
    gmail = make_mail(
        sender="Agent Friend <friend@customer.example>",
        subject="Fwd: Broken blender",
        body=(
            "FYI see below\n\n---------- Forwarded message ---------\n"
            "From: Original Person <orig@elsewhere.example>\nDate: Mon, 2 Nov 2026\n"
            "Subject: Broken blender\n\nMy blender is broken."
        ),
    )
    assert parse_email(gmail).forwarded_from == ("Original Person", "orig@elsewhere.example")
    outlook = make_mail(
        subject="WG: Anfrage",
        body="-----Original Message-----\nFrom: Max Muster [mailto:max@muster.example]\nSent: x",
    )
    assert parse_email(outlook).forwarded_from == ("Max Muster", "max@muster.example")
    # A reply quoting a message is not a forward.
    reply = make_mail(
        subject="Re: Broken blender",
        body="Thanks\n\n-----Original Message-----\nFrom: orig@elsewhere.example\n",
    )
    assert parse_email(reply).forwarded_from is None


def test_forward_as_attached_message() -> None:
    inner = make_mail(sender="Inner Sender <inner@x.example>", subject="original")
    raw = (
        b"From: fwd@y.example\r\nSubject: Fwd: original\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--B--\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.forwarded_from == ("Inner Sender", "inner@x.example")
    assert parsed.attachments[0].content_type == "message/rfc822"


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_mail_is_kept_never_a_crash(name: str) -> None:
    raw = MALFORMED[name]
    parsed = parse_email(raw)
    _check_invariants(parsed, raw)
    if parsed.unparsed:
        assert parsed.subject == "(unreadable message)"


def test_a_message_nested_beyond_the_walk_limit_shows_its_text_flagged_and_kept() -> None:
    assert not parse_email(nested(20)).partial  # as deep as real mail ever goes: no flag
    raw = nested(200)
    parsed = parse_email(raw)
    _check_invariants(parsed, raw)
    assert parsed.text == "found at the bottom" and not parsed.unparsed
    assert parsed.partial and parsed.defects[0] == "nested deeper than 20 levels"
    assert [(a.filename, a.data) for a in parsed.attachments] == [("original.eml", raw)]


def test_a_message_with_too_many_parts_is_read_in_part_and_kept() -> None:
    parts = "".join(f"--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(1500))
    raw = (
        'From: a@x.example\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary="B"'
        f"\r\n\r\n{parts}--B--\r\n"
    ).encode()
    parsed = parse_email(raw)
    _check_invariants(parsed, raw)
    assert parsed.partial and parsed.defects[0].startswith("more than 1000 parts")
    assert "part 0" in parsed.text and "part 998" in parsed.text and "part 1499" not in parsed.text


def test_mail_without_headers_is_flagged_unparsed_with_stable_id() -> None:
    raw = MALFORMED["garbage"]
    first, second = parse_email(raw), parse_email(raw)
    assert first.unparsed
    assert first.external_id == second.external_id == raw_id(raw)


def test_a_parser_bug_still_yields_flagged_raw_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    from unibox_tui.backends.email import mime_tree

    def boom(*_a: object, **_k: object) -> None:
        raise RecursionError("simulated")

    # The stdlib parser fails; a lone CR sends the mail to it rather than the fast path.
    monkeypatch.setattr(mime_tree, "message_from_bytes", boom)
    raw = make_mail().replace(b"arrived", b"arrived\rstill", 1)
    parsed = parse_email(raw)
    assert parsed.unparsed
    assert "RecursionError" in parsed.defects[0]
    assert "my order has not arrived" in parsed.text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(raw: bytes) -> None:
    _check_invariants(parse_email(raw), raw)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300), st.sampled_from(["utf-8", "latin-1", "x"]))
def test_random_headers_and_bodies_never_crash(subject: str, body: str, charset: str) -> None:
    raw = (
        f"From: {subject[:20]} <a@x.org>\r\nSubject: {subject}\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n\r\n{body}"
    ).encode("utf-8", "surrogatepass")
    _check_invariants(parse_email(raw), raw)
