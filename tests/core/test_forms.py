"""The form channel's core: a submission becomes a contact, a conversation showing every field
and a ticket; replies go out by the inbox's e-mail channel (the one rule in core/answering)."""

from __future__ import annotations

import pytest

from tests.conftest import Team, later
from unibox_tui.backends import registry
from unibox_tui.backends.form import FormChannel, InvalidSubmission, parse_field_spec
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.answering import inbox_channel
from unibox_tui.core.errors import InvalidRequest, NotFound

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

FIELDS = [
    parse_field_spec(s).to_dict()
    for s in ("name:text", "email:email:required", "order_number:text", "message:long:required")
]


def contact_form(team: Team) -> str:
    return cmd.add_channel(team.ws, "Support", "form", "Contact us", settings={"fields": FIELDS})


def counts(team: Team) -> tuple[int, int, int, int]:
    with team.ws.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
            for t in ("contact", "conversation", "message", "ticket")
        )


def test_a_submission_makes_contact_conversation_and_ticket(team: Team) -> None:
    form = contact_form(team)
    before = team.ws.change_seq()
    result = cmd.submit_form(
        team.ws,
        form,
        {
            "name": "Dana Ortiz",
            "email": "Dana@Example.org",
            "order_number": 4471,
            "message": "The parcel never came.\r\nCan you check?",
        },
        "sub-1",
        now=later(1),
    )
    assert not result.duplicate and result.ticket_id
    assert team.ws.change_seq() == before + 1  # one transaction, one change number
    row = q.conversation(team.ws, result.conversation_id, access=EVERYTHING)
    assert (row.channel_kind, row.inbox, row.subject, row.contact_name, row.identity) == (
        "form",
        "Support",
        "Contact us",
        "Dana Ortiz",
        "dana@example.org",
    )
    assert row.status == "open" and row.unread and row.waiting
    first = q.thread(team.ws, result.conversation_id, access=EVERYTHING)[0]
    assert first.kind == "incoming"
    assert first.body == (
        "Name: Dana Ortiz\n"
        "Email: Dana@Example.org\n"  # as typed; the identity is lower-cased
        "Order number: 4471\n"
        "Message:\n"
        "The parcel never came.\n"
        "Can you check?\n"
    )
    ticket = q.conversation(team.ws, result.conversation_id, access=EVERYTHING).ticket_id
    assert ticket == result.ticket_id
    with team.ws.read() as conn:
        pipeline, stage, title = conn.exec_driver_sql(
            "SELECT pipeline, stage, title FROM ticket WHERE id = ?", (ticket,)
        ).one()
    assert (pipeline, stage, title) == ("Support", "New", "Contact us")
    assert (
        "Unibox created ticket #"
        in q.thread(team.ws, result.conversation_id, access=EVERYTHING)[-1].body
    )
    contact = q.contact(team.ws, result.contact_id, access=EVERYTHING)
    assert ("email", "dana@example.org") in contact.identities


def test_the_same_submission_twice_is_stored_once(team: Team) -> None:
    form = contact_form(team)
    values = {"email": "dana@example.org", "message": "hi"}
    first = cmd.submit_form(team.ws, form, values, "sub-2", now=later(1))
    stored = counts(team)
    again = cmd.submit_form(team.ws, form, values, "sub-2", now=later(2))
    assert again.duplicate and counts(team) == stored
    assert (again.conversation_id, again.ticket_id) == (first.conversation_id, first.ticket_id)
    # Another submission by the same person is its own request, with its own ticket.
    other = cmd.submit_form(team.ws, form, values, "sub-3", now=later(3))
    assert other.conversation_id != first.conversation_id and other.ticket_id != first.ticket_id
    assert other.contact_id == first.contact_id


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({"message": "hi"}, {"email": "required"}),
        ({"email": "not-an-address", "message": "hi"}, {"email": "not a valid e-mail address"}),
        ({"email": "a@b.example", "message": "   "}, {"message": "required"}),
        (
            {"email": "a@b.example", "message": "x" * 20_001},
            {"message": "at most 20,000 characters (got 20,001)"},
        ),
        ({"email": "a@b.example", "message": "hi", "admin": "1"}, {"": "this form has no field 'admin'"}),
        ({"email": "a@b.example", "message": ["a", "list"]}, {"message": "must be text"}),
        ({"email": "a@b.example", "message": "nul\x00byte"}, {"message": "holds control characters"}),
        ({"email": "a b@example.org", "message": "hi", "name": "x" * 1001},
         {"email": "not a valid e-mail address", "name": "at most 1,000 characters (got 1,001)"}),
    ],
)  # fmt: skip
def test_invalid_submissions_are_refused_with_every_problem_and_store_nothing(
    team: Team, values: dict, problems: dict
) -> None:
    form = contact_form(team)
    stored, seq = counts(team), team.ws.change_seq()
    with pytest.raises(InvalidSubmission) as refused:
        cmd.submit_form(team.ws, form, values, "sub-bad")
    assert refused.value.problems == problems
    assert str(refused.value).startswith("the form submission is not valid: ")
    assert counts(team) == stored and team.ws.change_seq() == seq


