"""`w` toggles your own availability (routing skips agents who are away), with a toast."""

from __future__ import annotations

from tui_world import settle

from unibox_tui.core import queries


def availability(app, handle: str) -> str:  # type: ignore[no-untyped-def]
    return next(a.availability for a in queries.agents(app.ws) if a.handle == handle)


async def until(pilot, predicate, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for the command worker's effect (a poll with a deadline, never a fixed sleep)."""
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()


def toasts(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(n.message) for n in app._notifications]


async def test_w_toggles_my_availability_with_a_toast(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert availability(app, "ana") == "available"
        await pilot.press("w")
        await until(pilot, lambda: availability(app, "ana") == "away")
        await until(pilot, lambda: any("You are away" in t for t in toasts(app)))
        assert availability(app, "bo") == "available"  # only mine
        await pilot.press("w")
        await until(pilot, lambda: availability(app, "ana") == "available")
        await until(pilot, lambda: any("You are available" in t for t in toasts(app)))
