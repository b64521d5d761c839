"""E-mail threading that does not depend on arrival order, and merging conversations
(core/threading.py, core/commands/merging.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.conftest import T0, Team, later
from tests.core.test_changes import dump, pull, raw, same
from tests.core.test_view_counts import assert_counts_right
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.changes import open_replica
from unibox_tui.core.commands import registry
from unibox_tui.core.errors import InvalidRequest, NotFound

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

# One thread: the question (a), a colleague's follow-up to it (b), the customer's reply to b
# that lists the whole chain (c), and a third person's reply to a from a client that sends
# only In-Reply-To (d). Three senders: no subject rule can join them, only headers.
THREAD = {
    "a": ((), 0, "Order #12 never arrived", "carla"),
    "b": (("a",), 10, "Re: Order #12 never arrived", "dan"),
    "c": (("b", "a"), 20, "Re: Order #12 never arrived", "carla"),
    "d": (("a",), 30, "Re: Order #12 never arrived", "eve"),
}


def mail(team: Team, tag: str, key: str) -> cmd.Incoming:
    refs, minutes, subject, who = THREAD[key]
    return team.incoming(
        f"{key} of {tag}",
        who=f"{who}.{tag}@example.com",
        name=who.title(),
        subject=subject,
        at=later(minutes),
        external_id=f"{key}.{tag}@mail.example",
        references=tuple(f"{r}.{tag}@mail.example" for r in refs),
    )


def conversations_of(team: Team, tag: str) -> set[str]:
    with team.ws.read() as conn:
        return set(
            conn.exec_driver_sql(
                "SELECT DISTINCT conversation_id FROM message WHERE body LIKE ?", (f"% of {tag}",)
            ).scalars()
        )


def test_every_arrival_order_gives_one_conversation(team: Team) -> None:
    """All 24 orders of one thread, each its own thread in one workspace: one conversation
    of 4 messages, with the first message's subject and time, whatever came first."""
    for order in itertools.permutations("abcd"):
        tag = "".join(order)
        for key in order:
            cmd.ingest(team.ws, mail(team, tag, key))
        convs = conversations_of(team, tag)
        assert len(convs) == 1, (tag, convs)
        row = q.conversation(team.ws, convs.pop(), access=EVERYTHING)
        assert row.message_count == 4, tag
        assert row.subject == "Order #12 never arrived", tag
        assert row.created_at == later(0), tag
        assert row.last_message_at == later(30), tag
    with team.ws.read() as conn:  # nothing left behind: no empty or orphan conversation
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM conversation c WHERE NOT EXISTS "
                "(SELECT 1 FROM message m WHERE m.conversation_id = c.id AND m.kind = 'incoming')"
            ).scalar()
            == 0
        )
        assert conn.exec_driver_sql("SELECT count(*) FROM conversation").scalar() == 24
    assert_counts_right(team.ws, [None, team.ana, team.bo])


def test_a_batch_in_reverse_order_threads_within_the_batch(team: Team) -> None:
    """An initial sync stores a batch in one transaction: the links hold inside it."""
    results = cmd.ingest_many(team.ws, [mail(team, "batch", k) for k in "dcba"])
    assert len({r.conversation_id for r in results}) == 1
    assert [r.created_conversation for r in results] == [True, False, False, False]


def test_a_message_that_links_two_conversations_merges_them(
    team: Team, tmp_path: Path, ws_target: Path | str
) -> None:
    """d and c reply to a and b with In-Reply-To only: each opens a conversation. Then b
    arrives, referring to a (like d) and referred to by c: the two are one thread."""
    base = "@mail.example"
    d = cmd.ingest(  # from Carla's colleague, so no subject rule joins it to Carla's mail
        team.ws,
        team.incoming(
            "d",
            who="dan@example.com",
            at=later(30),
            external_id="d" + base,
            references=("a" + base,),
        ),
    )
    c = cmd.ingest(
        team.ws,
        team.incoming("c", at=later(20), external_id="c" + base, references=("b" + base,)),
    )
    assert d.conversation_id != c.conversation_id
    cmd.comment(team.ws, d.conversation_id, "@bo have a look", actor="ana")
    b = cmd.ingest(
        team.ws,
        team.incoming("b", at=later(10), external_id="b" + base, references=("a" + base,)),
    )
    # The older conversation (c's: it started at minute 20) survives and holds everything.
    assert b.conversation_id == c.conversation_id
    thread = q.thread(team.ws, c.conversation_id, access=EVERYTHING)
    assert [m.body for m in thread if m.kind != "activity"] == ["b", "c", "d", "@bo have a look"]
    merged = [m.body for m in thread if m.kind == "activity" and "merged" in m.body]
    assert merged == [
        "Unibox merged “Order late” (2 messages) into this conversation: "
        "a message links both threads; dan@example.com is copied on replies"
    ]
    with pytest.raises(NotFound):
        q.conversation(team.ws, d.conversation_id, access=EVERYTHING)
    row = q.conversation(team.ws, c.conversation_id, access=EVERYTHING)
    assert row.message_count == 4 and row.last_message_at == later(30)
    # Bo's mention notification follows the comment.
    (note,) = q.notifications(team.ws, team.bo)
    assert note.conversation_id == c.conversation_id
    # And a, arriving last, joins without another merge.
    a = cmd.ingest(team.ws, team.incoming("a", at=later(0), external_id="a" + base))
    assert a.conversation_id == c.conversation_id
    assert q.conversation(team.ws, c.conversation_id, access=EVERYTHING).created_at == later(0)
    assert_counts_right(team.ws, [None, team.ana, team.bo, team.cy])
    # A client that pulls the change log holds what the workspace holds.
    replica = open_replica(tmp_path / "replica.db")
    pull(team.ws, replica, None)
    assert same(dump(replica), dump(raw(ws_target)))
    assert q.resolve_conversation(team.ws, d.conversation_id) == c.conversation_id


