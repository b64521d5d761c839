"""Ingest: contacts by identity, threading, reopen on incoming, idempotency, quiet mail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0, Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.threading import normalize_subject

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def test_new_message_creates_contact_and_unread_waiting_conversation(team: Team) -> None:
    r = cmd.ingest(
        team.ws, team.incoming("My order is late", who="Carla@Example.COM", external_id="a1@x")
    )
    assert r.created_conversation and not r.duplicate
    row = q.conversation(team.ws, r.conversation_id, access=EVERYTHING)
    assert (row.status, row.unread, row.waiting, row.inbox, row.channel_kind) == (
        "open",
        True,
        True,
        "Support",
        "email",
    )
    assert (row.contact_name, row.identity, row.preview) == (
        "Carla Souza",
        "carla@example.com",
        "My order is late",
    )


def test_same_external_id_is_stored_once(team: Team) -> None:
    first = cmd.ingest(team.ws, team.incoming("x", external_id="dup@x"))
    again = cmd.ingest(team.ws, team.incoming("x", external_id="dup@x"))
    assert again.duplicate and (again.conversation_id, again.message_id) == (
        first.conversation_id,
        first.message_id,
    )
    assert q.conversation(team.ws, first.conversation_id, access=EVERYTHING).message_count == 1


def test_header_reference_threads_even_with_another_subject(team: Team) -> None:
    a = cmd.ingest(team.ws, team.incoming("first", external_id="m1@x"))
    b = cmd.ingest(
        team.ws,
        team.incoming(
            "second",
            subject="totally different",
            external_id="m2@x",
            references=("m1@x",),
            at=later(3),
        ),
    )
    assert b.conversation_id == a.conversation_id and not b.created_conversation


def test_reply_to_our_sent_message_threads_by_its_message_id(team: Team) -> None:
    from unibox_tui.core import outbox

    conv = team.start("question", external_id="q@x")
    cmd.reply(team.ws, conv, "answer", actor="ana", now=later(1))
    [item] = outbox.due(team.ws, later(2))
    outbox.mark_sent(team.ws, item.entry_id, "ours.123@acme.example")
    r = cmd.ingest(
        team.ws,
        team.incoming(
            "thanks",
            subject="Re: something else",
            external_id="t@x",
            references=("ours.123@acme.example",),
            at=later(30),
        ),
    )
    assert r.conversation_id == conv


def test_conversation_hint_threads(team: Team) -> None:
    conv = team.start("question")
    r = cmd.ingest(
        team.ws, team.incoming("more", subject="new words", conversation_hint=conv, at=later(4))
    )
    assert r.conversation_id == conv


def test_subject_fallback_is_conservative(team: Team) -> None:
    conv = team.start("first", subject="Order #12 late")
    same = cmd.ingest(
        team.ws, team.incoming("again", subject="RE: Fwd: order #12  LATE", at=later(60))
    )
    assert same.conversation_id == conv
    other_subject = cmd.ingest(
        team.ws, team.incoming("new thing", subject="Invoice question", at=later(61))
    )
    assert other_subject.created_conversation
    other_person = cmd.ingest(
        team.ws, team.incoming("x", who="dan@example.com", subject="Order #12 late", at=later(62))
    )
    assert other_person.created_conversation
    too_old = cmd.ingest(
        team.ws,
        team.incoming(
            "late again", subject="Re: invoice question", at=later(61) + timedelta(days=15)
        ),
    )
    assert too_old.created_conversation


def test_empty_subjects_never_match_each_other(team: Team) -> None:
    a = team.start("one", subject="")
    b = cmd.ingest(team.ws, team.incoming("two", subject="", at=later(1)))
    assert b.conversation_id != a


def test_customer_writing_again_reopens_closed_conversation(team: Team) -> None:
    conv = team.start("hi", external_id="h1@x")
    cmd.close(team.ws, conv, actor="ana", now=later(10))
    r = cmd.ingest(
        team.ws,
        team.incoming("one more thing", references=("h1@x",), external_id="h2@x", at=later(20)),
    )
    assert r.conversation_id == conv
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.status, row.closed_at, row.unread, row.waiting) == ("open", None, True, True)
    assert "Reopened: the customer wrote again" in [
        m.body for m in q.thread(team.ws, conv, access=EVERYTHING)
    ]


def test_customer_writing_wakes_snoozed_conversation(team: Team) -> None:
    conv = team.start("hi", external_id="s1@x")
    cmd.snooze(team.ws, conv, later(600), actor="ana", now=later(1))
    cmd.ingest(team.ws, team.incoming("ping", references=("s1@x",), at=later(5)))
    assert q.conversation(team.ws, conv, access=EVERYTHING).status == "open"


def test_messaging_channel_joins_open_conversation_and_reopens_recent(team: Team) -> None:
    chat = dict(channel=team.whatsapp, kind="whatsapp", who="+1 (555) 0100", name="Ola", subject="")
    first = cmd.ingest(team.ws, team.incoming("hi", **chat))
    second = cmd.ingest(team.ws, team.incoming("are you there?", at=later(1), **chat))
    assert second.conversation_id == first.conversation_id
    cmd.close(team.ws, first.conversation_id, actor="ana", now=later(2))
    back = cmd.ingest(team.ws, team.incoming("one more", at=later(60), **chat))
    assert back.conversation_id == first.conversation_id
    assert q.conversation(team.ws, first.conversation_id, access=EVERYTHING).status == "open"
    cmd.close(team.ws, first.conversation_id, actor="ana", now=later(61))
    much_later = cmd.ingest(
        team.ws, team.incoming("new issue", at=later(61) + timedelta(days=8), **chat)
    )
    assert much_later.created_conversation


def test_auto_reply_is_recorded_but_does_not_reopen_or_wait(team: Team) -> None:
    conv = team.start("hi", external_id="ar1@x")
    cmd.reply(team.ws, conv, "answer", actor="ana", now=later(1))
    cmd.close(team.ws, conv, actor="ana", now=later(2))
    r = cmd.ingest(
        team.ws,
        team.incoming(
            "I am out of office",
            references=("ar1@x",),
            flags=frozenset({"auto_reply"}),
            at=later(3),
        ),
    )
    assert r.conversation_id == conv
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.status, row.waiting) == ("closed", False)
    assert q.thread(team.ws, conv, access=EVERYTHING)[-1].flags == ["auto_reply"]


def test_denied_mail_is_recorded_but_kept_out_of_open_views(team: Team) -> None:
    r = cmd.ingest(
        team.ws, team.incoming("BUY NOW", who="spam@bad.example", flags=frozenset({"denied"}))
    )
    row = q.conversation(team.ws, r.conversation_id, access=EVERYTHING)
    assert row.status == "closed" and not row.unread
    assert q.count(team.ws, q.view("open", access=EVERYTHING)) == (0, 0)


def test_identity_name_upgrades_from_address(team: Team) -> None:
    a = cmd.ingest(team.ws, team.incoming("x", name="", who="zoe@example.com"))
    assert (
        q.conversation(team.ws, a.conversation_id, access=EVERYTHING).contact_name
        == "zoe@example.com"
    )
    cmd.ingest(
        team.ws,
        team.incoming("y", name="Zoë Ng", who="zoe@example.com", subject="Other", at=later(2)),
    )
    assert q.conversation(team.ws, a.conversation_id, access=EVERYTHING).contact_name == "Zoë Ng"


def test_identity_name_upgrades_within_one_batch(team: Team) -> None:
    # An initial sync stores a thousand messages a transaction: a name that first appears
    # later in the batch than the bare address must still reach the contact (it did not).
    first, _ = cmd.ingest_many(
        team.ws,
        [
            team.incoming("x", name="", who="zoe@example.com"),
            team.incoming("y", name="Zoë Ng", who="zoe@example.com", subject="Other", at=later(2)),
            team.incoming("z", name="Somebody Else", who="zoe@example.com", at=later(3)),
        ],
    )[:2]
    assert (
        q.conversation(team.ws, first.conversation_id, access=EVERYTHING).contact_name == "Zoë Ng"
    )


def test_cc_is_kept_on_the_conversation(team: Team) -> None:
    r = cmd.ingest(
        team.ws, team.incoming("x", meta={"cc": ["boss@example.com"]}, external_id="cc1@x")
    )
    cmd.ingest(
        team.ws,
        team.incoming(
            "y",
            meta={"cc": ["ops@example.com", "boss@example.com"]},
            references=("cc1@x",),
            at=later(1),
        ),
    )
    assert q.conversation(team.ws, r.conversation_id, access=EVERYTHING).cc == [
        "boss@example.com",
        "ops@example.com",
    ]


def test_attachments_are_stored_with_notes(team: Team) -> None:
    r = cmd.ingest(
        team.ws,
        team.incoming(
            "see files",
            attachments=(
                cmd.IncomingAttachment("a.pdf", "application/pdf", 3, b"pdf"),
                cmd.IncomingAttachment(
                    "huge.mov", "video/quicktime", 90_000_000, None, "not stored: over 25 MB"
                ),
            ),
        ),
    )
    [msg] = q.thread(team.ws, r.conversation_id, access=EVERYTHING)
    assert [(a.filename, a.stored, a.note) for a in msg.attachments] == [
        ("a.pdf", True, None),
        ("huge.mov", False, "not stored: over 25 MB"),
    ]
    assert q.attachment_bytes(team.ws, msg.attachments[0].id, access=EVERYTHING) == (
        "a.pdf",
        b"pdf",
    )


def test_ingest_many_is_one_transaction_with_sync_state(team: Team) -> None:
    before = team.ws.change_seq()
    items = [
        team.incoming(f"m{i}", who=f"p{i}@x.io", external_id=f"b{i}@x", at=later(i))
        for i in range(5)
    ]
    results = cmd.ingest_many(team.ws, items, sync_state=(team.email, "INBOX", {"uidnext": 6}))
    assert len({r.conversation_id for r in results}) == 5
    assert team.ws.change_seq() == before + 1
    assert q.sync_state(team.ws, team.email, "INBOX") == {"uidnext": 6}


def test_older_message_arriving_late_does_not_move_last_message_back(team: Team) -> None:
    conv = team.start("new", external_id="n@x", at=later(100))
    cmd.ingest(team.ws, team.incoming("old", references=("n@x",), at=T0))
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.last_message_at, row.preview) == (later(100), "new")
    assert [m.body for m in q.thread(team.ws, conv, access=EVERYTHING)] == [
        "old",
        "new",
    ]  # time order


def test_normalize_subject() -> None:
    assert normalize_subject("Re: AW: Fwd:  Order  #12") == "order #12"
    assert normalize_subject("RE[2]: Sv: hello") == "hello"
    assert normalize_subject("Regarding taxes") == "regarding taxes"


def test_a_third_party_joins_in_cc_and_never_takes_the_reply_address(team: Team) -> None:
    from unibox_tui.core import outbox

    conv = team.start("My order is late", external_id="m1@x")
    # Someone else answers the customer's message, writing to her and to us.
    third = team.incoming(
        "I am the new account manager, send it to me",
        who="mallory@evil.example",
        name="Mallory",
        external_id="t1@x",
        references=("m1@x",),
        meta={"cc": ["carla@example.com"]},
        at=later(2),
    )
    r = cmd.ingest(team.ws, third)
    assert r.conversation_id == conv
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.contact_name, row.identity) == ("Carla Souza", "carla@example.com")
    assert row.cc == ["mallory@evil.example"] and row.waiting and row.unread
    thread = q.thread(team.ws, conv, access=EVERYTHING)
    assert [m.kind for m in thread] == ["incoming", "activity", "incoming"]
    assert thread[2].author == "Mallory"  # shown as who wrote it
    assert thread[1].body == "Mallory <mallory@evil.example> joined in CC"
    cmd.reply(team.ws, conv, "We will ship today.", actor="ana", now=later(3))
    [item] = outbox.due(team.ws, later(4))
    assert (item.recipient, item.conversation_meta["cc"]) == (
        "carla@example.com",
        ["mallory@evil.example"],
    )
    # Writing again adds no second line; the customer herself still moves the reply address
    # when she writes from another address of hers.
    cmd.ingest(
        team.ws,
        team.incoming(
            "me again",
            who="mallory@evil.example",
            name="Mallory",
            external_id="t2@x",
            references=("m1@x",),
            at=later(5),
        ),
    )
    cmd.add_identity(team.ws, row.contact_id, "email", "carla.work@example.com", actor="ana")
    cmd.ingest(
        team.ws,
        team.incoming(
            "from work",
            who="carla.work@example.com",
            external_id="m2@x",
            references=("t2@x",),
            at=later(6),
        ),
    )
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.identity == "carla.work@example.com" and row.cc == ["mallory@evil.example"]
    joined = [m.body for m in q.thread(team.ws, conv, access=EVERYTHING) if "joined" in m.body]
    assert len(joined) == 1  # (the other activity line: Ana took it by replying)
