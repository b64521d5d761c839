"""Regression tests for defects found in review; each failed before its fix."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import T0, Team, db_args, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import open_workspace
from unibox_tui.core.errors import InvalidRequest, NoAccess, NotFound
from unibox_tui.core.text import clean
from unibox_tui.core.when import parse_when

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def test_reply_goes_to_the_address_the_customer_wrote_from(team: Team) -> None:
    work = team.start("from work", who="carla@work.example", subject="Work thing")
    contact = q.conversation(team.ws, work, access=EVERYTHING).contact_id
    cmd.add_identity(team.ws, contact, "email", "carla@home.example", actor="ana")
    home = cmd.ingest(
        team.ws,
        team.incoming("from home", who="carla@home.example", subject="Home thing", at=later(5)),
    )
    assert home.conversation_id != work
    cmd.reply(team.ws, home.conversation_id, "Hi at home", actor="ana", now=later(6))
    cmd.reply(team.ws, work, "Hi at work", actor="ana", now=later(7))
    to = {i.conversation_id: i.recipient for i in outbox.due(team.ws, later(8))}
    assert to == {home.conversation_id: "carla@home.example", work: "carla@work.example"}
    assert (
        q.conversation(team.ws, home.conversation_id, access=EVERYTHING).identity
        == "carla@home.example"
    )


def test_reply_after_merge_keeps_each_conversations_address(team: Team) -> None:
    a = team.start("a", who="one@x.io", name="Pat")
    b = team.start("b", who="two@x.io", name="Pat Smith", subject="Other")
    keep, gone = (q.conversation(team.ws, c, access=EVERYTHING).contact_id for c in (a, b))
    cmd.merge_contacts(team.ws, keep, gone, actor="ana")
    cmd.reply(team.ws, b, "hi", actor="ana", now=later(1))
    [item] = outbox.due(team.ws, later(2))
    assert item.recipient == "two@x.io"


def test_search_counts_each_conversation_once_and_finds_all(team: Team) -> None:
    older = [
        team.start(f"refund please {i}", who=f"r{i}@x.io", subject=f"S{i}", at=later(i))
        for i in range(5)
    ]
    chat = team.start("refund?", channel=team.chat, kind="chat", who="v9", subject="", at=later(10))
    for i in range(100):
        cmd.ingest(
            team.ws,
            team.incoming(
                f"refund refund {i}",
                channel=team.chat,
                kind="chat",
                who="v9",
                subject="",
                at=later(11 + i),
            ),
        )
    hits = q.search(team.ws, "refund", limit=20, access=EVERYTHING)
    assert [h.row.id for h in hits] == [chat, *older[::-1]]


def test_search_keeps_combining_marks_inside_words(team: Team) -> None:
    team.start("मुझे चाहिए दिल्ली में", subject="")
    hindi = team.start("मैं हिंदी बोलता हूँ", who="h@x.io", subject="", at=later(1))
    assert [h.row.id for h in q.search(team.ws, "हिंदी", access=EVERYTHING)] == [hindi]


def test_paths_with_question_mark_and_hash_open_that_file(tmp_path: Path) -> None:
    odd = tmp_path / "team?x#1.db"
    with open_workspace(odd) as ws:
        cmd.create_agent(ws, "Ana", "ana")
    with open_workspace(odd) as ws:
        assert [a.handle for a in q.agents(ws)] == ["ana"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "team?x#1.db"
    ]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Ýlvarez: my order is late".encode().decode("latin-1"), "lvarez: my order is late"),
        ("Price: 5\x1bPlease call me back", "Price: 5Please call me back"),
        ("Hi! \x1b]8;;http://x/ here is my tracking number", "here is my tracking number"),
    ],
)
def test_clean_never_eats_the_rest_of_the_text(raw: str, kept: str) -> None:
    assert clean(raw).endswith(kept)


def test_merge_chains_stay_short_and_resolve(team: Team) -> None:
    ids = [
        cmd.create_contact(team.ws, f"Dup {i}", identities=[("email", f"d{i}@x.io")], actor="ana")
        for i in range(20)
    ]
    for a, b in zip(ids[1:], ids, strict=False):
        cmd.merge_contacts(team.ws, a, b, actor="ana")  # each into the next
    assert q.contact(team.ws, ids[0], access=EVERYTHING).id == ids[-1]
    assert len(q.contact(team.ws, ids[-1], access=EVERYTHING).identities) == 20


def test_acting_agent_needs_inbox_access_and_mentions_do_not_leak(team: Team) -> None:
    conv = team.start("Confidential: BigCo deal", channel=team.sales_email, subject="BigCo deal")
    result = cmd.comment(team.ws, conv, "@bo can you look? @cy too", actor="ana")
    assert result.mentioned == ["cy"] and result.no_access == ["bo"]
    assert q.notifications(team.ws, team.bo) == []
    for action in (
        lambda: cmd.reply(team.ws, conv, "hi", actor="bo"),
        lambda: cmd.comment(team.ws, conv, "hi", actor="bo"),
        lambda: cmd.close(team.ws, conv, actor="bo"),
        lambda: cmd.snooze(team.ws, conv, later(60), actor="bo", now=later(1)),
        lambda: cmd.create_ticket(team.ws, actor="bo", conversation_id=conv),
    ):
        # Bo cannot see Sales at all: the answer does not even confirm the conversation exists.
        with pytest.raises(NotFound, match=r"not found or no access"):
            action()
    support = team.start("hi", who="s@x.io", subject="Support thing")
    with pytest.raises(NoAccess):
        cmd.move_inbox(team.ws, support, "Sales", actor="bo")


def test_snooze_times_keep_the_wall_clock_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 10, 24, 12, tzinfo=UTC)  # clocks go back the next night
    for text, day in (("tomorrow 9:00", 25), ("monday", 26)):
        local = parse_when(text, now, berlin).astimezone(berlin)
        assert (local.day, local.hour, local.minute) == (day, 9, 0)
    assert parse_when("2026-12-01T09:00", now, berlin).astimezone(berlin).hour == 9


@pytest.mark.parametrize("text", ["999999999d", "9999-12-31T23:59-05:00"])
def test_absurd_times_are_refused_clearly(text: str) -> None:
    with pytest.raises(InvalidRequest, match="cannot read the time"):
        parse_when(text, T0)


@pytest.mark.parametrize(("kind", "who"), [("chat", ""), ("chat", "   "), ("bogus_kind", "x")])
def test_ingest_refuses_a_missing_or_unknown_identity(team: Team, kind: str, who: str) -> None:
    with pytest.raises(InvalidRequest):
        cmd.ingest(team.ws, team.incoming("hi", channel=team.chat, kind=kind, who=who))
    assert q.stats(team.ws)["message"] == 0


def test_channel_used_only_by_replies_cannot_be_removed(team: Team) -> None:
    conv = team.start("hi", channel=team.chat, kind="chat", who="v1", subject="")
    cmd.add_identity(
        team.ws,
        q.conversation(team.ws, conv, access=EVERYTHING).contact_id,
        "email",
        "v@x.io",
        actor="ana",
    )
    extra = cmd.add_channel(team.ws, "Support", "email", "Second mail")
    cmd.reply(team.ws, conv, "by mail", actor="ana", via_channel_id=extra)
    with pytest.raises(InvalidRequest, match="disable it instead"):
        cmd.remove_channel(team.ws, extra)


@pytest.mark.parametrize(
    "settings",
    [{"imap_password": "x"}, {"smtp": {"password": "x"}}, {"api_key": "x"}, {"client_secret": "x"}],
)
def test_channel_settings_refuse_nested_and_named_secrets(team: Team, settings: dict) -> None:
    with pytest.raises(InvalidRequest, match="may not hold secrets"):
        cmd.add_channel(team.ws, "Support", "email", "Mail", settings=settings)


def test_channel_settings_may_name_where_a_secret_comes_from(team: Team) -> None:
    cid = cmd.add_channel(
        team.ws,
        "Support",
        "email",
        "Mail",
        settings={"password_source": "env:PW", "imap": {"password_env": "PW"}},
    )
    assert (
        next(c for c in q.channels(team.ws) if c.id == cid).settings["password_source"] == "env:PW"
    )


def test_reply_never_moves_activity_back_in_time(team: Team) -> None:
    conv = team.start("from the future", at=later(180))
    cmd.reply(team.ws, conv, "answer", actor="ana", now=later(5))
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.last_message_at, row.preview) == (later(180), "from the future")


@pytest.mark.parametrize("year_offset", [None, 5])
def test_impossible_dates_take_the_arrival_time(team: Team, year_offset: int | None) -> None:
    claimed = (
        datetime(999, 1, 1, tzinfo=UTC)
        if year_offset is None
        else datetime.now(UTC) + timedelta(days=365 * year_offset)
    )
    r = cmd.ingest(team.ws, team.incoming("odd date", at=claimed))
    row = q.conversation(team.ws, r.conversation_id, access=EVERYTHING)
    assert abs((row.last_message_at - datetime.now(UTC)).total_seconds()) < 60
    assert (
        q.list_conversations(team.ws, q.view("open", access=EVERYTHING)).rows[0].id
        == r.conversation_id
    )
    assert json.loads(json.dumps(q.thread(team.ws, r.conversation_id, access=EVERYTHING)[0].meta))[
        "claimed_date"
    ]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unibox_tui", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=os.environ.copy(),
    )


def test_cli_odd_inputs_give_one_clear_line(
    team: Team, isolated_home: Path, ws_target: Path | str
) -> None:
    conv = team.start()
    for args, message in (
        (["conversations", "snooze", conv, "--until", "999999999d"], b"cannot read the time"),
        (
            ["conversations", "list", "--after", "2026-01-01 00:00:00.000000|99999999999999999999"],
            b"bad cursor",
        ),
    ):
        result = run(*args, *db_args(ws_target))
        assert (
            result.returncode == 1
            and message in result.stderr
            and b"unexpected" not in result.stderr
        )
    reply = run(
        "conversations",
        "reply",
        conv,
        "--text",
        "-",
        *db_args(ws_target),
        "--json",
        stdin=b"caf\xff ok",
    )
    assert reply.returncode == 0, reply.stderr
    assert q.thread(team.ws, conv, access=EVERYTHING)[-1].body == "caf\ufffd ok"
    empty = Path(isolated_home) / "empty.db"
    empty.touch()
    built = run("demo", "--generate-only", "-n", "10", "--db", str(empty))
    assert built.returncode == 0 and b"Built 10 conversations" in built.stdout


def test_cli_survives_a_closed_pipe(team: Team, ws_target: Path | str) -> None:
    for i in range(30):
        team.start(f"m{i}", who=f"p{i}@x.io", subject=f"S{i}")
    proc = subprocess.run(
        f"{sys.executable} -m unibox_tui conversations list --view all --limit 1000 "
        f"{shlex.join(db_args(ws_target))} | head -1",
        shell=True,
        capture_output=True,
        timeout=60,
    )
    assert proc.stderr == b"" and proc.stdout.startswith(b"Everything")


def test_doctor_cleans_server_text(team: Team, ws_target: Path | str) -> None:
    cmd.update_channel(team.ws, team.email, status="error: \x1b]0;owned\x07login failed")
    result = run("doctor", *db_args(ws_target))
    assert (
        b"login failed" in result.stdout
        and b"\x1b" not in result.stdout
        and b"owned" not in result.stdout
    )
