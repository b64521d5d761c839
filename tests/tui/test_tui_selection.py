"""Several conversations at once: select rows, act on them in one step, undo it in one."""

from __future__ import annotations

from tui_world import settle

from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING


def conv(demo, name: str) -> queries.ConversationRow:
    return queries.conversation(demo.ws, demo.conv[name], access=EVERYTHING)


def toasts(app) -> list[str]:
    return [n.message for n in app._notifications]


def seq(demo) -> int:
    return demo.ws.change_seq()


async def test_space_selects_rows_and_x_closes_them_all_in_one_step(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        first, second = lst.row_at(0).id, lst.row_at(1).id
        third = lst.row_at(2).id
        await pilot.press("space", "v")  # selects row 0, steps down, selects row 1
        await settle(pilot)
        assert lst.checked == {first, second}
        assert "2 selected" in app.screen.list_header.text.plain
        before = seq(demo)
        await pilot.press("x")
        await settle(pilot)
        statuses = {
            cid: queries.conversation(demo.ws, cid, access=EVERYTHING).status
            for cid in (first, second, third)
        }
        assert statuses == {first: "closed", second: "closed", third: "open"}
        assert seq(demo) == before + 1  # one transaction, one change number
        assert "Closed 2 conversations. ctrl+z undoes it." in toasts(app)
        assert lst.checked == set()
        await pilot.press("ctrl+z")
        await settle(pilot)
        for cid in (first, second):
            assert queries.conversation(demo.ws, cid, access=EVERYTHING).status == "open"
        assert "Undone: closed 2 conversations." in toasts(app)


async def test_escape_clears_the_selection_then_means_back(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        await pilot.press("space", "space")
        assert len(lst.checked) == 2
        await pilot.press("space")  # a third
        await pilot.press("k", "space")  # unselect it again
        assert len(lst.checked) == 2
        await pilot.press("escape")
        await settle(pilot)
        assert lst.checked == set()
        await pilot.press("x")  # no selection: x closes the row under the cursor only
        await settle(pilot)
        closed = [r for r in (lst.row_at(i) for i in range(lst.total)) if r.status == "closed"]
        assert closed == []  # the open view: the closed one left it
        assert lst.total == 6


async def test_select_all_then_assign_to_a_teammate_with_one_undo(make_app, demo) -> None:
    cmd.set_inbox_access(demo.ws, "Sales", mode="listed", add_agents=["ana", "bo"])
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        assert lst.total == 7
        await pilot.press("V")
        await settle(pilot)
        assert len(lst.checked) == 7
        assert any(t.startswith("Selected 7 conversations.") for t in toasts(app))
        before = {
            cid: queries.conversation(demo.ws, cid, access=EVERYTHING).assignee
            for cid in lst.checked
        }
        await pilot.press("a", "c", "h", "i", "enter")  # @chiara
        await settle(pilot)
        rows = {cid: queries.conversation(demo.ws, cid, access=EVERYTHING) for cid in before}
        assert {r.assignee for r in rows.values() if r.inbox == "Support"} == {"chiara"}
        # Sales lists its agents, without chiara: that one was skipped, the rest changed.
        sales = [r for r in rows.values() if r.inbox == "Sales"]
        assert sales and all(r.assignee != "chiara" for r in sales)
        toast = next(t for t in toasts(app) if t.startswith("Assigned"))
        assert "skipped 1" in toast
        await pilot.press("ctrl+z")
        await settle(pilot)
        after = {
            cid: queries.conversation(demo.ws, cid, access=EVERYTHING).assignee for cid in before
        }
        assert after == before


async def test_tags_from_the_picker_show_in_the_row_and_have_a_view(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        target = lst.row_at(0).id
        await pilot.press("l", *"vip", "enter")  # a new tag
        await settle(pilot)
        assert queries.conversation(demo.ws, target, access=EVERYTHING).tags == ["vip"]
        assert "#vip" in lst.render_line(0).text
        v = queries.view("tag:vip", access=EVERYTHING)
        assert [r.id for r in queries.list_conversations(demo.ws, v).rows] == [target]
        await pilot.press("l", *"vip", "enter")  # it has it: chosen again, it comes off
        await settle(pilot)
        assert queries.conversation(demo.ws, target, access=EVERYTHING).tags == []


async def test_bulk_tag_then_bulk_untag_of_a_tag_everyone_has(make_app, demo) -> None:
    cmd.tag(demo.ws, demo.conv["chat"], "billing", actor="ana")
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        lst = app.screen.conv_list
        await pilot.press("space", "space")
        ids = set(lst.checked)
        await pilot.press("l", *"billing", "enter")
        await settle(pilot)
        assert any(t.startswith("Tagged #billing: ") for t in toasts(app))
        for cid in ids:
            assert queries.conversation(demo.ws, cid, access=EVERYTHING).tags == ["billing"]
        lst.check(ids)
        await pilot.press("l", *"billing", "enter")  # all have it: it comes off all
        await settle(pilot)
        for cid in ids:
            assert queries.conversation(demo.ws, cid, access=EVERYTHING).tags == []


async def test_a_tag_gets_a_view_in_the_views_pane(make_app, demo) -> None:
    cmd.tag(demo.ws, demo.conv["chat"], "refund", actor="ana")
    cmd.tag(demo.ws, demo.conv["mail"], "refund", actor="ana")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        entry = screen.views.entry("tag:refund")
        assert entry is not None and entry.label == "#refund" and entry.count == 2
        screen.views.select(screen.views.entries.index(entry))
        await settle(pilot)
        lst = screen.conv_list
        assert {lst.row_at(i).id for i in range(lst.total)} == {
            demo.conv["chat"],
            demo.conv["mail"],
        }
