"""Thread rendering (kinds, quotes, attachments), search with n/N, the contact sidebar."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from tui_world import NOW, settle
from waiting import until

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.screens import attachments
from unibox_tui.screens.pickers import PickerScreen, PromptScreen
from unibox_tui.screens.search import SearchScreen
from unibox_tui.widgets.contact_sidebar import ContactSidebar


async def test_thread_tells_every_kind_apart(make_app, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        text = text_of(app)
        assert "◀ Marta Silva · E-mail · 05:00 (5h)" in text
        assert "▶ Ana Lima → customer via E-mail · 06:00 (4h) · queued" in text
        assert "■ INTERNAL NOTE — only your team sees this · Ana Lima" in text
        assert "· Bo Chen assigned this to Ana Lima · 05:10 (4h)" in text
        assert "▪ invoice-1042.pdf · 5 B · application/pdf" in text
        assert "▪ huge.mov · 40.0 MB · video/quicktime · over 25 MB" in text
        # HTML bodies show as their text; quoted history is folded.
        assert "<p>" not in text and "my order #1042 still hasn't arrived" in text
        assert "··· quoted history, 3 lines (z shows it)" in text
        assert "> Your order has shipped." not in text
        await pilot.press("z")
        text = text_of(app)
        assert "> Your order has shipped." in text and "quoted history" not in text


async def test_comment_mentions_are_styled_only_for_teammates(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j")
        thread = app.screen.thread
        mention = thread._style("mention")
        styled = []
        for y in range(len(thread._lines)):
            for seg in thread._lines[y]:
                if seg.style and seg.style.color == mention.color and seg.style.bold:
                    styled.append(seg.text)
        assert "@bo" in styled and "@nobody" not in styled


async def test_save_an_attachment(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "A")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert [c.disabled for c in picker.shown] == [True, False]  # huge.mov was not kept
        await pilot.press("enter")  # the first enabled: invoice
        await pilot.press(*"save", "enter")
        prompt = app.screen
        assert isinstance(prompt, PromptScreen)
        assert prompt.query_one("Input").value.endswith("invoice-1042.pdf")
        prompt.query_one("Input").value = str(tmp_path)
        await pilot.press("enter")
        await settle(pilot)
        assert (tmp_path / "invoice-1042.pdf").read_bytes() == b"%PDF-"
        # Saving again never overwrites.
        await pilot.press("A", "enter", *"save", "enter")
        app.screen.query_one("Input").value = str(tmp_path)
        await pilot.press("enter")
        assert (tmp_path / "invoice-1042.pdf").read_bytes() == b"%PDF-"


async def test_search_opens_results_and_n_walks_them(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        search = app.screen
        assert isinstance(search, SearchScreen)
        await pilot.press(*"is")
        await settle(pilot)
        ids = [h.row.id for h in search.hits]
        assert {demo.conv["chat"], demo.conv["sales"]} <= set(ids)
        assert "Is there a discount for 50 seats" in text_of(app)
        await pilot.press("enter")
        await settle(pilot)
        inbox = app.screen
        assert inbox.thread_row.id == ids[0]
        await pilot.press("n")
        assert inbox.thread_row.id == ids[1]
        await pilot.press("N", "N")
        assert inbox.thread_row.id == ids[-1]
        # `/` again keeps the last query.
        await pilot.press("slash")
        assert app.screen.query_one("Input").value == "is"


async def test_search_finds_history_of_closed_conversations(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"danke")
        await settle(pilot)
        assert [h.row.id for h in app.screen.hits] == [demo.conv["closed"]]
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.thread_row.status == "closed"


async def test_sidebar_shows_the_contact_and_opens_past_conversations(
    make_app, demo, text_of
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "j", "p")  # Kenji on Messenger
        sidebar = app.screen.query_one(ContactSidebar)
        assert sidebar.is_open
        text = text_of(app)
        assert "Kenji Tanaka" in text and "email: kenji@example.jp" in text
        assert "messenger: psid-4411" in text
        await pilot.press("1", "p")  # Sales: Olga, with a ticket
        await pilot.press("p")
        assert "#1 Bulk discount for 50 seats?" in text_of(app)
        past = sidebar.query_one("#past")
        past.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.thread_row.id == demo.conv["sales"]


async def test_create_a_contact_for_an_unknown_visitor(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        assert "Unknown visitor — press C to" in text_of(app)
        await pilot.press("C")
        await pilot.press(*"Sam Rivera", "tab", *"sam@example.org", "ctrl+s")
        await settle(pilot)
        contact = queries.contact(
            demo.ws,
            queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).contact_id,
            access=EVERYTHING,
        )
        assert contact.name == "Sam Rivera"
        assert ("email", "sam@example.org") in contact.identities
        assert ("chat", "visitor-7f3a") in contact.identities
        assert "Unknown visitor" not in text_of(app)


async def test_a_long_thread_opens_at_its_newest_and_lays_out_the_rest(
    make_app, demo, text_of
) -> None:
    first = cmd.ingest(
        demo.ws,
        cmd.Incoming(
            demo.channels["chat"],
            "chat",
            "visitor-long",
            "Long Talker",
            "message number 0",
            NOW - timedelta(minutes=120),
        ),
    ).conversation_id
    for i in range(1, 120):
        cmd.ingest(
            demo.ws,
            cmd.Incoming(
                demo.channels["chat"],
                "chat",
                "visitor-long",
                "Long Talker",
                f"message number {i}",
                NOW - timedelta(minutes=120 - i),
            ),
        )
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.conv_list.selected.id == first  # the newest activity
        thread = screen.thread
        screen.show_thread(None)
        screen.show_thread(first)
        # At once: the newest messages, enough to fill the screen; older ones follow.
        assert not thread.laid_out and 28 <= len(thread._lines) < 120
        await pilot.pause()
        assert "message number 119" in text_of(app)
        await until(lambda: thread.laid_out, what="the older messages were laid out")
        assert "message number 119" in text_of(app)  # the view stayed at the end
        await pilot.press("tab", "g")
        assert "message number 0" in text_of(app)


async def test_open_an_attachment_with_the_system_opener(
    make_app, tmp_path: Path, monkeypatch
) -> None:
    # The opener is an outside program; here a shell that copies what it was given.
    seen = tmp_path / "opened.pdf"
    monkeypatch.setitem(attachments.OPENERS, sys.platform, ["sh", "-c", f'cp "$0" "{seen}"'])
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("j", "A", "enter", *"open", "enter")
        await settle(pilot)
        await until(seen.exists, what="the opener got the file")
        assert seen.read_bytes() == b"%PDF-"


async def test_a_third_party_shows_in_cc_and_the_customer_stays(make_app, demo, text_of) -> None:
    from unibox_tui.core.commands import Incoming

    cmd.ingest(
        demo.ws,
        Incoming(
            channel_id=demo.channels["email"],
            identity_kind="email",
            identity_value="mallory@evil.example",
            contact_name="Mallory",
            body="Please send the refund to my account instead.",
            created_at=NOW - timedelta(minutes=1),
            subject="Re: Order #1042 hasn't arrived",
            references=("<m1@example.com>",),
            external_id="<x1@evil.example>",
        ),
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.screen.open_conversation(demo.conv["mail"])
        await settle(pilot)
        text = text_of(app)
        assert "Marta Silva · cc mallory@evil.example · E-mail" in text
        assert "Mallory <mallory@evil.example> joined in CC" in text
        assert "◀ Mallory · E-mail" in text


def _huge_body() -> str:
    lines = [
        f"line {n:07d} of a very long log the customer pasted into the mail" for n in range(80_000)
    ]
    return "\n".join(lines)  # ~5.4 MB


async def test_a_5_mb_body_is_shown_in_part_and_e_shows_more(make_app, demo, text_of) -> None:
    from unibox_tui.core.commands import Incoming
    from unibox_tui.widgets.thread_view import LONG_BODY, MORE_STEP

    body = _huge_body()
    assert len(body) > 5_000_000
    conv = cmd.ingest(
        demo.ws,
        Incoming(
            channel_id=demo.channels["email"],
            identity_kind="email",
            identity_value="logs@example.com",
            contact_name="Log Paster",
            body=body,
            created_at=NOW - timedelta(minutes=1),
            subject="Here is the whole log",
            external_id="<log@example.com>",
        ),
    ).conversation_id
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.screen.open_conversation(conv)
        await settle(pilot)
        thread = app.screen.thread
        first = len(thread._lines)
        # A bounded number of lines (a log line wraps onto two here), not 80,000 of them.
        assert first < LONG_BODY // 15
        text = text_of(app)
        assert "line 0000000 of a very long log" not in text  # it opens at the end ...
        assert "··· the message goes on (e shows more)" in text  # ... at the marker
        await pilot.press("e")
        await settle(pilot)
        more = len(thread._lines)
        assert first < more < (LONG_BODY + MORE_STEP) // 15
        shown = "\n".join(s.text for s in thread._lines)
        # Lines wrap; their numbers come first: the shown ones run from the first line to
        # the last whole line before the cut, and no further.
        cut = body[: LONG_BODY + MORE_STEP].rfind("\n")
        last, after = body[:cut].rsplit("\n", 1)[-1][:12], body[cut + 1 : cut + 13]
        assert "line 0000000" in shown and last in shown and after not in shown
        # A live refresh of the thread keeps what e showed.
        app.screen.show_thread(conv, keep=True)
        await settle(pilot)
        assert len(thread._lines) == more
