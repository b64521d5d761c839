"""Live updates refresh only what changed: the app learns which conversations changed from
their change numbers and redraws those rows, that thread and the counts; a change of access
rebuilds the views."""

from __future__ import annotations

from tui_world import NOW, incoming, row_ids, settle

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING


async def test_a_change_to_one_conversation_redraws_its_row_not_the_list(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        await pilot.press("j")  # onto the e-mail conversation; its thread is on screen
        target = lst.selected
        assert target.id == demo.conv["mail"] and target.unread
        page = lst._pages[0]
        other = app.screen._threads.get(row_ids(app)[0])
        # Another agent marks it read and comments: its row and its thread change.
        cmd.mark_read(demo.ws, target.id, actor="bo", now=NOW)
        cmd.comment(demo.ws, target.id, "warehouse says it left on Monday", actor="bo", now=NOW)
        app.poll_changes()
        await settle(pilot)
        assert lst._pages[0] is page  # the page was updated in place, not fetched again
        assert not lst.selected.unread and lst.selected.id == target.id
        messages = [m.body for m in app.screen._threads[target.id]]
        assert "warehouse says it left on Monday" in messages
        # Threads of conversations that did not change stay cached.
        assert other is None or app.screen._threads.get(row_ids(app)[0]) is other


async def test_a_new_conversation_on_top_reloads_and_keeps_the_cursor(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        await pilot.press("j", "j")
        here = lst.selected.id
        before = lst.total
        new = cmd.ingest(
            demo.ws,
            incoming(demo.channels["email"], "email", "zed@example.com", "Zed", "Hi there", NOW),
        ).conversation_id
        app.poll_changes()
        await settle(pilot)
        assert row_ids(app)[0] == new and lst.total == before + 1
        assert lst.selected.id == here  # the cursor stayed on the conversation it was on


async def test_losing_access_to_an_inbox_takes_it_off_the_screen(make_app, demo) -> None:
    sales = next(i.id for i in queries.inboxes(demo.ws) if i.name == "Sales")
    in_sales = queries.list_conversations(
        demo.ws, queries.view(f"inbox:{sales}", access=EVERYTHING)
    ).rows
    assert in_sales  # the world has a Sales conversation
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert {r.id for r in in_sales} <= set(row_ids(app))
        assert app.screen.views.entry(f"inbox:{sales}") is not None
        # An admin makes Sales a listed inbox without Ana on it.
        with demo.ws.write() as tx:
            tx.session.connection().exec_driver_sql(
                "UPDATE inbox SET access = 'listed', seq = ? WHERE id = ?", (tx.seq, sales)
            )
        app.poll_changes()
        await settle(pilot)
        assert not {r.id for r in in_sales} & set(row_ids(app))
        assert app.screen.views.entry(f"inbox:{sales}") is None
        assert app.screen.views.entry("open").count == app.screen.conv_list.total


async def test_a_new_conversation_on_top_draws_only_the_rows_that_changed(
    make_app, demo, monkeypatch
) -> None:
    """New activity on top moves every row below it: the rows are not drawn again for
    that (each was, at every poke of a chat load: most of the app's CPU), only the new one
    and the rows whose place under the cursor changed. The views pane, whose views stayed
    the same, is not laid out again (every refresh reflowed the whole screen)."""
    from unibox_tui.widgets.conversation_list import ConversationList
    from unibox_tui.widgets.views_pane import ViewsPane

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        await pilot.press("j", "j")
        shown = row_ids(app)
        drawn: list[str] = []
        render_row = ConversationList._render_row

        def counted(self, row, width, selected):  # type: ignore[no-untyped-def]
            drawn.append(row.id)
            return render_row(self, row, width, selected)

        layouts: list[bool] = []
        refresh = ViewsPane.refresh

        def noted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            layouts.append(bool(kwargs.get("layout")))
            return refresh(self, *args, **kwargs)

        monkeypatch.setattr(ConversationList, "_render_row", counted)
        monkeypatch.setattr(ViewsPane, "refresh", noted)
        new = cmd.ingest(
            demo.ws,
            incoming(demo.channels["email"], "email", "zed@example.com", "Zed", "Hi there", NOW),
        ).conversation_id
        app.poll_changes()
        await settle(pilot)
        assert row_ids(app)[: len(shown) + 1] == [new, *shown]  # every row moved down one
        # Only the new row (the cursor stayed on its conversation, which moved down too).
        assert drawn == [new]
        assert True not in layouts
        # Each line shows what drawing its row afresh shows.
        width, top = lst.line_width(), int(lst.scroll_offset.y)
        for y in range(min(lst.total - top, lst.size.height)):
            row = lst.row_at(top + y)
            fresh = render_row(lst, row, width, top + y == lst.cursor)
            assert lst.render_line(y).text == fresh.text
