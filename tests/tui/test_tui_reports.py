"""The reports screen (key S, palette "Reports"): figures and charts over what the agent may
see, the range and inbox filters, and its picture."""

from __future__ import annotations

from datetime import timedelta

from tui_world import NOW, screen_text, settle
from waiting import until

from unibox_tui.core import queries
from unibox_tui.core import reports as r
from unibox_tui.screens.reports import ReportsScreen


def expected(demo, days: int, inbox: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    access = queries.reader(demo.ws, demo.agents["ana"])
    today = NOW.date()
    s = r.scope(demo.ws, access, start=today - timedelta(days=days - 1), end=today, inbox=inbox)
    return r.report(demo.ws, access, s, sections=["volume"]).to_json()["volume"]


async def test_reports_open_with_r_and_follow_the_filters(make_app, demo) -> None:
    app = make_app()
    async with app.run_test(size=(140, 44)) as pilot:
        await settle(pilot)
        await pilot.press("S")
        screen = await until(
            lambda: isinstance(app.screen, ReportsScreen) and app.screen.loaded and app.screen,
            what="the reports screen shows figures",
        )
        totals = expected(demo, 30)["totals"]
        assert f"{totals['opened']} opened · {totals['closed']} closed" in screen_text(app)
        assert "last 30 days · every inbox" in screen_text(app)

        await pilot.press("d")  # 30 -> 90 days
        await until(lambda: screen.loaded >= 2, what="figures for 90 days")
        totals = expected(demo, 90)["totals"]
        assert f"{totals['opened']} opened · {totals['closed']} closed" in screen_text(app)

        first_inbox = queries.visible_inboxes(demo.ws, demo.agents["ana"])[0]
        await pilot.press("i")
        await until(lambda: screen.loaded >= 3, what="figures for one inbox")
        totals = expected(demo, 90, first_inbox.id)["totals"]
        assert f"last 90 days · {first_inbox.name}" in screen_text(app)
        assert f"{totals['opened']} opened · {totals['closed']} closed" in screen_text(app)

        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ReportsScreen)


async def test_the_palette_offers_reports(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(140, 44)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"reports")
        await until(lambda: "Reports: volume" in screen_text(app), what="the palette offers it")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ReportsScreen), what="reports open")


def test_reports_snapshot(snap_compare, make_app) -> None:
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("S")
        await until(
            lambda: isinstance(pilot.app.screen, ReportsScreen) and pilot.app.screen.loaded,
            what="the reports screen shows figures",
        )
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(140, 44), run_before=run)
