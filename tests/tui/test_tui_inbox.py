"""The inbox screen: views with counts, the Line API list, the thread, moving around."""

from __future__ import annotations

from tui_world import NOW, settle
from waiting import until

from unibox_tui import actions
from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.kinds import CHANNEL_KINDS
from unibox_tui.widgets.conversation_list import ConversationList
from unibox_tui.widgets.thread_view import ThreadView


async def test_views_list_and_thread_show_the_workspace(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        text = text_of(app)
        for label in (
            "Sales",
            "Support",
            "Mine",
            "Unassigned",
            "All open",
            "Snoozed",
            "Closed",
            "E-mail",
            "Live chat",
            "Messenger",
            "WhatsApp",
            "Forms",
        ):
            assert label in text
        counts = {e.key: (e.count, e.unread) for e in screen.views.entries}
        assert counts["open"] == (7, 7)
        assert counts["closed"] == (1, 1)
        assert counts["mine"] == (1, 1)
        assert counts["kind:email"][0] == 3
        lst = screen.conv_list
        assert isinstance(lst, ConversationList) and lst.total == 7
        # Newest activity first: the chat visitor wrote 12 minutes ago.
        assert lst.selected.id == demo.conv["chat"]
        assert "visitor-7f3a" in text and "12m" in text and "@ana" in text
        # The thread follows the cursor.
        assert screen.thread_row.id == demo.conv["chat"]
        assert "Hello? Is anyone there?" in text
        assert app.focused is lst


async def test_keys_move_the_cursor_and_the_thread_follows(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        lst = screen.conv_list
        await pilot.press("j")
        assert lst.cursor == 1 and screen.thread_row.id == demo.conv["mail"]
        await pilot.press("down", "down")
        assert lst.cursor == 3
        await pilot.press("k")
        assert lst.cursor == 2
        await pilot.press("G")
        assert lst.cursor == 6 and screen.thread_row.id == demo.conv["evil"]
        await pilot.press("j")  # at the bottom: stays
        assert lst.cursor == 6
        await pilot.press("g")
        assert lst.cursor == 0 and screen.thread_row.id == demo.conv["chat"]
        await pilot.press("k")
        assert lst.cursor == 0


async def test_the_row_below_the_cursor_is_rendered_before_j_even_when_its_messages_are_cached(
    make_app,
) -> None:
    """Moving onto a row must find its thread drawn already: after the cursor lands, the
    row below is rendered into the thread's block cache, also when its messages were
    fetched before and its blocks have left that cache since (a long message's pieces
    push them out)."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("j", "j")  # rows 1 and 2 shown: their messages are cached
        await settle(pilot)
        below = screen.conv_list.row_at(1)
        assert below.id in screen._threads
        newest = screen._threads[below.id][-1].id
        screen.thread._blocks.clear()
        await pilot.press("g")  # to row 0, past row 1 without showing it
        await settle(pilot)
        assert screen.conv_list.cursor == 0
        assert any(key[0] == newest for key in screen.thread._blocks)


async def test_number_keys_jump_to_views(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("6")
        await settle(pilot)
        assert screen.entry.key == "snoozed"
        assert screen.conv_list.total == 1
        assert screen.conv_list.selected.id == demo.conv["snoozed"]
        await pilot.press("7")
        assert screen.entry.key == "closed"
        assert screen.conv_list.selected.id == demo.conv["closed"]
        await pilot.press("1")  # the first inbox: Sales
        assert screen.entry.label == "Sales"
        assert screen.conv_list.selected.id == demo.conv["sales"]


async def test_every_channel_kind_view_has_a_key_of_its_own(make_app, demo, text_of) -> None:
    """Messenger, WhatsApp, Forms and Forwarded fell past 9 and had no key: each kind has one."""
    kinds = {kind for kind, _key, _label in actions.KIND_VIEW_KEYS}
    assert kinds == set(CHANNEL_KINDS)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        for key, kind in (
            ("number_sign", "messenger"),
            ("dollar_sign", "whatsapp"),
            ("percent_sign", "form"),
            ("circumflex_accent", "fallback"),
            ("at", "chat"),
            ("exclamation_mark", "email"),
        ):
            await pilot.press(key)
            await settle(pilot)
            assert screen.entry.key == f"kind:{kind}"
            lst = screen.conv_list
            rows = [lst.row_at(i) for i in range(lst.total)]
            assert all(row is not None and row.channel_kind == kind for row in rows)
        # The pane prints each view's key: numbers for inboxes and views, $ for WhatsApp.
        text = text_of(app)
        assert "$ ✆ WhatsApp" in text and "1 Sales" in text and "7 Closed" in text
        # Number keys still count the inboxes and views (a kind never takes a number).
        await pilot.press("7")
        assert screen.entry.key == "closed"


async def test_kind_view_keys_come_from_the_keymap(demo, tmp_path, text_of) -> None:
    config = Config(path=tmp_path / "c.toml", keymap={"view_whatsapp": "W", "view_3": "0"})
    app = UniboxApp(demo.ws, config, now=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("W")
        await settle(pilot)
        assert screen.entry.key == "kind:whatsapp"
        await pilot.press("0")  # view_3 remapped: Mine
        assert screen.entry.key == "mine"
        text = text_of(app)
        assert "W ✆ WhatsApp" in text and "0 Mine" in text


async def test_views_pane_moves_with_j_k_and_enter_goes_to_the_list(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.views.focus()
        await pilot.press("j")  # All open -> Snoozed
        assert screen.entry.key == "snoozed"
        await pilot.press("enter")
        assert app.focused is screen.conv_list


async def test_enter_opens_the_conversation_and_marks_it_read(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).unread
        await pilot.press("enter")
        await settle(pilot)
        assert not queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).unread
        assert isinstance(app.focused, ThreadView)
        entry = app.screen.views.entry("open")
        assert entry.unread == 6  # the unread count followed


async def test_u_toggles_unread(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)

        def unread() -> bool:
            return queries.conversation(demo.ws, demo.conv["chat"], access=EVERYTHING).unread

        # The command runs on the command queue's worker: wait for it, not for a key.
        await pilot.press("u")
        await until(lambda: not unread(), what="u marked the conversation read")
        assert app.screen.conv_list.cursor == 0  # a read mark is no triage: cursor stays
        await pilot.press("u")
        await until(unread, what="u marked it unread again")


async def test_filter_narrows_the_list(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("u")  # chat: read
        await pilot.press("f")
        await pilot.press(*"unread", "enter")
        await settle(pilot)
        screen = app.screen
        assert screen.filter == "unread"
        assert screen.conv_list.total == 6
        assert demo.conv["chat"] not in [screen.conv_list.row_at(i).id for i in range(6)]
        await pilot.press("f", "escape")  # cancelled: the filter stays
        assert screen.filter == "unread"
        await pilot.press("f", *"none", "enter")
        await settle(pilot)
        assert screen.filter is None and screen.conv_list.total == 7


async def test_tab_cycles_panes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("tab")
        assert app.focused is screen.thread
        await pilot.press("tab")
        assert app.focused is screen.views
        await pilot.press("tab")
        assert app.focused is screen.conv_list
        await pilot.press("shift+tab")
        assert app.focused is screen.views


async def test_narrow_screen_shows_views_and_list_then_the_thread(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("-narrow")
        assert screen.views.region.width > 0 and screen.conv_list.region.width > 0
        assert screen.thread.region.width == 0
        await pilot.press("j", "enter")
        await settle(pilot)
        assert screen.thread.region.width > 70
        assert "my order #1042 still hasn't arrived" in text_of(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.focused is screen.conv_list and screen.thread.region.width == 0


async def test_wide_screen_shows_three_panes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(250, 70)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("-wide")
        widths = [w.region.width for w in (screen.views, screen.conv_list, screen.thread)]
        assert all(w >= 25 for w in widths) and sum(widths) <= 250
        assert screen.conv_list.region.height > 60


async def test_ages_follow_the_app_clock(make_app, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert NOW.tzinfo is not None
        text = text_of(app)
        for age in ("12m", "30m", "2h", "1d", "3d", "4d"):
            assert age in text


async def test_a_new_arrival_leaves_the_cursor_on_the_last_row_it_was_on(make_app, demo) -> None:
    # Found in a walk-through: on the list's last row, a conversation arriving on top moved
    # the cursor (and the thread, and what `x` closes) to another conversation, because the
    # list still held the old count when it looked for the row again (and clamped to it).
    from unibox_tui.core import commands as cmd

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("G")
        await settle(pilot)
        last = screen.conv_list.selected
        assert last is not None and screen.conv_list.cursor == screen.conv_list.total - 1
        new = cmd.ingest(
            demo.ws, cmd.Incoming(demo.channels["chat"], "chat", "visitor-9", "Nia", "Hi", NOW)
        ).conversation_id
        await until(lambda: screen.conv_list.total == 8, what="the new row counted")
        await settle(pilot)
        assert screen.conv_list.row_at(0).id == new
        assert screen.conv_list.selected.id == last.id
        assert screen.thread_row is not None and screen.thread_row.id == last.id


async def test_view_names_stay_whole_when_counts_are_large(make_app, text_of) -> None:
    """At 160 columns the views pane has ~19 cells: with 100k-demo counts ("●11.0k 26.3k")
    the names were cut to "All…". A name that would be cut keeps the unread badge and drops
    the total (the list's header shows it); one with room keeps both."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        views = app.screen.views
        views.set_counts({"open": (26_357, 11_064), "closed": (73_645, 0), "mine": (12, 3)})
        await pilot.pause()
        region = views.content_region
        lines = [line[region.x : region.right] for line in text_of(app).splitlines()]
        shown = {
            line.split()[1]: line.split()[2:]
            for line in lines[region.y : region.bottom]
            if len(line.split()) > 1  # not a section's title
        }
        assert shown["All"] == ["open", "●11.0k"]  # was "All…  ●11.0k 26.3k"
        assert shown["Closed"] == ["73.6k"]  # no badge: the total has the room
        assert shown["Mine"] == ["●3", "12"]  # both fit
