"""Search with operators and pages (queries.search_page), and what notifications show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import T0, Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.errors import InvalidRequest, NotFound, UniboxError

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

NOW = T0 + timedelta(days=30)


def ids(team: Team, text: str, **kw: object) -> list[str]:
    kw.setdefault("access", EVERYTHING)
    kw.setdefault("now", NOW)
    return [h.row.id for h in q.search(team.ws, text, **kw)]  # type: ignore[arg-type]


@pytest.fixture
def world(team: Team) -> dict[str, str]:
    carla = team.start("My parcel is late", subject="Late parcel", at=later(0))
    dan = team.start(
        "Refund for the broken lamp please",
        who="dan@x.io",
        name="Dan Brown",
        subject="Broken lamp",
        at=later(60 * 24 * 5),
    )
    chat = team.start(
        "is the parcel insured?",
        channel=team.chat,
        kind="chat",
        who="v-1",
        name="Visitor",
        subject="",
        at=later(60 * 24 * 10),
    )
    sales = team.start(
        "Quote for a parcel of 50 seats",
        channel=team.sales_email,
        who="erin@x.io",
        name="Erin Sales",
        subject="Seats",
        at=later(60 * 24 * 12),
    )
    cmd.reply(team.ws, dan, "We sent your refund today", actor="bo", now=later(60 * 24 * 6))
    cmd.assign(team.ws, carla, "ana", actor="ana")
    cmd.close(team.ws, dan, actor="ana", now=later(60 * 24 * 7))
    return {"carla": carla, "dan": dan, "chat": chat, "sales": sales}


def test_each_operator(team: Team, world: dict[str, str]) -> None:
    w = world
    assert ids(team, "parcel channel:chat") == [w["chat"]]
    assert ids(team, "status:closed") == [w["dan"]]
    assert set(ids(team, "status:open status:snoozed")) == {w["carla"], w["chat"], w["sales"]}
    assert ids(team, "parcel in:sales") == [w["sales"]]  # inbox names ignore case
    assert ids(team, "assignee:ana") == [w["carla"]]
    assert ids(team, "assignee:me", me=team.ana) == [w["carla"]]
    assert set(ids(team, "parcel assignee:none")) == {w["chat"], w["sales"]}
    assert ids(team, "from:dan@x.io") == [w["dan"]]  # a customer's address
    assert ids(team, "from:Brown") == [w["dan"]]  # words of a customer's name
    assert ids(team, "from:@bo") == [w["dan"]]  # an agent's replies
    assert ids(team, "from:bo refund") == [w["dan"]]
    assert ids(team, "to:sales@acme.example") == [w["sales"]]  # our address
    assert ids(team, "to:dan@x.io") == [w["dan"]]
    assert ids(team, "from:v-1") == [w["chat"]]  # any identity, exactly (a visitor id)
    assert ids(team, "from:DAN@X.IO") == [w["dan"]]
    assert ids(team, "subject:lamp") == [w["dan"]]
    assert ids(team, "subject:parcel") == [w["carla"]]  # the subject only, not bodies
    assert ids(team, '"parcel is late"') == [w["carla"]]
    assert ids(team, '"late parcel"') == [w["carla"]]  # the subject, as a phrase
    assert ids(team, '"parcel late"') == []
    # Times: the matching message's time, or the last activity without words.
    assert ids(team, "parcel before:2026-01-05") == []  # before every message
    assert set(ids(team, f"parcel after:{(T0 + timedelta(days=9)).date()}")) == {
        w["chat"],
        w["sales"],
    }
    assert ids(team, f"parcel before:{(T0 + timedelta(days=1)).date()}") == [w["carla"]]
    assert ids(team, "after:19d status:open") == [w["sales"]]  # NOW - 19d: day 11


def test_operators_respect_access(team: Team, world: dict[str, str]) -> None:
    bo = q.reader(team.ws, team.bo)  # Support only
    assert world["sales"] not in ids(team, "parcel", access=bo)
    assert world["sales"] not in ids(team, "status:open", access=bo)
    with pytest.raises(NotFound, match="no inbox 'Sales'"):  # hidden: never confirmed
        q.search(team.ws, "in:Sales", access=bo)


@pytest.mark.parametrize(
    ("text", "error", "says"),
    [
        ("assignee:zed", NotFound, "no agent 'zed'"),
        ("from:@zed", NotFound, "no agent '@zed'"),
        ("to:@bo", InvalidRequest, "to: takes an address or a name"),
        ("in:Nowhere", NotFound, "no inbox 'Nowhere'"),
        ("after:someday", InvalidRequest, "after: cannot read the time 'someday'"),
        ("assignee:me", InvalidRequest, "who you are"),
    ],
)
def test_operators_that_cannot_be_used_say_why(
    team: Team, world: dict[str, str], text: str, error: type, says: str
) -> None:
    with pytest.raises(error, match=says):
        q.search_page(team.ws, text, access=q.reader(team.ws, None), now=NOW)


def test_tag_operator_finds_tagged_conversations_with_or_without_words(
    team: Team, world: dict[str, str]
) -> None:
    carla, dan = world["carla"], world["dan"]
    cmd.tag(team.ws, carla, "vip", actor=team.ana)
    cmd.tag(team.ws, dan, "billing", actor=team.ana)
    assert ids(team, "tag:vip") == [carla]
    assert ids(team, "tag:#VIP") == [carla]  # a leading # and any case
    assert ids(team, "refund tag:billing") == [dan]
    assert ids(team, "refund tag:vip") == []
    assert ids(team, "tag:nosuch") == []


def _all_pages(team: Team, text: str, limit: int, **kw: object) -> list[str]:
    seen, cursor, pages = [], None, 0
    while True:
        page = q.search_page(
            team.ws, text, access=EVERYTHING, limit=limit, after=cursor, now=NOW, **kw
        )  # type: ignore[arg-type]
        seen += [h.row.id for h in page.hits]
        pages += 1
        cursor = page.next_cursor
        assert pages < 100
        if cursor is None:
            return seen


def test_pages_cover_every_match_once(team: Team) -> None:
    made = []
    for i in range(23):
        # Some match by subject, some by body, some by both; some have several matches.
        subject = f"Refund {i}" if i % 3 == 0 else f"Topic {i}"
        body = "about my refund" if i % 3 != 1 else "nothing here"
        cid = team.start(body, who=f"r{i}@x.io", name=f"R {i}", subject=subject, at=later(i))
        if i % 4 == 0:
            cmd.comment(team.ws, cid, "refund approved", actor="ana", now=later(100 + i))
        if subject.startswith("Refund") or body != "nothing here" or i % 4 == 0:
            made.append(cid)
    everything = _all_pages(team, "refund", 500)
    assert sorted(everything) == sorted(made)
    for limit in (1, 2, 5, 7):
        paged = _all_pages(team, "refund", limit)
        assert len(paged) == len(set(paged)) and sorted(paged) == sorted(made), limit
    # Operator-only pages follow the list order, like `conversations list`.
    open_ids = _all_pages(team, "status:open", 4)
    assert open_ids == _all_pages(team, "status:open", 500) and len(open_ids) == 23
    # A filter that drops most matches still pages through exactly what passes.
    cmd.close(team.ws, made[0], actor="ana")
    cmd.close(team.ws, made[-1], actor="ana")
    assert sorted(_all_pages(team, "refund status:closed", 1)) == sorted([made[0], made[-1]])


def _pages(team: Team, text: str, limit: int) -> list[list[tuple[str, str]]]:
    out, cursor = [], None
    while True:
        page = q.search_page(team.ws, text, access=EVERYTHING, limit=limit, after=cursor, now=NOW)
        out.append([(h.row.id, h.snippet) for h in page.hits])
        cursor = page.next_cursor
        if cursor is None or len(out) > 100:
            return out


def test_the_message_scan_in_windows_finds_what_one_read_finds(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads message matches in windows of rowids (queries._pg_scan): windows of
    a few rows, and the switch to one read of the rest, give the same pages, in the same
    order, as one read of everything (on SQLite, the windows are not used)."""
    for i in range(30):
        body = "a refund for the damaged box" if i % 3 == 0 else f"question number {i}"
        cid = team.start(body, who=f"w{i}@x.io", name=f"W {i}", subject=f"Case {i}", at=later(i))
        for j in range(i % 4):
            text = "refund sent" if j % 2 else "any news on my damaged box?"
            cmd.comment(team.ws, cid, text, actor="ana", now=later(100 + i * 5 + j))
        if i % 5 == 0:
            cmd.close(team.ws, cid, actor="ana")
    texts = ["refund", '"damaged box"', "refund damaged", "refund status:closed", "question numb"]
    for limit in (1, 4, 50):
        whole = {t: _pages(team, t, limit) for t in texts}
        assert all(whole.values()) and (limit > 1 or all(len(p) > 1 for p in whole.values()))
        for window, few in ((2, 0), (3, 4), (1, 1_000)):
            monkeypatch.setattr(q, "PG_WINDOW", window)
            monkeypatch.setattr(q, "PG_FEW", few)
            for t in texts:
                assert _pages(team, t, limit) == whole[t], (t, limit, window, few)
            monkeypatch.undo()


