"""The e-mail composer in the real app under Pilot, its replies delivered to a real SMTP
server (aiosmtpd) by the engine: To / Cc / Bcc, files, the quote, the signature, forward."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.mail import make_mail
from servers.smtp import SmtpServer
from test_email_engine import PASSWORD_ENV, Desk, make_desk
from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING


@pytest.fixture
def desk(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server)
    yield d
    d.ws.close()


def _app(desk: Desk, tmp_path: Path) -> UniboxApp:
    config = Config(path=tmp_path / "config.toml", agent="ana")
    config.undo_send_seconds = 0  # released at once: the test runs the engine itself
    return UniboxApp(desk.ws, config)


async def _conversation(desk: Desk) -> str:
    desk.box.append(
        make_mail(
            message_id="<c1@customer.example>",
            cc="Boss <boss@customer.example>",
            subject="Broken blender",
            body="It stopped working.",
        )
    )
    await asyncio.to_thread(desk.once)
    [conv] = [r.id for r in q.list_conversations(desk.ws, q.view("open", access=EVERYTHING)).rows]
    return conv


def _outgoing(desk: Desk, conv: str) -> list[q.MessageRow]:
    return [m for m in q.thread(desk.ws, conv, access=EVERYTHING) if m.kind == "outgoing"]


async def _type(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


async def test_fields_file_quote_and_signature_reach_the_smtp_server(
    desk: Desk, tmp_path: Path
) -> None:
    conv = await _conversation(desk)
    notes = tmp_path / "steps.txt"
    notes.write_text("1. unplug\n2. wait\n")
    app = _app(desk, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        composer = app.screen.composer
        fields = composer.fields
        assert composer.is_mail and app.focused is composer.editor
        # Prefilled from the thread (reply all): the customer, and who she copied.
        assert fields.to.value == "jane@customer.example"
        assert fields.cc.value == "boss@customer.example"
        # The signature that will be appended is shown.
        signature = str(app.screen.query_one("#composer-signature").render())
        assert "Regards," in signature and "Ana Lima" in signature
        await pilot.press("shift+tab")  # editor -> Bcc
        assert app.focused is fields.bcc
        await _type(pilot, "audit@example.com")
        await pilot.press("shift+tab")  # -> Cc
        await pilot.press("end")
        await _type(pilot, ", lead@example.org")
        await pilot.press("ctrl+l")  # attach: a path prompt
        await pilot.press("ctrl+u")
        await _type(pilot, str(notes))
        await pilot.press("enter")
        await until(lambda: fields.files == [str(notes)], what="the file is attached")
        assert "steps.txt" in str(app.screen.query_one("#mail-files").render())
        await pilot.press("ctrl+g")  # quote the customer's message
        assert fields.quote
        await _type(pilot, "Try this first.")
        await pilot.press("ctrl+s")
        await until(lambda: _outgoing(desk, conv), what="the reply is stored")
        await until(lambda: not composer.is_open, what="the composer closed")
    report = await asyncio.to_thread(desk.once)
    assert report.delivery.sent == 1
    [sent] = desk.smtp.messages
    msg = sent.message
    assert msg["To"] == "Jane Customer <jane@customer.example>"
    assert msg["Cc"] == "boss@customer.example, lead@example.org"
    assert msg["Bcc"] is None
    assert sorted(sent.rcpt_tos) == [
        "audit@example.com",
        "boss@customer.example",
        "jane@customer.example",
        "lead@example.org",
    ]
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Try this first.\n\nOn ")
    assert "Jane Customer wrote:\n> It stopped working." in text
    assert text.rstrip().endswith("-- \nRegards,\nAna Lima")
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "steps.txt"
    assert part.get_content().replace("\r\n", "\n") == "1. unplug\n2. wait\n"
    # Stored with the message, like incoming files.
    [out] = _outgoing(desk, conv)
    assert [a.filename for a in out.attachments] == ["steps.txt"]


async def test_reply_to_the_sender_only_drops_the_cc(desk: Desk, tmp_path: Path) -> None:
    await _conversation(desk)
    app = _app(desk, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("R")
        assert app.screen.composer.fields.cc.value == ""
        await _type(pilot, "Just you.")
        await pilot.press("ctrl+s")
        await until(lambda: not app.screen.composer.is_open, what="sent")
    await asyncio.to_thread(desk.once)
    [sent] = desk.smtp.messages
    assert sent.rcpt_tos == ["jane@customer.example"] and sent.message["Cc"] is None


async def test_forward_the_conversation_from_the_thread(desk: Desk, tmp_path: Path) -> None:
    conv = await _conversation(desk)
    app = _app(desk, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("F")
        await pilot.press("enter")  # the whole conversation (the first choice)
        await _type(pilot, "not-an-address")
        await pilot.press("enter")
        error = str(app.screen.query_one("#prompt-error").render())
        assert "'not-an-address' is not an e-mail address" in error  # the prompt stays
        await pilot.press("ctrl+u")
        await _type(pilot, "tech@supplier.example")
        await pilot.press("enter")
        await _type(pilot, "Can you look?")
        await pilot.press("enter")
        await until(lambda: _outgoing(desk, conv), what="the forward is stored")
    await asyncio.to_thread(desk.once)
    [sent] = desk.smtp.messages
    assert sent.rcpt_tos == ["tech@supplier.example"]
    assert sent.message["Subject"] == "Fwd: Broken blender"
    text = sent.message.get_body(("plain",)).get_content()
    assert text.startswith("Can you look?") and "It stopped working." in text
