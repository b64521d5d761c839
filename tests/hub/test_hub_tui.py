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


def _options_text(app: UniboxApp) -> str:
    from textual.widgets import OptionList

    try:
        box = app.screen.query_one(OptionList)
    except Exception:
        return ""
    return "\n".join(str(box.get_option_at_index(i).prompt) for i in range(box.option_count))


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
            # Both look at it: each thread header says the other is viewing.
            await until(
                lambda: "Bo Chen is viewing" in str(ana.screen.thread_header.text),  # type: ignore[attr-defined]
                what="ana sees that Bo is viewing",
            )
            # Writing an internal comment shows as such, then a reply as a reply, even when
            # Bo switches within the seconds a signal is repeated in (found in a walk-through:
            # the comment's "typing" held back the reply's, and both read "typing a reply").
            await bo_pilot.press("c", "x")
            await until(
                lambda: "Bo Chen is writing a comment" in str(ana.screen.thread_header.text),  # type: ignore[attr-defined]
                what="ana sees Bo writing a comment",
            )
            await bo_pilot.press("backspace", "escape", "r", "y")
            await until(
                lambda: "Bo Chen is typing a reply" in str(ana.screen.thread_header.text),  # type: ignore[attr-defined]
                what="ana sees Bo typing a reply",
            )
            await bo_pilot.press("backspace", "escape")  # put away: no longer writing
            await until(
                lambda: "Bo Chen is viewing" in str(ana.screen.thread_header.text),  # type: ignore[attr-defined]
                what="ana sees Bo back to viewing",
            )
            # The team view shows who is online.
            ana.action_team()
            await until(
                lambda: "Bo Chen  ● online" in _options_text(ana),
                what="the team view shows Bo online",
            )
            await ana_pilot.press("escape")
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


