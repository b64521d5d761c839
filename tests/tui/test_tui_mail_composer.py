"""The e-mail composer under Pilot: its fields, bad input (one line, nothing lost), files,
$EDITOR, From, drafts that keep the fields; chat keeps the plain editor. Delivery to a
real SMTP server: tests/email/test_email_composer_tui.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tui_world import settle
from waiting import until

from unibox_tui.core import commands as cmd
from unibox_tui.core import composing, queries
from unibox_tui.core.access import EVERYTHING


def _outgoing(demo, conv: str) -> list[queries.MessageRow]:  # type: ignore[no-untyped-def]
    return [
        m
        for m in queries.thread(demo.ws, demo.conv[conv], access=EVERYTHING)
        if m.kind == "outgoing"
    ]


async def _type(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


def _shown(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(selector).render())


async def test_chat_keeps_the_plain_editor(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("r")  # the chat conversation is first
        composer = app.screen.composer
        assert composer.is_open and not composer.is_mail
        assert not composer.fields.display or not composer.fields.has_class("-on")


async def test_a_bad_address_is_one_line_and_nothing_is_lost(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        composer = app.screen.composer
        fields = composer.fields
        assert composer.is_mail and fields.to.value == "marta@example.com"
        await _type(pilot, "Checking now.")
        await pilot.press("shift+tab", "shift+tab")  # -> Cc
        assert app.focused is fields.cc
        await _type(pilot, "boss@")
        await pilot.press("tab")  # leaving the field names the mistake at once
        assert "Cc: 'boss@' is not an e-mail address" in _shown(app, "#mail-error")
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = _shown(app, "#mail-error")
        assert error.count("\n") == 0 and "Cc: 'boss@' is not an e-mail address" in error
        assert composer.is_open and composer.editor.text == "Checking now."
        assert fields.cc.value == "boss@" and not composer.editor.read_only
        assert len(_outgoing(demo, "mail")) == 1  # the one from the fixture: nothing sent
        # Mended, it goes.
        fields.cc.focus()
        await pilot.press("end")
        await _type(pilot, "acme.test")
        await pilot.press("ctrl+s")
        await until(lambda: len(_outgoing(demo, "mail")) == 2, what="the reply is stored")
        sent = _outgoing(demo, "mail")[-1]
        assert sent.meta["cc"] == ["boss@acme.test"] and sent.meta["to"] == ["marta@example.com"]


async def test_missing_and_too_big_files_are_refused_in_the_prompt(
    make_app, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(composing.MAX_ATTACHMENT_BYTES + 1)  # sparse: no 5 MB written
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        await _type(pilot, "See attached.")
        await pilot.press("ctrl+l", "ctrl+u")
        await _type(pilot, str(tmp_path / "nope.pdf"))
        await pilot.press("enter")
        assert "no file" in _shown(app, "#prompt-error") and "check the path" in _shown(
            app, "#prompt-error"
        )
        await pilot.press("ctrl+u")
        await _type(pilot, str(big))
        await pilot.press("enter")
        assert "big.bin is 5.0 MB: files of one reply may total 5.0 MB at most" in _shown(
            app, "#prompt-error"
        )
        await pilot.press("escape")
        composer = app.screen.composer
        assert composer.fields.files == [] and composer.editor.text == "See attached."
        # A file that vanished after it was attached: refused on send, nothing lost.
        gone = tmp_path / "gone.txt"
        gone.write_text("x")
        await pilot.press("ctrl+l", "ctrl+u")
        await _type(pilot, str(gone))
        await pilot.press("enter")
        assert composer.fields.files == [str(gone)]
        gone.unlink()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "no file" in _shown(app, "#mail-error")
        assert composer.is_open and composer.editor.text == "See attached."
        # ctrl+l lists the file: removing it.
        await pilot.press("ctrl+l", "down", "enter")
        assert composer.fields.files == []


async def test_path_completion(make_app, tmp_path: Path) -> None:
    (tmp_path / "invoice-2026.pdf").write_bytes(b"%PDF")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r", "ctrl+l", "ctrl+u")
        await _type(pilot, str(tmp_path / "inv"))
        await pilot.press("end")  # at the end, → / end takes the suggestion
        prompt = app.screen.query_one("#prompt-input")
        await until(
            lambda: prompt.value == str(tmp_path / "invoice-2026.pdf") or prompt._suggestion,
            what="a suggestion",
        )
        await pilot.press("right")
        assert prompt.value == str(tmp_path / "invoice-2026.pdf")


async def test_editor_opens_on_the_draft_and_reads_it_back(
    make_app, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "fake-editor"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "Written in my editor." >> "$1"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        await _type(pilot, "Hi Marta,")
        await pilot.press("ctrl+e")
        composer = app.screen.composer
        await until(lambda: "editor" in composer.editor.text, what="the text came back")
        assert composer.editor.text == "Hi Marta,\nWritten in my editor."
        assert app.focused is composer.editor
        # An editor that fails leaves the text as it was, with one line saying so.
        monkeypatch.setenv("EDITOR", "false")
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert composer.editor.text == "Hi Marta,\nWritten in my editor."
        monkeypatch.setenv("EDITOR", str(tmp_path / "no-such-editor"))
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert composer.editor.text == "Hi Marta,\nWritten in my editor."
        notes = [n.message for n in app._notifications]
        assert any("exited with status 1" in n for n in notes)
        assert any("set EDITOR to your editor" in n for n in notes)
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith("unibox-draft-")]
    assert leftovers == []


async def test_from_switches_among_the_inbox_addresses(make_app, demo) -> None:
    billing = cmd.add_channel(demo.ws, "Support", "email", "Billing mail", "billing@acme.test")
    cmd.update_channel(
        demo.ws, billing, settings={"signature": "Billing team\n{{agent.first_name}}"}
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        assert "support@acme.test" in _shown(app, "#mail-from")
        assert "no signature" in _shown(app, "#composer-signature")
        await pilot.press("ctrl+f")
        assert "billing@acme.test" in _shown(app, "#mail-from")
        assert "Billing team" in _shown(app, "#composer-signature")
        await _type(pilot, "From billing.")
        await pilot.press("ctrl+s")
        await until(lambda: len(_outgoing(demo, "mail")) == 2, what="sent")
    with demo.ws.read() as conn:
        channel, activity = conn.exec_driver_sql(
            "SELECT channel_id, (SELECT count(*) FROM message WHERE kind = 'activity' AND "
            "body LIKE '%continued%') FROM message WHERE body = 'From billing.'"
        ).one()
    assert channel == billing and activity == 0  # another address, not another channel kind


async def test_the_fields_survive_a_restart_in_the_draft(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        await _type(pilot, "Half a reply")
        await pilot.press("shift+tab")
        await _type(pilot, "audit@acme.test")
        await pilot.press("ctrl+g", "escape")
        await settle(pilot)
        await app.workers.wait_for_complete()
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        composer = app.screen.composer
        assert composer.editor.text == "Half a reply"
        assert composer.fields.bcc.value == "audit@acme.test"
        assert composer.fields.to.value == "marta@example.com" and composer.fields.quote


async def test_J_and_K_read_the_next_and_previous_conversation(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("enter")  # read the first (the chat)
        assert app.focused is screen.thread
        await pilot.press("J")
        assert screen.thread_row.id == demo.conv["mail"]
        assert screen.conv_list.selected.id == demo.conv["mail"] and app.focused is screen.thread
        await pilot.press("J", "K")
        assert screen.thread_row.id == demo.conv["mail"] == screen.conv_list.selected.id
        await pilot.press("K", "K")  # already the first: says so, stays
        assert screen.thread_row.id == demo.conv["chat"]
        assert any("No more conversations" in n.message for n in app._notifications)
        await pilot.press("x")  # acts on the conversation read
        await settle(pilot)
        closed = queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING)
        assert closed.status == "closed"
