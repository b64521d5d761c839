"""Sender allow/deny lists, machine-mail detection, and our Message-ID tokens."""

from __future__ import annotations

import pytest
from servers.mail import make_mail

from unibox_tui.backends.email import tokens
from unibox_tui.backends.email.filters import SenderFilter, machine_flags
from unibox_tui.backends.email.mime import parse_email


def test_deny_addresses_and_domains() -> None:
    f = SenderFilter.from_lists(deny=["spammer@bad.example", "@junk.example", "evil.example"])
    assert f.denied("spammer@bad.example")
    assert f.denied("SPAMMER@Bad.Example")
    assert not f.denied("friend@bad.example")
    assert f.denied("anyone@junk.example")
    assert f.denied("x@mail.evil.example")  # subdomains too
    assert not f.denied("x@notevil.example")  # but not a suffix that is another domain
    assert not f.denied("jane@customer.example")


def test_allow_list_wins_and_allow_only_mode() -> None:
    f = SenderFilter.from_lists(allow=["vip@junk.example", "partner.example"], deny=["*"])
    assert not f.denied("vip@junk.example")
    assert not f.denied("a@partner.example")
    assert f.denied("someone@else.example")
    assert not SenderFilter().denied("a@b.example")  # empty lists deny nobody


def _flags(**headers: str) -> set[str]:
    return machine_flags(parse_email(make_mail(headers=headers)))


def test_person_mail_has_no_machine_flags() -> None:
    assert _flags() == set()
    assert _flags(**{"Auto-Submitted": "no"}) == set()
    assert _flags(**{"Return-Path": "<jane@customer.example>"}) == set()


@pytest.mark.parametrize(
    ("headers", "flag"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto_reply"),
        ({"Auto-Submitted": "auto-generated"}, "auto_reply"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"X-Autorespond": "Out of office"}, "auto_reply"),
        ({"Precedence": "auto_reply"}, "auto_reply"),
        ({"Return-Path": "<>"}, "auto_reply"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Precedence": "list"}, "bulk"),
        ({"Precedence": "junk"}, "bulk"),
        ({"List-Id": "<news.example.com>"}, "bulk"),
        ({"List-Unsubscribe": "<mailto:unsub@example.com>"}, "bulk"),
        ({"X-Failed-Recipients": "gone@example.com"}, "bounce"),
    ],
)
def test_machine_headers_are_recognised(headers: dict[str, str], flag: str) -> None:
    assert flag in _flags(**headers)


def test_bounces_by_sender_and_by_delivery_report() -> None:
    daemon = parse_email(make_mail(sender="MAILER-DAEMON@mx.example"))
    assert "bounce" in machine_flags(daemon)
    report = (
        b"From: postmaster@mx.example\r\nReturn-Path: <>\r\nSubject: Undelivered\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; gone@x\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--R--\r\n"
    )
    parsed = parse_email(report)
    assert parsed.has_delivery_status
    assert machine_flags(parsed) == {"bounce"}  # not also an auto-reply


KEY = "k" * 64


def test_tokens_round_trip_and_are_deterministic() -> None:
    mid = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000"
    cid = "0190aaaa-bbbb-7ccc-8ddd-eeeeffff1111"
    first = tokens.make_message_id(KEY, mid, cid, "Example.COM")
    assert first == tokens.make_message_id(KEY, mid, cid, "example.com")
    assert first.endswith("@example.com")
    token = tokens.verify(KEY, f"<{first}>")
    assert token == tokens.Token(mid, cid)
    assert tokens.conversation_hint(KEY, ["other@x", first]) == cid


def test_forged_or_foreign_tokens_are_rejected() -> None:
    real = tokens.make_message_id(KEY, "m1", "c1", "example.com")
    forged = real.replace(".c1.", ".c2.")
    assert tokens.verify(KEY, forged) is None
    assert tokens.verify("another-key", real) is None
    assert tokens.verify(KEY, "CAF1234@mail.gmail.com") is None
    assert tokens.conversation_hint(KEY, ["a@b", forged]) is None
    with pytest.raises(ValueError):
        tokens.make_message_id(KEY, "bad id", "c1", "example.com")