async def test_a_reply_the_hub_finds_stale_comes_back_as_a_draft(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from unibox_tui.core.commands import registry

    conv = start_conversation(served, subject="Two answers")
    ana_client = served.client("ana")
    bo_client = served.client("bo")
    bo = UniboxApp(bo_client.ws, Config(path=tmp_path / "b.toml"), hub=bo_client)  # type: ignore[arg-type]
    try:
        async with bo.run_test(size=(150, 40)) as pilot:
            await until(
                lambda: getattr(bo.screen.thread_row, "id", None) == conv,  # type: ignore[attr-defined]
                what="bo's thread shows the conversation",
            )
            bo_client._sio.disconnect()  # bo's network drops while he writes
            await until(lambda: bo_client.state == "reconnecting", what="bo is cut off")
            await pilot.press("r")
            await pilot.press(*"Refund is on its way")
            await pilot.press("ctrl+s")
            await until(lambda: bo_client.status().queued == 1, what="bo's reply is queued")
            # Meanwhile Ana answers the same customer.
            registry.run(
                ana_client.ws,  # type: ignore[arg-type]
                "reply",
                {"conversation_id": conv, "text": "We sent a replacement."},
                actor=ana_client.agent["id"],
            )
            bo_client._sio.connect(served.hub.url, auth=bo_client._auth, transports=["websocket"])
            await until(
                lambda: any("Ana Lima replied" in t for t in toasts(bo)),
                what="bo is told Ana replied first",
            )

            def draft() -> Any:
                with bo.ws.read() as conn:
                    return conn.exec_driver_sql(
                        "SELECT text FROM draft WHERE conversation_id = ?", (conv,)
                    ).first()

            await until(lambda: draft() is not None, what="bo's reply came back as a draft")
            assert draft()[0] == "Refund is on its way"
            with bo.ws.read() as conn:
                outgoing = conn.exec_driver_sql(
                    "SELECT body FROM message WHERE conversation_id = ? AND kind = 'outgoing'",
                    (conv,),
                ).all()
            assert [r[0] for r in outgoing] == ["We sent a replacement."]
    finally:
        ana_client.close()
        bo_client.close()


async def test_undo_of_a_close_goes_to_the_hub(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ctrl+z after x: on a hub client the inverse command must travel to the hub too (it
    used to write the cache directly, which the cache's guard refuses)."""
    from .test_hub import hub_db

    conv = start_conversation(served, subject="Close then undo")
    bo_client = served.client("bo")
    bo = UniboxApp(bo_client.ws, Config(path=tmp_path / "b.toml"), hub=bo_client)  # type: ignore[arg-type]

    def hub_status() -> str:
        with hub_db(served) as con:
            return str(
                con.execute("SELECT status FROM conversation WHERE id = ?", (conv,)).fetchone()[0]
            )

    try:
        async with bo.run_test(size=(150, 40)) as pilot:
            await until(
                lambda: getattr(bo.screen.thread_row, "id", None) == conv,  # type: ignore[attr-defined]
                what="bo's thread shows the conversation",
            )
            await pilot.press("x")
            await until(lambda: hub_status() == "closed", what="the close reached the hub")
            await pilot.press("ctrl+z")
            await until(lambda: hub_status() == "open", what="the undo reached the hub")
            assert not any("cache of the team hub" in t for t in toasts(bo))
    finally:
        bo_client.close()


async def test_settings_changes_go_to_the_hub(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The settings screen writes through the command registry, so on a hub client the change
    is sent to the hub (it used to run on the local cache only, and no teammate saw it)."""
    from textual.widgets import TabbedContent, TextArea

    from unibox_tui.core import queries
    from unibox_tui.screens.settings import FieldsScreen

    ana_client = served.client("ana")
    bo_client = served.client("bo")
    ana = UniboxApp(ana_client.ws, Config(path=tmp_path / "a.toml"), hub=ana_client)  # type: ignore[arg-type]
    try:
        async with ana.run_test(size=(140, 40)) as pilot:
            await until(
                lambda: "hub: connected" in str(ana.screen.list_header.text),  # type: ignore[attr-defined]
                what="ana's header says connected",
            )
            await pilot.press("comma")
            await until(lambda: ana.screen.query(TabbedContent), what="settings open")
            ana.screen.query_one(TabbedContent).active = "snippets"
            await pilot.pause()
            await pilot.press("n")
            await until(lambda: isinstance(ana.screen, FieldsScreen), what="the snippet form")
            ana.screen.query_one("#name").value = "eta"  # type: ignore[attr-defined]
            await pilot.pause()
            ana.screen.query_one("#body", TextArea).text = "It ships within 3 days."
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(
                lambda: any(s.name == "eta" for s in queries.snippets(bo_client.ws)),  # type: ignore[arg-type]
                what="bo's cache has the snippet ana added, through the hub",
            )
    finally:
        ana_client.close()
        bo_client.close()


async def test_a_held_reply_is_unsent_on_the_hub(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ctrl+z on a held reply takes it back on the hub (the unsend used to run on the cache
    alone, where the cache's guard refused it, so the reply left anyway)."""
    conv = start_conversation(served, subject="Held reply")
    bo_client = served.client("bo")
    ana_client = served.client("ana")
    bo = UniboxApp(bo_client.ws, Config(path=tmp_path / "b.toml"), hub=bo_client)  # type: ignore[arg-type]
    bo.config.undo_send_seconds = 30  # long enough that the hub's outbox still holds it

    def outgoing(client: Any) -> list[str]:
        with client.ws.read() as conn:
            return [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT body FROM message WHERE conversation_id = ? AND kind = 'outgoing'",
                    (conv,),
                )
            ]

    try:
        async with bo.run_test(size=(150, 40), notifications=True) as pilot:
            await until(
                lambda: getattr(bo.screen.thread_row, "id", None) == conv,  # type: ignore[attr-defined]
                what="bo's thread shows the conversation",
            )
            await pilot.press("r", *"Refund on its way", "ctrl+s")
            await until(lambda: "Refund on its way" in outgoing(ana_client), what="on the hub")
            await until(lambda: bo_client.status().queued == 0, what="the hub took the reply")
            await pilot.press("ctrl+z")
            await until(lambda: outgoing(ana_client) == [], what="the hub took the reply back")
            await until(
                lambda: bo.screen.composer.editor.text == "Refund on its way",  # type: ignore[attr-defined]
                what="bo's editor has the text again",
            )
            assert not any("Cannot undo" in t for t in toasts(bo))
    finally:
        bo_client.close()
        ana_client.close()


async def test_a_new_conversation_in_a_watched_view_notifies_on_a_hub(
    served: Served, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A new unassigned conversation (the default watched view) becomes the agent's
    notification on the hub, as embedded; it used to be written to the cache alone, which its
    guard refused, so each arrival showed an error toast instead."""
    bo_client = served.client("bo")
    bo = UniboxApp(bo_client.ws, Config(path=tmp_path / "b.toml"), hub=bo_client)  # type: ignore[arg-type]

    def notes(client: Any) -> list[str]:
        with client.ws.read() as conn:
            return [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT n.kind FROM notification n JOIN agent a ON a.id = n.agent_id "
                    "WHERE a.handle = 'bo'"
                )
            ]

    try:
        async with bo.run_test(size=(150, 40), notifications=True) as pilot:
            await until(
                lambda: "hub: connected" in str(bo.screen.list_header.text),  # type: ignore[attr-defined]
                what="bo's header says connected",
            )
            await pilot.pause()
            start_conversation(served, subject="Brand new question")
            await until(
                lambda: "new_conversation" in notes(bo_client), what="bo's notification, synced"
            )
            await until(
                lambda: any("Brand new question" in t for t in toasts(bo)), what="bo's toast"
            )
            assert not any("cache of the team hub" in t for t in toasts(bo)), toasts(bo)
    finally:
        bo_client.close()
