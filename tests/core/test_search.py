"""Search with operators and pages (queries.search_page), and what notifications show."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import T0, Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING, Access
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.core.demo import build_demo
from unibox_tui.core.errors import InvalidRequest, NotFound, UniboxError
from unibox_tui.core.move import migrate

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


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    build_demo(path, conversations=400, seed=3)
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, demo_file: Path) -> Iterator[Workspace]:
    """A small demo workspace (core/demo.py: names, words and threads as at 100k), on
    SQLite and moved to a real PostgreSQL (core/move.py), with a tag on some
    conversations; built once per database for this module."""
    target: Path | str = demo_file
    if request.param == "postgresql":
        target = request.getfixturevalue("postgres_server").database()
        migrate(str(demo_file), str(target))
    ws = open_workspace(target, create=False)
    ana = next(a.id for a in q.agents(ws) if a.handle == "ana")
    for row in q.search(ws, "status:open", access=EVERYTHING, limit=60)[::2]:
        cmd.tag(ws, row.row.id, "vip", actor=ana)
    yield ws
    ws.close()


def _demo_pages(ws: Workspace, text: str, access: Access, limit: int) -> list[list[tuple]]:
    out, cursor = [], None
    while True:
        page = q.search_page(ws, text, access=access, limit=limit, after=cursor, now=NOW)
        out.append([(h.row.id, h.message_id, h.snippet, h.highlights) for h in page.hits])
        cursor = page.next_cursor
        if cursor is None or len(out) > 200:
            return out


def _surnames(ws: Workspace) -> list[str]:
    """The demo's customers' last names, those with the most conversations first."""
    with ws.read() as conn:
        names = Counter(
            r[0].split()[-1]
            for r in conn.exec_driver_sql(
                "SELECT ct.name FROM conversation c JOIN contact ct ON ct.id = c.contact_id"
            )
        )
    return [name for name, _ in names.most_common()]


def test_an_operator_driving_the_message_scan_finds_the_same_pages(
    demo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL an operator that names few conversations (a customer's name or
    address, a subject's words, a tag) drives the message scan (queries._driven_scan):
    its pages are the word-driven scan's, hit for hit and page for page, for either agent,
    with other operators and times beside it (on SQLite the scan is always word-driven)."""
    first, second = _surnames(demo)[:2]
    with demo.read() as conn:
        address = conn.exec_driver_sql(
            "SELECT i.value FROM contact_identity i JOIN conversation c "
            "ON c.contact_id = i.contact_id WHERE i.kind = 'email' "
            "GROUP BY i.value ORDER BY count(*) DESC, i.value LIMIT 1"
        ).scalar()
    texts = [
        f"thanks from:{first}",
        f"order from:{first} from:{second}",
        f"thanks from:{address}",
        f"thanks from:{first} status:closed",
        f"thanks from:{first} before:20d",
        f'"my order" from:{first}',
        "order subject:order",
        "thanks tag:vip",
        f"order tag:vip from:{first}",
        "refund from:nobodyatall",
    ]
    agents = {a.handle: a.id for a in q.agents(demo)}
    readers = [q.reader(demo, agents["ana"]), q.reader(demo, agents["bo"])]
    driven = []
    real = q._driven_scan

    def counted(*args: object, **kw: object) -> object:
        page = real(*args, **kw)  # type: ignore[arg-type]
        driven.append(page is not None)
        return page

    for limit in (2, 50):
        monkeypatch.setattr(q, "DRIVE_MAX", -1)  # never drives: the word-driven scan
        scanned = {
            (t, i): _demo_pages(demo, t, a, limit) for t in texts for i, a in enumerate(readers)
        }
        if limit == 2:  # pages to turn
            assert sum(len(p) > 2 for p in scanned.values()) >= len(texts), scanned
        # Drives whenever an operator can; then only with at most 5 conversations (the
        # others go back to the scan, on any page).
        for most in (10**6, 5):
            monkeypatch.setattr(q, "DRIVE_MAX", most)
            monkeypatch.setattr(q, "DRIVE_RATIO", 10**6)
            monkeypatch.setattr(q, "_driven_scan", counted)
            for (text, i), pages in scanned.items():
                assert _demo_pages(demo, text, readers[i], limit) == pages, (text, i, limit, most)
        monkeypatch.undo()
    if getattr(demo, "url", None):
        assert sum(driven) > 2 * len(texts)
    else:
        assert not driven


def test_a_driven_scan_at_its_cap_pages_on_without_losing_a_match(
    demo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEARCH_SCAN_CAP bounds the messages a driven scan checks for a page: a page then
    holds the conversations known to come first and the next one reads on; every
    conversation is still found once."""
    text = f"thanks from:{_surnames(demo)[0]}"
    whole = [h[0] for p in _demo_pages(demo, text, EVERYTHING, 500) for h in p]
    monkeypatch.setattr(q, "DRIVE_MAX", 10**6)
    monkeypatch.setattr(q, "DRIVE_RATIO", 1)
    monkeypatch.setattr(q, "SEARCH_SCAN_CAP", 15)
    capped = [h[0] for p in _demo_pages(demo, text, EVERYTHING, 4) for h in p]
    assert len(capped) == len(set(capped)) and sorted(capped) == sorted(whole) and whole
