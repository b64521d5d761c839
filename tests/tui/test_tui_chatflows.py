"""The chatflows screen (enable/disable, bot reports) and ctrl+b in the reply editor (a
meeting link or a knowledge article, inserted; a chat reply sent with it carries a card)."""

from __future__ import annotations

import json

from tui_world import NOW, settle
from waiting import until

from unibox_tui.core import chatflow_queries as fq
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.screens.chatflows import ChatflowsScreen
from unibox_tui.screens.pickers import PickerScreen

BOT = """\
type = "bot"
priority = 5
bot_name = "Unibot"

[target]
url_contains = "/help"

[[steps]]
id = "email"
type = "question"
text = "Your e-mail?"
validate = "email"
"""
LIVE = 'type = "live_chat"\nwelcome = "Hi! [bold]We[/bold] reply fast."\n'


def flows(demo) -> None:  # type: ignore[no-untyped-def]
    cmd.set_agent(demo.ws, "ana", role="admin")
    bot = cmd.save_chatflow(demo.ws, "Help bot", BOT, channel=demo.channels["chat"], actor="ana")
    cmd.save_chatflow(demo.ws, "Live [red]chat", LIVE, channel=demo.channels["chat"], actor="ana")
    conv = demo.conv["chat"]
    cmd.bot_turn(demo.ws, conv, None, NOW, chatflow_id=bot)


async def test_the_chatflows_screen_lists_and_toggles(make_app, demo, text_of) -> None:
    flows(demo)
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.action_chatflows()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChatflowsScreen)
        text = text_of(app)
        assert "Help bot" in text and "Live [red]chat" in text  # a name is shown as text
        assert "1 started · 0 completed · 0 handed off · 0 abandoned" in text
        assert 'validate = "email"' in text  # the highlighted one's TOML
        await pilot.press("space")
        await until(
            lambda: not fq.chatflow(demo.ws, "Help bot").enabled, what="the bot is disabled"
        )
        await settle(pilot)
        assert "○ Help bot" in text_of(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, ChatflowsScreen)


async def test_the_palette_offers_chatflows(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        names = [c.title for c in app.get_system_commands(app.screen)]
        assert "Chatflows" in names


async def test_ctrl_l_inserts_an_article_and_the_chat_reply_carries_its_card(
    make_app, demo
) -> None:
    cmd.save_article(demo.ws, "Refunds", "https://help.acme.test/refunds", body="money back")
    cmd.save_article(demo.ws, "Shipping times", "https://help.acme.test/shipping")
    cmd.set_agent(demo.ws, "ana", meeting_link="https://cal.acme.test/ana")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.thread_row.id == demo.conv["chat"]
        await pilot.press("r", *"See ", "ctrl+b")
        assert isinstance(app.screen, PickerScreen)
        await pilot.press(*"money", "enter")  # searches the articles' text too
        assert not isinstance(app.screen, PickerScreen)
        assert screen.composer.editor.text == "See Refunds: https://help.acme.test/refunds"
        await pilot.press("ctrl+b", *"meeting", "enter")
        assert screen.composer.editor.text == (
            "See Refunds: https://help.acme.test/refunds "
            "Book a time with me: https://cal.acme.test/ana"
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        sent = queries.thread(demo.ws, demo.conv["chat"], access=EVERYTHING)[-1]
        assert sent.kind == "outgoing" and sent.body.startswith("See Refunds:")
        assert sent.meta["card"] == {"title": "Refunds", "url": "https://help.acme.test/refunds"}
        assert json.dumps(sent.meta)  # what the widget gets


async def test_ctrl_l_with_nothing_to_insert_says_how_to_add_some(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("r", "ctrl+b")
        await settle(pilot)
        assert not isinstance(app.screen, PickerScreen)
        assert "kb add" in text_of(app)


def test_chatflows_screen_snapshot(snap_compare, make_app, demo) -> None:
    flows(demo)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.action_chatflows()
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=run_before)


async def test_settings_knowledge_base_adds_edits_and_removes_an_article(make_app, demo) -> None:
    from test_tui_settings import fill
    from textual.widgets import TabbedContent

    from unibox_tui.screens.settings import ConfirmScreen, FieldsScreen

    app = make_app()  # Ana is an agent here: the knowledge base is everyone's
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot)
        settings = app.screen
        settings.query_one(TabbedContent).active = "articles"
        await pilot.pause()
        await pilot.press("n")
        assert isinstance(app.screen, FieldsScreen)
        await fill(pilot, app.screen, title="Refunds", url="https://help.acme.test/r", body="x")
        await pilot.press("ctrl+s")
        await until(lambda: fq.articles(demo.ws), what="the article is saved")
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, FieldsScreen)
        await fill(pilot, app.screen, url="https://help.acme.test/refunds")
        await pilot.press("ctrl+s")
        await until(
            lambda: fq.articles(demo.ws)[0].url.endswith("/refunds"), what="the URL changed"
        )
        await settle(pilot)
        assert [a.title for a in fq.articles(demo.ws)] == ["Refunds"]
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(lambda: not fq.articles(demo.ws), what="the article is removed")
