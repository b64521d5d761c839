"""Views, counts, keyset pagination, threads, contacts and full-text search."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.errors import InvalidRequest

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def populate(team: Team) -> list[str]:
    convs = []
    for i in range(7):
        r = cmd.ingest(
            team.ws,
            team.incoming(
                f"message {i}",
                who=f"c{i}@x.io",
                name=f"Customer {i}",
                subject=f"Topic {i}",
                at=later(i),
            ),
        )
        convs.append(r.conversation_id)
    cmd.assign(team.ws, convs[0], "ana", actor="ana")
    cmd.assign(team.ws, convs[1], "bo", actor="ana")
    cmd.close(team.ws, convs[2], actor="ana")
    cmd.snooze(team.ws, convs[3], later(10_000), actor="ana", now=later(8))
    cmd.mark_read(team.ws, convs[4], actor="ana")
    chat = cmd.ingest(
        team.ws,
        team.incoming(
            "chat hi", channel=team.chat, kind="chat", who="v1", subject="", at=later(20)
        ),
    )
    convs.append(chat.conversation_id)
    return convs


def test_views_and_counts(team: Team) -> None:
    convs = populate(team)

    def ids(key: str) -> list[str]:
        return [
            r.id
            for r in q.list_conversations(
                team.ws, q.view(key, me=team.ana, ws=team.ws, access=EVERYTHING)
            ).rows
        ]

    assert ids("mine") == [convs[0]]
    assert ids("unassigned") == [convs[7], convs[6], convs[5], convs[4]]
    assert ids("open") == [convs[7], convs[6], convs[5], convs[4], convs[1], convs[0]]
    assert ids("snoozed") == [convs[3]] and ids("closed") == [convs[2]]
    assert ids("kind:chat") == [convs[7]]
    assert ids("inbox:support") == ids("open")
    assert len(ids("all")) == 8
    assert q.count(team.ws, q.view("open", access=EVERYTHING)) == (6, 5)  # one was marked read
    assert q.count(team.ws, q.view("mine", me=team.ana, access=EVERYTHING)) == (1, 1)


def test_keyset_pagination_walks_every_row_once(team: Team) -> None:
    populate(team)
    v = q.view("all", access=EVERYTHING)
    seen, cursor = [], None
    while True:
        page = q.list_conversations(team.ws, v, after=cursor, limit=3)
        seen += [r.id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    with pytest.raises(InvalidRequest, match="bad cursor"):
        q.list_conversations(team.ws, v, after="garbage")


def test_rows_at_and_index_of_agree(team: Team) -> None:
    populate(team)
    v = q.view("all", access=EVERYTHING)
    with team.ws.read() as conn:
        rows = q.rows_at(conn, v, 2, 3)
        assert [q.index_of(conn, v, r) for r in rows] == [2, 3, 4]
    assert [r.id for r in rows] == [
        r.id for r in q.list_conversations(team.ws, v, limit=5).rows[2:5]
    ]


def test_unknown_view_and_mine_without_identity(team: Team) -> None:
    with pytest.raises(InvalidRequest, match="unknown view 'inboxx'"):
        q.view("inboxx", access=EVERYTHING)
    with pytest.raises(InvalidRequest, match="needs to know who you are"):
        q.view("mine", access=EVERYTHING)


def test_contact_history_and_tickets(team: Team) -> None:
    a = team.start("one", subject="First")
    b = team.start("two", subject="Second", at=later(5))
    tid = cmd.create_ticket(team.ws, actor="ana", conversation_id=b)
    detail = q.contact(
        team.ws, q.conversation(team.ws, a, access=EVERYTHING).contact_id, access=EVERYTHING
    )
    assert [c.id for c in detail.conversations] == [b, a]
    assert [t.id for t in detail.tickets] == [tid]
    assert detail.identities == [("email", "carla@example.com")]


def test_search_finds_bodies_subjects_and_contact_names(team: Team) -> None:
    a = team.start("The parcel was crushed in transit", subject="Damaged box")
    b = team.start(
        "Invoice please", who="jose@x.io", name="José Álvarez", subject="Billing", at=later(1)
    )
    [hit] = q.search(team.ws, "crushed", access=EVERYTHING)
    assert hit.row.id == a
    assert hit.snippet == "The parcel was crushed in transit"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["crushed"]
    assert [h.row.id for h in q.search(team.ws, "damaged", access=EVERYTHING)] == [a]  # subject
    assert [h.row.id for h in q.search(team.ws, "jose alvarez", access=EVERYTHING)] == [
        b
    ]  # diacritics folded
    assert [h.row.id for h in q.search(team.ws, "cru", access=EVERYTHING)] == [
        a
    ]  # prefix while typing
    assert q.search(team.ws, "nothing-like-this", access=EVERYTHING) == []


def test_search_finds_the_words_inside_addresses_numbers_and_accents(team: Team) -> None:
    # FTS5's tokenizer reads `carla@example.com` as three words and `order-1234` as two;
    # PostgreSQL's parser keeps the first whole and reads `-1234` (migration 0026: the same
    # words on both).
    a = team.start(
        "Write to carla@example.com about order-1234, see x.io/help (v1.2.3)",
        subject="Ünïcode Straße",
    )
    for text in ("carla", "example", "1234", '"order 1234"', "help", "unicode", "2 3", "exam"):
        assert [h.row.id for h in q.search(team.ws, text, access=EVERYTHING)] == [a], text
    [hit] = q.search(team.ws, "1234 carla", access=EVERYTHING)
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["carla", "1234"]
    [hit] = q.search(team.ws, "unicode", access=EVERYTHING)
    assert hit.snippet == "Ünïcode Straße — Carla Souza"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["Ünïcode"]
    assert q.search(team.ws, "1235", access=EVERYTHING) == []


def test_a_huge_message_of_distinct_words_is_stored_and_found(team: Team) -> None:
    # ~2.2 MB of distinct words: PostgreSQL's tsvector holds at most 1 MB, and the write
    # that stored it failed there (migration 0026 indexes the first 100,000 characters).
    body = "needle " + " ".join(f"w{i:06x}{i * 7919:08x}" for i in range(130_000))
    a = team.start(body)
    [hit] = q.search(team.ws, "needle", access=EVERYTHING)
    assert hit.row.id == a and hit.snippet.startswith("needle w000000")


def test_a_long_message_shows_the_part_around_its_match(team: Team) -> None:
    body = (
        " ".join(f"w{i}" for i in range(40)) + " crushed box " + " ".join(f"x{i}" for i in range(9))
    )
    team.start(body)
    [hit] = q.search(team.ws, "crushed", access=EVERYTHING)
    assert hit.snippet == "…w35 w36 w37 w38 w39 crushed box x0 x1 x2 x3 x4…"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["crushed"]


def test_search_sees_new_writes_and_contact_renames(team: Team) -> None:
    a = team.start("hello")
    cmd.comment(team.ws, a, "internal note about kangaroos", actor="ana")
    assert [h.row.id for h in q.search(team.ws, "kangaroos", access=EVERYTHING)] == [a]
    cmd.update_contact(
        team.ws,
        q.conversation(team.ws, a, access=EVERYTHING).contact_id,
        name="Wilhelmina Zed",
        actor="ana",
    )
    assert [h.row.id for h in q.search(team.ws, "wilhelmina", access=EVERYTHING)] == [a]
    assert q.search(team.ws, "carla", access=EVERYTHING) == []


def test_a_batch_indexes_each_new_row_once_even_when_its_contact_is_renamed(team: Team) -> None:
    # Rows enter the index at commit (core/search_index.py). Here the second message renames
    # the contact, which re-indexes the new conversation through a trigger before the
    # commit; it must be indexed once, not twice (a second insert of its rowid fails).
    results = cmd.ingest_many(
        team.ws,
        [
            team.incoming("first about walruses", name="", who="oyster@x.io", subject="Tusks"),
            team.incoming("second", name="Olga Oyster", who="oyster@x.io", subject="Other"),
            team.incoming("third note", who="third@x.io", name="Third", subject="Tusks too"),
        ],
    )
    first, second, third = (r.conversation_id for r in results)
    assert [h.row.id for h in q.search(team.ws, "walruses", access=EVERYTHING)] == [first]
    assert sorted(h.row.id for h in q.search(team.ws, "olga", access=EVERYTHING)) == sorted(
        [first, second]
    )
    assert [h.row.id for h in q.search(team.ws, "tusks too", access=EVERYTHING)] == [third]
    with team.ws.read() as conn:
        indexed = conn.exec_driver_sql(
            "SELECT c.id, f.contact FROM conversation_fts f JOIN conversation c ON c.rid = f.rowid"
        ).all()
    assert sorted(indexed) == sorted(
        [(first, "Olga Oyster "), (second, "Olga Oyster "), (third, "Third ")]
    )
    if team.ws.dialect == "sqlite":  # FTS5's own check (PostgreSQL's rowid is a primary key)
        con = sqlite3.connect(team.ws.path)
        for table in ("message_fts", "conversation_fts"):  # raises if the index disagrees
            con.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")
        con.close()


def test_rows_written_outside_ingest_are_searchable_at_once(team: Team) -> None:
    a = team.start("hello")
    cmd.reply(team.ws, a, "We shipped the replacement capybara", actor="ana")
    cmd.comment(team.ws, a, "@bo the capybara is fragile", actor="ana")
    hits = q.search(team.ws, "capybara", access=EVERYTHING)
    assert [h.row.id for h in hits] == [a]
    match = (
        "doc @@ 'capybara'" if team.ws.dialect == "postgresql" else "message_fts MATCH 'capybara'"
    )
    with team.ws.read() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM message_fts WHERE {match}").scalar() == 2


@pytest.mark.parametrize(
    "text", ['"', "AND OR NOT", "a* NEAR(b", "'; DROP TABLE message; --", "***", ""]
)
def test_search_input_is_never_fts_syntax(team: Team, text: str) -> None:
    team.start("and or not near drop table message")
    hits = q.search(team.ws, text, access=EVERYTHING)
    assert isinstance(hits, list)
    assert q.stats(team.ws)["message"] == 1  # nothing was dropped


def test_search_orders_by_recent_activity_and_limits(team: Team) -> None:
    ids = [
        team.start(f"refund request {i}", who=f"r{i}@x.io", subject=f"S{i}", at=later(i))
        for i in range(6)
    ]
    hits = q.search(team.ws, "refund", limit=4, access=EVERYTHING)
    assert [h.row.id for h in hits] == ids[::-1][:4]


def test_activity_lines_are_not_searchable(team: Team) -> None:
    a = team.start("hi")
    cmd.close(team.ws, a, actor="ana")
    assert q.search(team.ws, "closed", access=EVERYTHING) == []


def test_list_filters_narrow_views_and_counts(team: Team) -> None:
    convs = populate(team)
    cmd.create_ticket(team.ws, actor="ana", conversation_id=convs[4])
    cmd.reply(team.ws, convs[5], "answered", actor="ana")

    def ids(name: str) -> set[str]:
        v = q.filtered(q.view("open", access=EVERYTHING), name)
        rows = {r.id for r in q.list_conversations(team.ws, v).rows}
        assert q.count(team.ws, v)[0] == len(rows)
        return rows

    assert ids("ticket") == {convs[4]}
    assert ids("no_ticket") == {convs[i] for i in (0, 1, 5, 6, 7)}
    assert ids("waiting") == {convs[i] for i in (0, 1, 4, 6, 7)}
    assert ids("unread") == {convs[i] for i in (0, 1, 6, 7)}
    with pytest.raises(InvalidRequest, match="unknown filter"):
        q.filtered(q.view("open", access=EVERYTHING), "vip")


def test_thread_with_a_body_limit_reads_only_the_start_of_long_bodies(team: Team) -> None:
    long_body = "x" * 50_000 + "END"
    conv = team.start(long_body)
    cmd.reply(team.ws, conv, "short", actor="ana")
    thread = q.thread(team.ws, conv, access=EVERYTHING, body_limit=1000)
    first, reply = (m for m in thread if m.kind != "activity")  # Ana took it by replying
    assert (len(first.body), first.body_cut, first.body_html) == (1000, True, None)
    assert (reply.body, reply.body_cut) == ("short", False)
    assert (
        q.thread(team.ws, conv, access=EVERYTHING)[0].body == long_body
    )  # the CLI and JSON get all of it
    assert q.message_text(team.ws, first.id, 50_003, access=EVERYTHING) == (long_body, False)
    assert q.message_text(team.ws, first.id, 10, access=EVERYTHING) == ("x" * 10, True)
