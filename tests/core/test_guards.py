"""Guarded commands (issue 10): a reply decided on an older view of the conversation, and
"take it" on a conversation someone took meanwhile, are refused as stale."""

from __future__ import annotations

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core.errors import Stale

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def newest(team: Team, conv: str) -> str:
    with team.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT id FROM message WHERE conversation_id = ? AND kind IN ('incoming', 'outgoing') "
            "ORDER BY created_at DESC LIMIT 1",
            (conv,),
        ).scalar_one()


def test_a_reply_after_a_new_customer_message_is_stale(team: Team) -> None:
    conv = team.start("Where is my order?")
    seen = newest(team, conv)
    cmd.ingest(team.ws, team.incoming("Hello?? Anyone?", at=later(5)))
    with pytest.raises(Stale, match="Carla Souza wrote again"):
        cmd.reply(team.ws, conv, "On its way", actor=team.ana, seen_message_id=seen, now=later(6))
    # Having seen the new message, the reply goes.
    cmd.reply(
        team.ws,
        conv,
        "On its way",
        actor=team.ana,
        seen_message_id=newest(team, conv),
        now=later(7),
    )


def test_a_reply_after_a_teammates_reply_is_stale_but_not_after_ones_own(team: Team) -> None:
    conv = team.start("Where is my order?")
    seen = newest(team, conv)
    cmd.reply(team.ws, conv, "Checking", actor=team.ana, seen_message_id=seen, now=later(1))
    # Ana's own reply does not make her next one stale.
    cmd.reply(team.ws, conv, "Found it", actor=team.ana, seen_message_id=seen, now=later(2))
    with pytest.raises(Stale, match="Ana Lima replied"):
        cmd.reply(team.ws, conv, "Me too", actor=team.bo, seen_message_id=seen, now=later(3))
    with team.ws.read() as conn:
        bodies = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT body FROM message WHERE kind = 'outgoing' ORDER BY created_at"
            )
        ]
    assert bodies == ["Checking", "Found it"]


def test_taking_a_conversation_someone_took_meanwhile_is_stale(team: Team) -> None:
    conv = team.start()
    cmd.assign(team.ws, conv, "bo", actor=team.bo, only_if_unassigned=True)
    with pytest.raises(Stale, match="@bo took this conversation meanwhile"):
        cmd.assign(team.ws, conv, "ana", actor=team.ana, only_if_unassigned=True)
    # Taking it over on purpose (no guard) works; taking it again as its holder is no change.
    assert cmd.assign(team.ws, conv, "bo", actor=team.bo, only_if_unassigned=True) is False
    assert cmd.assign(team.ws, conv, "ana", actor=team.ana) is True
