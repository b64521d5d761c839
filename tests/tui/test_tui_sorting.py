"""The list's order (`O`, screens/sorting.py): the picker re-sorts the list, the header and the
rows say how it is sorted, the config remembers it, and live changes move rows by the order
on screen (a ticket's priority moves a row in the priority order)."""

from __future__ import annotations

from test_tui_snapshots import steps
from tui_world import NOW, row_ids, settle
from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.config import load_config
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING


def expected(demo, order: str) -> list[str]:  # type: ignore[no-untyped-def]
    view = queries.sorted_by(queries.view("open", access=EVERYTHING), order)
    with demo.ws.read() as conn:
        return [r.id for r in queries.rows_at(conn, view, 0, 50)]


async def test_o_sorts_the_list_and_the_config_remembers_it(make_app, demo, config) -> None:
    assert expected(demo, "waiting") != expected(demo, "newest")  # the world tells them apart
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.entry.key == "open" and row_ids(app) == expected(demo, "newest")
        await pilot.press("O", *"waiting", "enter")
        await settle(pilot)
        assert row_ids(app) == expected(demo, "waiting")
        assert "⇅ oldest waiting" in screen.list_header.text.plain
        assert screen.conv_list.cursor == 0 and screen.conv_list.selected.id == row_ids(app)[0]
        await pilot.press("O", "escape")  # cancelled: the order stays
        assert row_ids(app) == expected(demo, "waiting")
        # Another view keeps the order (a filter or a view does not reset a way of working).
        await pilot.press("4")
        await settle(pilot)
        assert screen.current_view().order.key == "waiting"
    assert load_config(config.path).sort == "waiting"
    again = UniboxApp(demo.ws, load_config(config.path), now=lambda: NOW)
    async with again.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert row_ids(again) == expected(demo, "waiting")


async def test_a_new_ticket_priority_moves_the_row_in_the_priority_order(make_app, demo) -> None:
    """A ticket changes neither the row's activity time nor its rid: the list used to redraw
    the row in place (by those two), leaving it where the old priority put it."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("O", *"priority", "enter")
        await settle(pilot)
        last = row_ids(app)[-1]
        assert last != row_ids(app)[0]
        cmd.create_ticket(demo.ws, actor="ana", conversation_id=last, priority="urgent", now=NOW)
        app.poll_changes()
        await until(lambda: row_ids(app)[0] == last, what="the urgent one moved to the top")
        assert row_ids(app) == expected(demo, "priority")


async def test_sorted_by_priority_the_status_column_shows_it(make_app, demo, text_of) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await steps("O", *"priority", "enter")(pilot)
        await settle(pilot)
        top = app.screen.conv_list.row_at(0)
        assert top.ticket_priority == "high"  # the world's one ticket
        region = app.screen.conv_list.region
        line = text_of(app).splitlines()[region.y][region.x : region.right]
        assert "Olga Ivanova" in line and " high " in line and " open " not in line