def test_merge_command_moves_everything_and_redirects(
    team: Team, tmp_path: Path, ws_target: Path | str
) -> None:
    ws = team.ws
    replica = open_replica(tmp_path / "replica.db")
    a = team.start("My parcel is late", subject="Parcel")
    b = team.start("Also: wrong size", who="dan@example.com", name="Dan", subject="Size")
    cmd.create_ticket(ws, conversation_id=a, actor="ana")
    cmd.create_ticket(ws, conversation_id=b, actor="ana")
    cmd.comment(ws, b, "@bo this one too", actor="ana")
    cmd.reply(ws, b, "We are on it", actor="ana")
    cmd.save_draft(ws, a, "Draft on A", actor="ana")
    cmd.save_draft(ws, b, "Draft on B", actor="ana")
    cmd.save_draft(ws, b, "Bo's draft", actor="bo")
    cmd.close(ws, a, actor="ana")
    pull(ws, replica, None)  # the client held both before the merge
    before = q.conversation(ws, b, access=EVERYTHING)

    seq = ws.change_seq()
    result = registry.run(
        ws, "merge_conversations", {"conversation_id": a, "merge_id": b}, actor="ana"
    )
    with ws.read() as conn:  # an open app's live refresh redraws A and drops B
        assert q.changed_conversations(conn, seq) == {a, b}
    assert result.to_json()["conversation_id"] == a
    assert set(result.ids) == {a, b}

    row = q.conversation(ws, a, access=EVERYTHING)
    assert row.status == "open"  # B was open: a merge does not hide a waiting customer
    assert row.message_count == 1 + before.message_count
    assert "dan@example.com" in row.cc  # the other customer is copied on replies
    thread = q.thread(ws, a, access=EVERYTHING)
    bodies = [m.body for m in thread]
    assert {"Also: wrong size", "@bo this one too", "We are on it"} <= set(bodies)
    line = thread[-1].body
    assert line.startswith("Ana Lima merged “Size” (3 messages) into this conversation")
    assert "dan@example.com is copied on replies" in line
    assert "its ticket #2 stays a ticket of its own" in line
    # A keeps its ticket; B's stays a ticket.
    with ws.read() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT t.number FROM conversation c JOIN ticket t ON t.id = c.ticket_id WHERE c.id = ?",
                (a,),
            ).scalar()
            == 1
        )
        assert conn.exec_driver_sql("SELECT count(*) FROM ticket").scalar() == 2
    # Drafts: Ana's two become one, Bo's moves; notifications follow.
    drafts = q.drafts(ws, team.ana)
    assert drafts[a].text == "Draft on A\n\nDraft on B" and b not in drafts
    assert q.drafts(ws, team.bo)[a].text == "Bo's draft"
    assert [n.conversation_id for n in q.notifications(ws, team.bo)] == [a]
    # B's contact and identity are kept.
    with ws.read() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM contact_identity WHERE value = 'dan@example.com'"
            ).scalar()
            == 1
        )
    # B redirects; merging it again says where it went.
    assert q.resolve_conversation(ws, b) == a
    with pytest.raises(InvalidRequest, match=f"was merged into {a}"):
        cmd.merge_conversations(ws, a, b, actor="ana")
    assert_counts_right(ws, [None, team.ana, team.bo, team.cy])
    # The client that pulls after the merge equals the workspace (tombstones, moved rows).
    pull(ws, replica, None)
    assert same(dump(replica), dump(raw(ws_target)))


