"""Drafts: kept per agent and conversation in the workspace, private, cleared by sending."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.db import open_workspace
from unibox_tui.core.errors import InvalidRequest, NotFound

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def test_a_draft_is_kept_updated_and_private(team: Team) -> None:
    conv = team.start()
    assert cmd.save_draft(team.ws, conv, "half a reply", actor="ana", now=later(1))
    assert not cmd.save_draft(team.ws, conv, "half a reply", actor="ana")  # no change
    assert cmd.save_draft(team.ws, conv, "@bo look", actor="ana", mode="comment")
    [(cid, draft)] = q.drafts(team.ws, team.ana).items()
    assert (cid, draft.mode, draft.text) == (conv, "comment", "@bo look")
    assert q.drafts(team.ws, team.bo) == {}  # another agent never sees it
    cmd.save_draft(team.ws, conv, "mine", actor="bo")
    assert q.drafts(team.ws, team.ana)[conv].text == "@bo look"
    assert q.drafts(team.ws, team.bo)[conv].text == "mine"


def test_blank_text_or_clear_drops_it(team: Team) -> None:
    conv = team.start()
    cmd.save_draft(team.ws, conv, "x", actor="ana")
    assert cmd.save_draft(team.ws, conv, "  \n", actor="ana")
    assert q.drafts(team.ws, team.ana) == {}
    cmd.save_draft(team.ws, conv, "x", actor="ana")
    assert cmd.clear_draft(team.ws, conv, actor="ana")
    assert not cmd.clear_draft(team.ws, conv, actor="ana")
    assert q.drafts(team.ws, team.ana) == {}


def test_sending_a_reply_or_comment_clears_the_senders_draft(team: Team) -> None:
    conv = team.start()
    cmd.save_draft(team.ws, conv, "draft", actor="ana")
    cmd.save_draft(team.ws, conv, "bo's", actor="bo")
    cmd.reply(team.ws, conv, "sent", actor="ana")
    assert q.drafts(team.ws, team.ana) == {}
    assert q.drafts(team.ws, team.bo)[conv].text == "bo's"
    cmd.comment(team.ws, conv, "noted", actor="bo")
    assert q.drafts(team.ws, team.bo) == {}


def test_a_draft_survives_reopening_the_workspace(team: Team, ws_target: Path | str) -> None:
    conv = team.start()
    cmd.save_draft(team.ws, conv, "see you", actor="ana", via_channel_id=team.email)
    team.ws.close()
    with open_workspace(ws_target) as ws:
        draft = q.drafts(ws, team.ana)[conv]
        assert (draft.text, draft.mode, draft.via_channel_id) == ("see you", "reply", team.email)


def test_bad_draft_requests_are_refused(team: Team) -> None:
    conv = team.start()
    with pytest.raises(InvalidRequest, match="unknown draft mode"):
        cmd.save_draft(team.ws, conv, "x", actor="ana", mode="shout")
    sales = team.start(channel=team.sales_email, who="olga@example.com")
    with pytest.raises(NotFound, match="not found or no access"):  # Bo cannot see Sales
        cmd.save_draft(team.ws, sales, "x", actor="bo")
    assert q.drafts(team.ws, team.bo) == {}
