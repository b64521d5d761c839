"""Undo send: a held reply stays in the outbox until its time; until an engine claims it,
`unsend` takes it back and its text becomes the author's draft again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.errors import InvalidRequest

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def test_a_held_reply_is_not_due_until_its_time(team: Team) -> None:
    conv = team.start("Where is it?")
    mid = cmd.reply(team.ws, conv, "On its way", actor="ana", hold_seconds=5, now=later(1))
    assert outbox.due(team.ws, later(1) + timedelta(seconds=4)) == []
    [item] = outbox.due(team.ws, later(1) + timedelta(seconds=5))
    assert item.message_id == mid


def test_unsend_puts_everything_back_and_keeps_the_text_as_a_draft(team: Team) -> None:
    conv = team.start("Where is it?")
    before = q.conversation(team.ws, conv, access=EVERYTHING)
    mid = cmd.reply(team.ws, conv, "On its way", actor="ana", hold_seconds=5, now=later(1))
    assert cmd.unsend(team.ws, mid, actor="ana", now=later(1)) == "On its way"
    after = q.conversation(team.ws, conv, access=EVERYTHING)
    assert [m.id for m in q.thread(team.ws, conv, access=EVERYTHING) if m.kind == "outgoing"] == []
    assert outbox.pending_count(team.ws) == 0
    for field in ("last_message_at", "preview", "waiting", "unread", "first_response_at"):
        assert getattr(after, field) == getattr(before, field), field
    assert after.message_count == before.message_count
    assert q.drafts(team.ws, team.ana)[conv].text == "On its way"
    assert (
        q.search(team.ws, "its way", access=EVERYTHING) == []
    )  # the search index let go of it too


def test_unsend_is_refused_once_an_engine_claimed_it(team: Team) -> None:
    conv = team.start()
    mid = cmd.reply(team.ws, conv, "Hello", actor="ana", hold_seconds=5, now=later(1))
    [item] = outbox.due(team.ws, later(2))
    assert outbox.claim(team.ws, item.entry_id, later(2))
    with pytest.raises(InvalidRequest, match="already on its way"):
        cmd.unsend(team.ws, mid, actor="ana", now=later(2))
    assert q.thread(team.ws, conv, access=EVERYTHING)[-1].id == mid
    assert q.drafts(team.ws, team.ana) == {}


def test_after_unsend_an_engine_has_nothing_to_claim(team: Team) -> None:
    conv = team.start()
    mid = cmd.reply(team.ws, conv, "Hello", actor="ana", hold_seconds=5, now=later(1))
    [entry_id] = [i.entry_id for i in outbox.due(team.ws, later(2))]
    cmd.unsend(team.ws, mid, actor="ana", now=later(1))
    assert not outbox.claim(team.ws, entry_id, later(2))


def test_only_the_author_can_unsend(team: Team) -> None:
    conv = team.start()
    mid = cmd.reply(team.ws, conv, "Hello", actor="ana", hold_seconds=5, now=later(1))
    with pytest.raises(InvalidRequest, match="your own"):
        cmd.unsend(team.ws, mid, actor="bo")
    assert outbox.pending_count(team.ws) == 1


def test_unsend_after_the_customer_wrote_again_keeps_their_message_on_top(team: Team) -> None:
    conv = team.start("Where is it?")
    mid = cmd.reply(team.ws, conv, "On its way", actor="ana", hold_seconds=60, now=later(1))
    cmd.ingest(team.ws, team.incoming("Any news?", at=later(2)))
    cmd.unsend(team.ws, mid, actor="ana", now=later(2))
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.last_message_at, row.preview, row.waiting) == (later(2), "Any news?", True)
    assert row.first_response_at is None
    assert row.message_count == 2