def test_merge_needs_access_to_both_inboxes_and_changes_nothing_otherwise(team: Team) -> None:
    ws = team.ws
    support = team.start("Support question")
    sales = team.start("Price?", channel=team.sales_email, who="lead@example.com")
    seq = ws.change_seq()
    with pytest.raises(NotFound):  # bo cannot see Sales: as if it did not exist
        cmd.merge_conversations(ws, support, sales, actor="bo")
    with pytest.raises(InvalidRequest, match="into itself"):
        cmd.merge_conversations(ws, support, support, actor="ana")
    with pytest.raises(NotFound):
        cmd.merge_conversations(ws, support, "0199a1b2-0000-7000-8000-000000000000", actor="ana")
    assert ws.change_seq() == seq
    # Ana acts in both: the Sales conversation merges into Support's.
    cmd.merge_conversations(ws, support, sales, actor="ana")
    assert q.conversation(ws, support, access=EVERYTHING).message_count == 2
    assert_counts_right(ws, [None, team.ana, team.bo, team.cy])


def test_a_reply_carrying_a_merged_conversations_token_finds_the_survivor(team: Team) -> None:
    """Our Message-IDs carry the conversation id (the hint): after a merge it redirects."""
    a = team.start("First", subject="One")
    b = team.start("Second", who="dan@example.com", subject="Two")
    cmd.merge_conversations(team.ws, a, b, actor="ana")
    late = cmd.ingest(
        team.ws,
        team.incoming(
            "late answer", who="dan@example.com", subject="Unrelated", conversation_hint=b
        ),
    )
    assert late.conversation_id == a


def test_references_are_stored_and_go_with_their_message(team: Team, ws_target: Path | str) -> None:
    conv = team.start("x", external_id="x@m", references=("p@m", "q@m"))
    with team.ws.read() as conn:
        refs = conn.exec_driver_sql("SELECT ref FROM message_ref ORDER BY ref").scalars().all()
    assert refs == ["p@m", "q@m"]
    con = raw(ws_target)
    mark = "%s" if isinstance(ws_target, str) else "?"
    con.execute(f"DELETE FROM message WHERE conversation_id = {mark}", (conv,))
    con.commit()
    assert con.execute("SELECT count(*) FROM message_ref").fetchone() == (0,)
    con.close()


def test_cli_merge_and_show_of_the_merged_id(tmp_path: Path) -> None:
    from tests.core.test_cli import ok_json, unibox
    from unibox_tui.core.demo import build_demo

    db = str(tmp_path / "demo.db")
    build_demo(db, conversations=40, seed=5, now=T0)
    rows = ok_json("conversations", "list", "--db", db, "--view", "all", "--limit", "2")
    a, b = (r["id"] for r in rows["conversations"])
    before = ok_json("conversations", "show", b, "--db", db)
    merged = ok_json("conversations", "merge", a, b, "--db", db, "--as", "ana")
    assert merged["conversation_id"] == a and merged["merged_id"] == b
    assert merged["moved"] == len(before["messages"])
    shown = ok_json("conversations", "show", b, "--db", db)
    assert shown["id"] == a and shown["merged_from"] == b
    assert shown["messages"][-1]["body"].startswith("Ana Lima merged")
    human = unibox("conversations", "show", b, "--db", db)
    assert human.returncode == 0 and human.stdout.startswith(f"{b} was merged into {a}:")
    again = unibox("conversations", "merge", a, b, "--db", db, "--as", "ana")
    assert again.returncode == 1 and not again.stdout
    assert again.stderr == f"unibox: error: conversation {b} was merged into {a} already\n"
    same_one = unibox("conversations", "merge", a, a, "--db", db)
    assert same_one.returncode == 1 and "into itself" in same_one.stderr
    assert len(ok_json("conversations", "list", "--db", db, "--view", "all")["conversations"]) == 39


def test_a_merge_across_inboxes_reaches_an_agent_who_sees_only_the_survivors(
    team: Team, tmp_path: Path, ws_target: Path | str
) -> None:
    """Bo sees Support, not Sales. A Sales conversation (with an attachment) merged into a
    Support one: Bo's cache, pulled before and after, holds what he may see now."""
    from tests.core.test_changes import access_of, visible

    ws = team.ws
    support = team.start("Support question")
    sales = cmd.ingest(
        ws,
        team.incoming(
            "Price list attached?",
            channel=team.sales_email,
            who="lead@example.com",
            attachments=(cmd.IncomingAttachment("prices.pdf", "application/pdf", 4, b"%PDF"),),
        ),
    ).conversation_id
    replica = open_replica(tmp_path / "bo.db")
    pull(ws, replica, team.bo)
    assert sales not in dump(replica)["conversation"]
    cmd.merge_conversations(ws, support, sales, actor="ana")
    pull(ws, replica, team.bo)
    got = dump(replica)
    assert same(got, visible(dump(raw(ws_target)), access_of(ws, team.bo)))
    assert [a["filename"] for a in got["attachment"].values()] == ["prices.pdf"]