def test_submission_id_channel_kind_and_state_are_checked(team: Team) -> None:
    form = contact_form(team)
    values = {"email": "a@b.example", "message": "hi"}
    with pytest.raises(InvalidRequest, match="needs an id"):
        cmd.submit_form(team.ws, form, values, "")
    with pytest.raises(InvalidRequest, match="is not a form"):
        cmd.submit_form(team.ws, team.email, values, "s1")
    with pytest.raises(NotFound):
        cmd.submit_form(team.ws, "no-such-channel", values, "s1")
    cmd.set_channel_enabled(team.ws, form, False)
    with pytest.raises(InvalidRequest, match="disabled"):
        cmd.submit_form(team.ws, form, values, "s1")


def test_form_definitions_are_checked() -> None:
    with pytest.raises(InvalidRequest, match="type email"):
        FormChannel.check_settings({"fields": [{"name": "name"}]}, None)
    with pytest.raises(InvalidRequest, match="must differ"):
        FormChannel.check_settings(
            {"fields": [{"name": "email", "type": "email", "required": True}] * 2}, None
        )
    with pytest.raises(InvalidRequest, match="must be required"):
        FormChannel.check_settings({"fields": [{"name": "email", "type": "email"}]}, None)
    with pytest.raises(InvalidRequest, match="name\\[:type"):
        parse_field_spec("a:text:required:extra")
    defaults = FormChannel.check_settings({}, None)["fields"]
    assert [f["name"] for f in defaults] == ["name", "email", "message"]


def test_a_reply_goes_out_by_the_inbox_email_channel_and_the_answer_threads_back(
    team: Team,
) -> None:
    form = contact_form(team)
    sub = cmd.submit_form(
        team.ws, form, {"email": "dana@example.org", "message": "hi"}, "sub-4", now=later(1)
    )
    mid = cmd.reply(team.ws, sub.conversation_id, "We are on it.", actor="ana", now=later(2))
    [item] = outbox.due(team.ws, later(3))
    with team.ws.read() as conn:
        assert item.channel_id == inbox_channel(conn, team.support, "email") == team.email
    assert (item.message_id, item.recipient, item.channel_kind) == (
        mid,
        "dana@example.org",
        "email",
    )
    outbox.mark_sent(team.ws, item.entry_id, "ours.form-reply@acme.example")
    answer = cmd.ingest(
        team.ws,
        team.incoming(
            "Thanks, it arrived today.",
            who="dana@example.org",
            subject="Re: Contact us",
            external_id="answer@example.org",
            references=("ours.form-reply@acme.example",),
            at=later(5),
        ),
    )
    assert answer.conversation_id == sub.conversation_id and not answer.created_conversation


def test_which_email_channel_answers_is_one_rule(team: Team) -> None:
    """The enabled one added first; a disabled one only when there is no other."""
    second = cmd.add_channel(team.ws, "Support", "email", "Support 2", "two@acme.example")
    with team.ws.read() as conn:
        assert inbox_channel(conn, team.support, "email") == team.email
    cmd.set_channel_enabled(team.ws, team.email, False)
    assert q.answering_channel(team.ws, team.support, "email") == second
    cmd.set_channel_enabled(team.ws, second, False)
    assert q.answering_channel(team.ws, team.support, "email") == team.email
    support_only = cmd.create_inbox(team.ws, "Forms only")
    form = cmd.add_channel(team.ws, "Forms only", "form", "Quote request")
    assert q.answering_channel(team.ws, support_only, "email") is None
    sub = cmd.submit_form(team.ws, form, {"email": "a@b.example", "message": "hi"}, "s9")
    with pytest.raises(InvalidRequest, match="no email channel to answer a form"):
        cmd.reply(team.ws, sub.conversation_id, "hello", actor="ana")


def test_channel_rules_are_asked_by_kind(team: Team) -> None:
    assert registry.rules("form").answered_by == "email"
    assert registry.rules("whatsapp").max_length == 4096
    conv = team.start("hi", channel=team.chat, kind="chat", who="visitor-7", name="Visitor")
    with pytest.raises(InvalidRequest, match="at most 10,000"):
        cmd.reply(team.ws, conv, "x" * 10_001, actor="ana")
