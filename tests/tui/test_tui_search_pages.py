"""Search in the TUI: pages load as the cursor nears the end, operators, marked matches."""

from __future__ import annotations

from tui_world import ago, incoming, settle
from waiting import until

from unibox_tui.core import commands as cmd
from unibox_tui.screens.search import LIMIT, SearchScreen


def many(demo, n: int, body: str = "zebra crossing question") -> list[str]:
    return [
        cmd.ingest(
            demo.ws,
            incoming(
                demo.channels["email"],
                "email",
                f"z{i}@example.com",
                f"Zed {i}",
                f"{body} {i}",
                ago(minutes=200 + i),
                subject=f"Crossing {i}",
            ),
        ).conversation_id
        for i in range(n)
    ]


async def test_scrolling_the_results_loads_the_next_page(make_app, demo, text_of) -> None:
    made = many(demo, LIMIT + 12)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zebra")
        await settle(pilot)
        search = app.screen
        assert isinstance(search, SearchScreen)
        assert len(search.hits) == LIMIT and search.next_cursor
        assert f"{LIMIT} results and more (scroll for them)" in text_of(app)
        for _ in range(LIMIT - 3):
            await pilot.press("down")
        await settle(pilot)
        await until(
            lambda: len(search.hits) == len(made) and search.next_cursor is None,
            what="the second page of results",
        )
        assert sorted(h.row.id for h in search.hits) == sorted(made)  # each once
        assert f"{len(made)} results · ↑↓" in text_of(app)
        # The rows loaded later open like the first ones.
        search.query_one("#search-results").highlighted = len(made) - 1
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.thread_row.id == search.hits[-1].row.id


async def test_scrolling_the_list_itself_loads_more(make_app, demo) -> None:
    made = many(demo, LIMIT + 3)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zebra")
        await settle(pilot)
        search = app.screen
        assert len(search.hits) == LIMIT
        search.query_one("#search-results").scroll_end(animate=False, immediate=True)
        await until(lambda: len(search.hits) == len(made), what="the page the scroll asked for")


async def test_operators_filter_and_a_bad_one_says_why(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"status", "colon", *"closed")
        await settle(pilot)
        assert [h.row.id for h in app.screen.hits] == [demo.conv["closed"]]
        app.screen.query_one("Input").value = "is status:pending"
        await settle(pilot)
        assert app.screen.hits == []
        assert "unknown status 'pending'; use status:open, status:snoozed" in text_of(app)
        app.screen.query_one("Input").value = '"unbalanced AND OR ('
        await settle(pilot)
        assert "result" in text_of(app)  # customer text is words, never an error


async def test_an_opened_result_marks_the_words_and_scrolls_to_them(make_app, demo) -> None:
    target = demo.conv["mail"]
    for i in range(40):  # a long thread: the match is far above its end
        text = "the okapi escaped, please advise" if i == 3 else f"note number {i}\nline two"
        cmd.comment(demo.ws, target, text, actor=demo.agents["ana"], now=ago(minutes=100 - i))
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"okapi", "enter")
        await settle(pilot)
        inbox = app.screen
        thread = inbox.thread
        assert inbox.thread_row.id == target and thread.marks == (("okapi", True),)
        assert 0 < thread.scroll_y < thread.max_scroll_y  # not left at the end
        visible = [
            seg.text
            for y in range(thread.size.height)
            for seg in thread.render_line(y)
            if seg.style and seg.style.reverse and seg.style.bold
        ]
        assert visible == ["okapi"]  # marked, and on screen
        # Another conversation shows no marks.
        await pilot.press("escape", "j")
        await settle(pilot)
        assert thread.marks == ()


async def test_marks_never_read_customer_text_as_markup(make_app, demo, text_of) -> None:
    cmd.comment(
        demo.ws, demo.conv["mail"], "[bold red]okapi[/] \x1b[31mokapi", actor=demo.agents["ana"]
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"okapi", "enter")
        await settle(pilot)
        text = text_of(app)
        assert "[bold red]okapi[/] okapi" in text and "\x1b" not in text


async def test_notifications_show_the_comment_that_mentions_you(make_app, demo, text_of) -> None:
    cmd.comment(
        demo.ws,
        demo.conv["chat"],
        "@ana can you call the courier? [b]today[/b]",
        actor=demo.agents["bo"],
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        text = text_of(app)
        assert "Bo Chen mentioned you: @ana can you call the courier? [b]today[/b]" in text
        assert "Hello? Is anyone there?" in text  # the subject follows, dim
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.thread_row.id == demo.conv["chat"]
