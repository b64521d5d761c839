"""The e-mail composer's core: To / Cc / Bcc, files, the quoted message and forwards travel
with the reply through the outbox to a real SMTP server (aiosmtpd), and bad input is one
clear error with nothing stored."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.mail import make_mail
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, Desk, make_desk

from unibox_tui.core import commands as cmd
from unibox_tui.core import composing
from unibox_tui.core.errors import InvalidRequest


@pytest.fixture
def desk(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server)
    yield d
    d.ws.close()


def _conversation(desk: Desk, **mail: object) -> str:
    desk.box.append(
        make_mail(
            message_id="<c1@customer.example>",
            cc="Boss <boss@customer.example>",
            subject="Broken blender",
            body="It stopped working.\nPlease help.",
            **mail,
        )
    )
    desk.once()
    [(conv_id, *_rest)] = desk.conversations()
    return conv_id


def _counts(desk: Desk) -> tuple[int, int, int]:
    with desk.ws.read() as conn:
        return tuple(
            conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
            for t in ("message", "outbox", "attachment")
        )  # type: ignore[return-value]


def test_to_cc_bcc_and_files_reach_the_smtp_server(desk: Desk) -> None:
    conv = _conversation(desk)
    files = [("notes.txt", base64.b64encode(b"step 1\nstep 2\n").decode())]
    cmd.reply(
        desk.ws,
        conv,
        "Here is how.",
        actor="ana",
        to=["jane@customer.example", "Ops <ops@customer.example>"],
        cc=["lead@example.org"],
        bcc=["audit@example.com"],
        attachments=files,
    )
    assert desk.once().delivery.sent == 1
    [sent] = desk.smtp.messages
    msg = sent.message
    assert msg["To"] == "Jane Customer <jane@customer.example>, ops@customer.example"
    assert msg["Cc"] == "lead@example.org"  # the agent's Cc replaced the customer's
    assert msg["Bcc"] is None  # never in what the recipients get
    assert sorted(sent.rcpt_tos) == [
        "audit@example.com",
        "jane@customer.example",
        "lead@example.org",
        "ops@customer.example",
    ]
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "notes.txt"
    assert part.get_content_type() == "text/plain"
    assert part.get_content().replace("\r\n", "\n") == "step 1\nstep 2\n"
    # Stored like an incoming file.
    with desk.ws.read() as conn:
        assert conn.exec_driver_sql(
            "SELECT a.filename, a.size FROM attachment a JOIN message m ON m.id = a.message_id "
            "WHERE m.kind = 'outgoing'"
        ).all() == [("notes.txt", 14)]
    # The Sent copy keeps the Bcc, as mail programs do.
    with desk.box.server.client(desk.box.user) as client:
        client.select_folder("Sent", readonly=True)
        [uid] = client.search(["ALL"])
        raw = client.fetch([uid], ["BODY.PEEK[HEADER]"])[uid][b"BODY[HEADER]"]
    assert b"Bcc: audit@example.com" in raw


def test_quoted_reply_is_the_standard_form(desk: Desk) -> None:
    conv = _conversation(desk)
    with desk.ws.read() as conn:
        incoming = conn.exec_driver_sql(
            "SELECT id FROM message WHERE kind = 'incoming'"
        ).scalar_one()
    cmd.reply(desk.ws, conv, "We send a new one.", actor="ana", quote_message_id=incoming)
    desk.once()
    [sent] = desk.smtp.messages
    text = sent.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "We send a new one.\n\nOn " in text
    assert " Jane Customer wrote:\n> It stopped working.\n> Please help.\n" in text
    assert text.index("> Please help.") < text.index("-- \nRegards")  # signature after


def test_forward_the_conversation_and_one_message(desk: Desk) -> None:
    conv = _conversation(desk, attachments=[("scan.pdf", "application/pdf", b"%PDF-1.4 scan")])
    cmd.forward(desk.ws, conv, ["tech@supplier.example"], actor="ana", note="Can you look?")
    desk.once()
    [sent] = desk.smtp.messages
    msg = sent.message
    assert sent.rcpt_tos == ["tech@supplier.example"]
    assert msg["Subject"] == "Fwd: Broken blender"
    assert msg["In-Reply-To"] is None and msg["References"] is None
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Can you look?\n\n---------- Forwarded message ---------\n")
    assert "From: Jane Customer <jane@customer.example>" in text
    assert "It stopped working." in text
    assert [p.get_filename() for p in msg.iter_attachments()] == ["scan.pdf"]
    with desk.ws.read() as conn:
        line = conn.exec_driver_sql(
            "SELECT body FROM message WHERE kind = 'activity' ORDER BY rid DESC"
        ).first()[0]
    assert line == "Ana Lima forwarded this conversation to tech@supplier.example"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"to": ["not an address"]}, "To: 'not an address' is not an e-mail address"),
        ({"cc": ["a@b.example, bad@"]}, "Cc: 'bad@' is not an e-mail address"),
        ({"to": []}, "the reply needs someone in To"),
        (
            {"attachments": [("big.bin", base64.b64encode(b"x" * (6 << 20)).decode())]},
            "the files total more than 5.0 MB",
        ),
        ({"attachments": [("x.txt", "***")]}, "is not base64"),
    ],
)
def test_bad_input_is_one_clear_error_and_nothing_is_stored(
    desk: Desk, kwargs: dict, error: str
) -> None:
    conv = _conversation(desk)
    before = _counts(desk)
    with pytest.raises(InvalidRequest, match=error.replace("(", r"\(")):
        cmd.reply(desk.ws, conv, "text", actor="ana", **kwargs)
    assert _counts(desk) == before


def test_files_are_checked_before_they_are_read(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (composing.MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(InvalidRequest, match=r"big.bin is 5.0 MB: files of one reply may total"):
        composing.encode_files([str(big)])
    with pytest.raises(InvalidRequest, match=r"no file .*missing.txt.*; check the path"):
        composing.encode_files([str(tmp_path / "missing.txt")])
    with pytest.raises(InvalidRequest, match="is not a file"):
        composing.encode_files([str(tmp_path)])


def test_drafts_keep_the_mail_fields(desk: Desk) -> None:
    conv = _conversation(desk)
    mail = composing.MailFields(["jane@customer.example"], ["x@y.example"], [], ["/tmp/a"], True)
    cmd.save_draft(desk.ws, conv, "half", actor="ana", mail=mail.to_json())
    from unibox_tui.core import queries as q

    [row] = q.drafts(desk.ws, desk.agent).values()
    assert composing.MailFields.from_json(row.mail) == mail
