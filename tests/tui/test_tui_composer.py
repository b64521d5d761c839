"""The reply / comment editor: replies on the right channel, drafts, mentions, snippets."""

from __future__ import annotations

from tui_world import settle
from waiting import until

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.widgets.composer import Composer, EditorArea


def last_message(demo, conv: str) -> queries.MessageRow:
    return queries.thread(demo.ws, demo.conv[conv], access=EVERYTHING)[-1]


async def test_reply_goes_out_on_the_conversation_channel(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "r")
        composer = app.screen.composer
        assert composer.is_open and isinstance(app.focused, EditorArea)
        await pilot.press(*"Hi", "enter", *"on it")
        await pilot.press("ctrl+s")
        await settle(pilot)
        sent = last_message(demo, "mail")
        assert sent.kind == "outgoing" and sent.body == "Hi\non it"
        assert sent.channel_kind == "email" and sent.delivery_state == "queued"
        assert not composer.is_open and composer.editor.text == ""
        assert "▶ Ana Lima → customer via E-mail · 10:00 (now) · queued" in text_of(app)
        assert not queries.conversation(demo.ws, demo.conv["mail"], access=EVERYTHING).waiting


async def test_draft_is_kept_per_conversation(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("r", *"half", "escape")
        assert not screen.composer.is_open and app.focused is screen.thread
        await pilot.press("escape", "j")  # back to the list, next conversation: no draft
        assert app.focused is screen.conv_list
        assert screen.thread_row.id == demo.conv["mail"] and not screen.composer.is_open
        await pilot.press("r")
        assert screen.composer.editor.text == ""
        await pilot.press(*"hey", "escape", "escape", "k")
        # Back on the chat: its draft is shown again, the editor not yet focused.
        assert screen.thread_row.id == demo.conv["chat"]
        assert screen.composer.is_open and screen.composer.editor.text == "half"
        await pilot.press("r")
        assert app.focused is screen.composer.editor
        await pilot.press("escape", "escape", "j")
        assert screen.composer.editor.text == "hey"
        assert (
            queries.thread(demo.ws, demo.conv["chat"], access=EVERYTHING)[-1].kind == "incoming"
        )  # unsent


async def test_live_update_keeps_cursor_and_half_written_reply(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("j", "j")  # messenger
        assert screen.conv_list.selected.id == demo.conv["messenger"]
        await pilot.press("r", *"Norw")
        # Another process: a customer writes on the WhatsApp conversation (moves to the top).
        cmd.ingest(
            demo.ws,
            cmd.Incoming(
                demo.channels["whatsapp"],
                "whatsapp",
                "+351 912 345 678",
                "Lucía Moreno",
                "¿Hola?",
                queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).last_message_at,
            ),
        )
        await until(
            lambda: screen.conv_list.row_at(0).id == demo.conv["whatsapp"],
            what="the live poll moved the conversation to the top",
        )
        await settle(pilot)
        assert screen.conv_list.row_at(0).id == demo.conv["whatsapp"]
        assert screen.conv_list.selected.id == demo.conv["messenger"]
        assert screen.composer.editor.text == "Norw"
        assert app.focused is screen.composer.editor
        await pilot.press(*"ay")
        assert screen.composer.editor.text == "Norway"


async def test_comment_mentions_with_popup_and_notifies(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        composer: Composer = screen.composer
        await pilot.press("c", *"ask @")
        assert composer.popup.visible
        assert [a.handle for a in composer.popup.agents] == ["ana", "bo", "chiara"]
        await pilot.press("b")
        assert [a.handle for a in composer.popup.agents] == ["bo"]
        await pilot.press("tab")
        assert not composer.popup.visible
        assert composer.editor.text == "ask @bo "
        # Known handles are highlighted in the editor.
        assert composer.editor.mention_spans(0) == [(4, 7)]
        await pilot.press(*"a@b.c", "ctrl+s")
        await settle(pilot)
        note = last_message(demo, "chat")
        assert note.kind == "comment" and note.meta["mentions"] == ["bo"]
        bo_notes = queries.notifications(demo.ws, demo.agents["bo"])
        assert bo_notes[0].kind == "mention" and bo_notes[0].conversation_id == demo.conv["chat"]
        assert "INTERNAL NOTE — only your team sees this" in text_of(app)


async def test_mention_popup_keys(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        composer = app.screen.composer
        await pilot.press("c", "@", "down", "enter")
        assert composer.editor.text == "@bo "
        await pilot.press("@", "escape")
        assert not composer.popup.visible and composer.is_open
        await pilot.press("ctrl+r")  # to reply mode: no popup there
        await pilot.press("space", "@")
        assert composer.mode == "reply" and not composer.popup.visible


async def test_snippet_is_inserted_with_tokens_filled(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "j", "r", "ctrl+t")
        await pilot.press(*"thanks", "enter")
        assert app.screen.composer.editor.text == ("Hi Kenji, thanks for reaching out! — Ana")


async def test_continue_by_email_for_a_messenger_contact_with_an_address(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "j", "r", "ctrl+o")
        assert app.screen.composer.via_channel_id == demo.channels["email"]
        await pilot.press(*"by mail", "ctrl+s")
        await settle(pilot)
        thread = queries.thread(demo.ws, demo.conv["messenger"], access=EVERYTHING)
        reply = next(m for m in thread if m.kind == "outgoing")
        assert reply.channel_kind == "email" and reply.body == "by mail"
        assert any("continued this conversation by email" in m.body for m in thread)


async def test_continue_by_email_needs_an_address(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r", "ctrl+o")  # the chat visitor has no e-mail address
        await settle(pilot)
        assert app.screen.composer.via_channel_id is None
        assert "no e-mail address" in text_of(app)
