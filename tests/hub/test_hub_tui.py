"""Two agents in two TUIs (Textual's Pilot) on one real hub process: what one does shows on
the other's screen, and a mention notifies the other."""

from __future__ import annotations

from typing import Any

from waiting import until

from unibox_tui.app import UniboxApp
from unibox_tui.config import Config

from .conftest import Served
from .test_hub import start_conversation


def toasts(app: UniboxApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def row_status(app: UniboxApp, conversation_id: str) -> Any:
    with app.ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT c.status, a.handle FROM conversation c LEFT JOIN agent a "
            "ON a.id = c.assignee_id WHERE c.id = ?",
            (conversation_id,),
        ).first()
    return tuple(row) if row else None


async def test_two_agents_on_one_hub_see_each_other(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    conv = start_conversation(served, subject="Parcel never came")
    ana_client = served.client("ana")
    bo_client = served.client("bo")
    ana = UniboxApp(ana_client.ws, Config(path=tmp_path / "a.toml"), hub=ana_client)  # type: ignore[arg-type]
    bo = UniboxApp(bo_client.ws, Config(path=tmp_path / "b.toml"), hub=bo_client)  # type: ignore[arg-type]
    try:
        async with (
            ana.run_test(size=(150, 40)) as ana_pilot,
            bo.run_test(size=(150, 40)) as bo_pilot,
        ):
            # Both show the hub's state in the list header.
            await until(
                lambda: "hub: connected" in str(bo.screen.list_header.text),  # type: ignore[attr-defined]
                what="bo's header says connected",
            )
            # Bo opens the conversation (the newest, first in the list) and comments.
            await until(
                lambda: getattr(bo.screen.thread_row, "id", None) == conv,  # type: ignore[attr-defined]
                what="bo's thread shows the new conversation",
            )
            await bo_pilot.press("c")
            await bo_pilot.press(*"@ana please look")
            await bo_pilot.press("ctrl+s")
            await until(
                lambda: any("mentioned" in t for t in toasts(ana)),
                what="ana got a mention toast",
            )
            # Bo closes it; ana's cache and screen follow.
            await until(
                lambda: ana.screen.conv_list.selected.id == conv,  # type: ignore[attr-defined]
                what="ana's list shows it first",
            )
            await bo_pilot.press("x")
            await until(lambda: row_status(ana, conv)[0] == "closed", what="ana sees it closed")
            await until(
                lambda: getattr(ana.screen.conv_list.selected, "id", None) != conv,  # type: ignore[attr-defined]
                what="ana's open list dropped it",
            )
            await ana_pilot.pause()
    finally:
        ana_client.close()
        bo_client.close()