def test_a_bad_cursor_is_one_clear_error(team: Team, world: dict[str, str]) -> None:
    for cursor in ("x", "m:abc", "m:-5", "c:nope", "m:12"):
        text = "status:open" if cursor.startswith("m") else "parcel"
        with pytest.raises(InvalidRequest, match="bad cursor"):
            q.search_page(team.ws, text, access=EVERYTHING, after=cursor)


def test_hits_name_the_message_they_quote(team: Team, world: dict[str, str]) -> None:
    [hit] = q.search(team.ws, "insured", access=EVERYTHING)
    [message] = [m for m in q.thread(team.ws, hit.row.id, access=EVERYTHING) if "insured" in m.body]
    assert hit.message_id == message.id
    [subject_hit] = q.search(team.ws, "lamp", access=EVERYTHING)
    assert subject_hit.message_id is None  # matched by subject


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.sampled_from(
            [
                '"',
                "(",
                ")",
                "AND",
                "OR",
                "NOT",
                "NEAR",
                "*",
                ":",
                "-",
                "^",
                "parcel",
                "from:",
                "status:",
                "in:",
                "x:y",
                "after:",
                "before:3d",
                "subject:",
                '"late',
                "é",
                " ",
                # PostgreSQL's tsquery syntax, and what would break out of a quoted lexeme.
                "&",
                "|",
                "!",
                "<->",
                "<2>",
                ":*",
                ":A",
                "'",
                "\\",
                "⑴",
            ]
        )
        | st.text(max_size=6),
        max_size=8,
    ).map("".join)
)
def test_typed_text_never_reaches_fts5_as_syntax(team: Team, text: str) -> None:
    try:
        page = q.search_page(team.ws, text, access=EVERYTHING, now=NOW)
    except UniboxError as e:  # one clear line, never FTS5's or tsquery's syntax error
        assert "\n" not in str(e) and "fts5" not in str(e).lower()
        assert "tsquery" not in str(e).lower() and "syntax" not in str(e).lower()
        return
    assert isinstance(page.hits, list)


def test_a_mention_notification_shows_the_comment(team: Team) -> None:
    cid = team.start("hello", subject="Order late")
    cmd.comment(team.ws, cid, "@bo can you check the courier? [b]now[/b]", actor="ana")
    [note] = q.notifications(team.ws, team.bo)
    assert note.text == "Ana Lima mentioned you: Order late"  # what is stored stays
    assert note.summary == "Ana Lima mentioned you: @bo can you check the courier? [b]now[/b]"
    assert note.subject == "Order late"
    [fresh] = q.notifications_since(team.ws, team.bo, 0)
    assert fresh.summary == note.summary
