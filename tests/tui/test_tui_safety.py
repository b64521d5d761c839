"""Customer text is shown literally: Rich markup, ANSI/OSC escapes, C1 controls and bidi
overrides in names, subjects and bodies never style the screen or reach the terminal, and
a 10,000-character line does not break the layout."""

from __future__ import annotations

import pytest
from tui_world import settle
from waiting import until

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING

FORBIDDEN = ["\x1b", "\x9b", "\x9d", "\x85", "\x07", "\u202e", "\u202c"]


def assert_clean_screen(text: str, width: int, height: int) -> None:
    for ch in FORBIDDEN:
        assert ch not in text, f"{ch!r} reached the screen"
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == height
    from rich.cells import cell_len

    assert all(cell_len(line) == width for line in lines)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_hostile_row_and_thread_show_as_plain_text(make_app, demo, text_of, size) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("G")
        assert app.screen.conv_list.selected.id == demo.conv["evil"]
        text = text_of(app)
        assert "[bold red]M" in text  # the name, literally (cut with … when narrow)
        assert "[link=https://evil.test]" in text
        assert_clean_screen(text, *size)
        await pilot.press("enter", "g")  # open, read from the top
        await settle(pilot)
        text = text_of(app)
        assert "Hello [bold]agent[/bold]  cleared?" in text  # escapes removed, markup kept
        assert "gnp.exe" in text and "link done" in text
        assert "AAAAAAAAAAAAAAAAAAAA" in text  # the 10,000-character line wraps
        assert_clean_screen(text, *size)
        # The header (subject) is still on the top line: the layout held.
        assert "[link=https://evil.test]click me[/link] [blink]now[/blink]" in text.split("\n")[0]


async def test_hostile_text_is_not_styled(make_app, demo) -> None:
    """The spans on screen are ours (header bold, etc.), never the customer's markup."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("G", "enter")
        await settle(pilot)
        thread = app.screen.thread
        for strip in thread._lines:
            for seg in strip:
                if "[bold]agent[/bold]" in seg.text:
                    assert not (seg.style and seg.style.bold)
                assert seg.style is None or seg.style.link is None


async def test_hostile_text_in_sidebar_search_toasts_and_pickers(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("G", "p")
        text = text_of(app)
        assert "[bold red]Mallory[/bold red]" in text
        assert_clean_screen(text, 160, 48)
        await pilot.press("slash", *"click")
        await settle(pilot)
        text = text_of(app)
        assert "[link=https://evil.test]click me[/link]" in text
        assert_clean_screen(text, 160, 48)
        await pilot.press("escape")
        # A toast quoting hostile text (the assign notification quotes the subject).
        cmd.assign(demo.ws, demo.conv["evil"], "ana", actor="bo")
        await until(lambda: "Bo Chen assigned you" in text_of(app), what="the assignment toast")
        text = text_of(app)
        assert "Bo Chen assigned you: [link=https://evil.test]click" in text
        assert_clean_screen(text, 160, 48)


async def test_hostile_snippet_and_inbox_names(make_app, demo, text_of) -> None:
    cmd.save_snippet(demo.ws, "[red]evil\x1b[5m", "Body [bold]x[/bold]\x1b]0;t\x07")
    cmd.create_inbox(demo.ws, "[i]Ops\x1b[31m")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert "[i]Ops" in text_of(app)
        await pilot.press("r", "ctrl+t")
        text = text_of(app)
        assert "[red]evil" in text and "Body [bold]x[/bold]" in text
        assert_clean_screen(text, 160, 48)
        await pilot.press(*"evil", "enter")
        # Inserted as text (the TextArea would draw an escape character as is).
        assert app.screen.composer.editor.text == "Body [bold]x[/bold]"
        assert_clean_screen(text_of(app), 160, 48)


def test_ingest_keeps_the_raw_body(demo) -> None:
    """The UI cleans at display time; the stored body stays as received (evidence)."""
    body = queries.thread(demo.ws, demo.conv["evil"], access=EVERYTHING)[0].body
    assert "\x1b[2J" in body


async def test_a_form_submission_with_markup_shows_literally(make_app, demo, text_of) -> None:
    """What a customer types into a web form (fields, name, subject) is shown as typed."""
    sub = cmd.submit_form(
        demo.ws,
        demo.channels["form"],
        {
            "name": "[bold red]Zed[/bold red] <b>Quux</b>",
            "email": "zed@customer.example",
            "message": "Pricing [blink]zorbix[/blink] & <script>x</script> \\[escaped]",
        },
        "tui-literal-1",
    )
    assert not sub.duplicate
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zorbix")
        await settle(pilot)
        await until(lambda: "[bold red]Zed[/bold red]" in text_of(app), what="the result shows")
        await pilot.press("enter")
        await settle(pilot)
        text = text_of(app)
        assert "[bold red]Zed[/bold red] <b>Quux</b>" in text
        assert "Email: zed@customer.example" in text
        assert "Pricing [blink]zorbix[/blink] & <script>x</script> \\[escaped]" in text
        assert_clean_screen(text, 160, 48)
