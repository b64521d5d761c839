"""The demo's live customer stream and the collector pacing behind smooth keys."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from tui_world import NOW, settle
from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox, queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.gc_pacing import NEVER, SWEEP_SECONDS, IdleCollector, hold_until_started


async def test_simulated_customers_show_up_live(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    build_demo(path, conversations=30, seed=3, now=NOW)
    ws = open_workspace(path)
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml"), simulate=True, now=lambda: NOW)
    app.simulate_every = (0.05, 0.1)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            start = ws.change_seq()
            # Several customer messages arrive and the app sees them.
            await until(lambda: app.seen_seq > start + 2, what="three simulated messages seen")
            app.simulate = False  # no more: a step already scheduled does nothing
            await settle(pilot)  # a step under way finishes
            await until(lambda: app.seen_seq == ws.change_seq(), what="the app saw the last one")
            await settle(pilot)
            # What the list and the counts show is what the database holds.
            screen = app.screen
            opened = queries.count(ws, queries.view("open", access=EVERYTHING))
            assert screen.conv_list.total == opened[0]
            assert (screen.views.entry("open").count, screen.views.entry("open").unread) == opened
    finally:
        ws.close()


async def test_quiet_demo_still_delivers_the_agents_replies(tmp_path: Path) -> None:
    """`unibox demo --quiet` (simulate=False) stops the simulated customers, not delivery:
    a reply on a demo channel goes from queued to sent, and no customer writes."""
    path = tmp_path / "demo.db"
    build_demo(path, conversations=30, seed=3, now=NOW)
    ws = open_workspace(path)
    # No undo-send hold: the app's clock is frozen, so a held reply would never come due.
    config = Config(path=tmp_path / "c.toml", agent="ana", undo_send_seconds=0)
    app = UniboxApp(ws, config, simulate=False, now=lambda: NOW)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            before = queries.stats(ws)["message"]
            conv = app.screen.conv_list.selected.id
            await pilot.press("r", *"On it", "ctrl+s")

            def reply_state() -> str | None:
                outgoing = [
                    m for m in queries.thread(ws, conv, access=EVERYTHING) if m.body == "On it"
                ]
                return outgoing[0].delivery_state if outgoing else None

            await until(lambda: reply_state() == "sent", what="the demo delivered the reply")
            await settle(pilot)
            # The reply, no customer message (and the line saying Ana took the unassigned
            # conversation by replying, when it was unassigned).
            thread = queries.thread(ws, conv, access=EVERYTHING)
            took = sum(m.body == "Ana Lima took this by replying" for m in thread)
            assert queries.stats(ws)["message"] == before + 1 + took
            assert outbox.pending_count(ws) == 0
    finally:
        ws.close()


# Runs in a new interpreter (the test process has the ORM loaded already): the app on a demo
# workspace while the agent never pauses; prints which ORM modules are loaded once every
# worker started at start-up has finished.
FIRST_FRAME_CHILD = """
import asyncio, sys, tempfile
from datetime import UTC, datetime
from pathlib import Path
import unibox_tui.gc_pacing
unibox_tui.gc_pacing.IDLE_SECONDS = 3600  # the agent never pauses: no warm-up
from unibox_tui.app import UniboxApp
from unibox_tui.config import Config
from unibox_tui.core.db import open_workspace

ws = open_workspace(sys.argv[1])
config = Config(path=Path(tempfile.mkdtemp()) / "c.toml", agent="ana")
app = UniboxApp(ws, config, now=lambda: datetime(2026, 3, 2, 10, 0, tzinfo=UTC))

async def run():
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        print(app.screen.conv_list.total > 0, app._warmed)
        print(sorted(m for m in ("sqlalchemy", "sqlmodel") if m in sys.modules))

asyncio.run(run())
ws.close()
"""


def test_a_demo_workspace_paints_without_loading_the_orm(tmp_path: Path) -> None:
    """Replies queued on a demo channel are delivered with the warm-up, not by a worker
    at mount: that worker loaded the ORM (~300 ms of CPU) while the first frame was being
    drawn, and held the GIL against it."""
    path = tmp_path / "demo.db"
    build_demo(path, conversations=30, seed=3, now=NOW)
    out = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split("\n")[:2] == ["True False", "[]"]


async def test_a_demo_reply_queued_before_the_app_started_is_delivered(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    build_demo(path, conversations=30, seed=3, now=NOW)
    ws = open_workspace(path)
    with ws.read() as conn:
        conv = queries.rows_at(conn, queries.view("open", access=EVERYTHING), 0, 1)[0].id
    cmd.reply(ws, conv, "Queued while the app was closed", actor="ana", now=NOW)
    assert outbox.pending_count(ws) == 1
    app = UniboxApp(ws, Config(path=tmp_path / "c.toml", agent="ana"), now=lambda: NOW)
    try:
        async with app.run_test(size=(120, 36)):
            await until(lambda: outbox.pending_count(ws) == 0, what="the queued reply delivered")
            sent = [
                m
                for m in queries.thread(ws, conv, access=EVERYTHING)
                if m.body == "Queued while the app was closed"
            ]
            assert [m.delivery_state for m in sent] == ["sent"]
    finally:
        ws.close()


def test_idle_collector_defers_full_collections_and_gives_them_back() -> None:
    saved = gc.get_threshold()
    collector = IdleCollector()
    collector.start()
    try:
        assert gc.get_threshold()[2] == NEVER and gc.get_freeze_count() > 0
        collector.input()
        assert not collector.tick()  # the agent is typing
        collector._last_input -= 5
        collector._last_full -= 60
        assert collector.tick()  # idle and due
        assert not collector.tick()  # not again so soon
    finally:
        collector.stop()
    assert gc.get_threshold() == saved and gc.get_freeze_count() == 0


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _pair() -> tuple[_Node, _Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a, b


def test_idle_collections_freeze_their_survivors_and_the_sweep_frees_frozen_cycles() -> None:
    """An idle collection walks only what was made since the last one (the rest is frozen);
    every SWEEP_SECONDS one walks everything, and frees the cycles that became garbage."""
    import weakref

    collector = IdleCollector()
    collector.start()
    try:
        made = [node for _ in range(1000) for node in _pair()]
        frozen = gc.get_freeze_count()
        collector._last_input -= 5
        collector._last_full -= 60
        assert collector.tick()
        assert gc.get_freeze_count() >= frozen + 2000  # the survivors: out of the next walks
        refs = [weakref.ref(n) for n in made]
        made.clear()  # garbage now, in cycles: only a walk over frozen objects frees them
        collector._last_full -= 60
        assert collector.tick()
        assert all(r() is not None for r in refs)
        collector._last_full -= 60
        collector._last_sweep -= SWEEP_SECONDS
        assert collector.tick()  # the sweep
        assert all(r() is None for r in refs)
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0


def test_collections_held_during_start_up_resume_with_the_collector() -> None:
    """`unibox` holds automatic collections while the app starts; the collector's start
    (after the first frame) turns them back on, paced."""
    saved = gc.get_threshold()
    hold_until_started()
    collector = IdleCollector()
    try:
        assert not gc.isenabled()
        collector.start()
        assert gc.isenabled() and gc.get_threshold()[2] == NEVER
    finally:
        collector.stop()
        gc.enable()
    assert gc.get_threshold() == saved
