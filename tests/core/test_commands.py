"""Every command: its effect, its activity line, idempotency, and illegal requests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0, Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.errors import InvalidRequest, NoAccess, NotFound

# Every command on SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def kinds(team: Team, conv: str) -> list[tuple[str, str]]:
    return [(m.kind, m.body) for m in q.thread(team.ws, conv, access=EVERYTHING)]


def test_reply_queues_message_and_outbox_entry_and_sets_first_response(team: Team) -> None:
    conv = team.start("Where is my order?")
    before = team.ws.change_seq()
    mid = cmd.reply(team.ws, conv, "It ships today.", actor="ana", now=later(5))
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.first_response_at == later(5)
    assert row.waiting is False and row.unread is False
    assert row.message_count == 2 and row.preview == "It ships today."
    last = q.thread(team.ws, conv, access=EVERYTHING)[-1]
    assert (last.id, last.kind, last.delivery_state, last.author) == (
        mid,
        "outgoing",
        "queued",
        "Ana Lima",
    )
    [item] = outbox.due(team.ws, later(6))
    assert (item.message_id, item.recipient, item.subject) == (
        mid,
        "carla@example.com",
        "Order late",
    )
    assert team.ws.change_seq() == before + 1  # one command, one change number
    # A second reply keeps the first response time.
    cmd.reply(team.ws, conv, "Tracking: 123", actor="bo", now=later(9))
    assert q.conversation(team.ws, conv, access=EVERYTHING).first_response_at == later(5)


def test_reply_with_same_id_is_stored_once(team: Team) -> None:
    conv = team.start()
    first = cmd.reply(team.ws, conv, "Hi", actor="ana", id="01900000-0000-7000-8000-000000000001")
    again = cmd.reply(team.ws, conv, "Hi", actor="ana", id=first)
    assert first == again
    assert [k for k, _ in kinds(team, conv)].count("outgoing") == 1
    assert outbox.pending_count(team.ws) == 1


@pytest.mark.parametrize("text", ["", "   \n ", "\x00\x00", "\x1b[31m\u202e \x07"])
def test_reply_with_no_text_is_refused(team: Team, text: str) -> None:
    conv = team.start()
    with pytest.raises(InvalidRequest, match="empty"):
        cmd.reply(team.ws, conv, text, actor="ana")
    with pytest.raises(InvalidRequest, match="empty"):
        cmd.comment(team.ws, conv, text, actor="ana")
    assert outbox.pending_count(team.ws) == 0
    assert [k for k, _ in kinds(team, conv)] == ["incoming"]


def test_reply_to_unknown_conversation_is_refused(team: Team) -> None:
    with pytest.raises(NotFound, match="no conversation"):
        cmd.reply(team.ws, "nope", "Hi", actor="ana")


def test_reply_by_unknown_agent_is_refused_and_stores_nothing(team: Team) -> None:
    conv = team.start()
    with pytest.raises(NotFound, match="no agent"):
        cmd.reply(team.ws, conv, "Hi", actor="@zed")
    assert [k for k, _ in kinds(team, conv)] == ["incoming"]


def test_form_conversation_is_answered_by_the_inbox_email_channel(team: Team) -> None:
    conv = team.start("Name: Carla\nMessage: hi", channel=team.form)
    cmd.reply(team.ws, conv, "Thanks!", actor="ana", now=later(1))
    [item] = outbox.due(team.ws, later(60))
    assert item.channel_id == team.email and item.recipient == "carla@example.com"


def test_chat_reply_needs_a_chat_identity_and_can_continue_by_email(team: Team) -> None:
    conv = team.start(
        "hi from chat", channel=team.chat, kind="chat", who="visitor-1", name="Visitor"
    )
    cmd.reply(team.ws, conv, "Hello!", actor="ana", now=later(1))
    # The visitor has no e-mail address yet: continuing by e-mail is refused...
    with pytest.raises(InvalidRequest, match="no email identity"):
        cmd.reply(team.ws, conv, "By mail", actor="ana", via_channel_id=team.email)
    contact_id = q.conversation(team.ws, conv, access=EVERYTHING).contact_id
    cmd.add_identity(team.ws, contact_id, "email", "Visitor@Example.com", actor="ana")
    # ...until the contact has one.
    cmd.reply(team.ws, conv, "By mail", actor="ana", via_channel_id=team.email, now=later(2))
    items = {i.channel_id: i for i in outbox.due(team.ws, later(60) + timedelta(days=1))}
    assert items[team.email].recipient == "visitor@example.com"
    assert items[team.chat].recipient == "visitor-1"
    assert "continued this conversation by email" in kinds(team, conv)[-1][1]


def test_comment_notifies_mentioned_teammates_and_leaves_unknown_handles(team: Team) -> None:
    conv = team.start()
    result = cmd.comment(
        team.ws, conv, "@bo and @Cy please look; @nobody; mail ana@acme.example", actor="ana"
    )
    assert result.mentioned == ["bo", "cy"] and result.unknown == ["nobody"]
    for agent in (team.bo, team.cy):
        [note] = q.notifications(team.ws, agent)
        assert note.kind == "mention" and note.conversation_id == conv
        assert note.text == "Ana Lima mentioned you: Order late"
    assert q.notifications(team.ws, team.ana) == []  # an e-mail address is no mention
    msg = q.thread(team.ws, conv, access=EVERYTHING)[-1]
    assert msg.kind == "comment" and msg.delivery_state is None
    assert outbox.pending_count(team.ws) == 0  # comments never go to the customer


def test_self_mention_does_not_notify(team: Team) -> None:
    conv = team.start()
    assert cmd.comment(team.ws, conv, "note to @ana", actor="ana").mentioned == ["ana"]
    assert q.notifications(team.ws, team.ana) == []


def test_assign_unassign_and_team(team: Team) -> None:
    conv = team.start()
    assert cmd.assign(team.ws, conv, "bo", actor="ana") is True
    assert cmd.assign(team.ws, conv, "@bo", actor="ana") is False  # idempotent
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.assignee == "bo"
    [note] = q.notifications(team.ws, team.bo)
    assert note.kind == "assigned"
    assert cmd.assign_team(team.ws, conv, "tier 1", actor="ana") is True
    assert q.conversation(team.ws, conv, access=EVERYTHING).team == "Tier 1"
    assert cmd.assign(team.ws, conv, None, actor="ana") is True
    assert cmd.assign(team.ws, conv, None, actor="ana") is False
    assert q.conversation(team.ws, conv, access=EVERYTHING).assignee is None
    assert [b for k, b in kinds(team, conv) if k == "activity"] == [
        "Ana Lima assigned this to Bo Chen",
        "Ana Lima assigned this to team Tier 1",
        "Ana Lima unassigned this",
    ]
    cmd.assign(team.ws, conv, "ana", actor="ana")
    assert kinds(team, conv)[-1] == ("activity", "Ana Lima took this")
    assert q.notifications(team.ws, team.ana) == []  # no notification for taking it yourself


def test_assign_to_agent_without_inbox_access_is_refused(team: Team) -> None:
    conv = team.start(channel=team.sales_email)
    with pytest.raises(NoAccess, match="@bo has no access to inbox 'Sales'"):
        cmd.assign(team.ws, conv, "bo", actor="ana")
    assert cmd.assign(team.ws, conv, "cy", actor="ana")  # via the Sales team
    assert cmd.assign(team.ws, conv, "ana", actor="ana")  # listed directly


def test_close_reopen_and_close_ticket(team: Team) -> None:
    conv = team.start()
    ticket = cmd.create_ticket(
        team.ws, actor="ana", conversation_id=conv, priority="high", now=later(10)
    )
    assert cmd.close(team.ws, conv, actor="ana", close_ticket=True, now=later(30)) is True
    assert cmd.close(team.ws, conv, actor="ana", close_ticket=True) is False
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.status, row.closed_at, row.waiting) == ("closed", later(30), False)
    assert q.ticket(team.ws, ticket).status == "closed"
    assert cmd.reopen(team.ws, conv, actor="bo", now=later(40)) is True
    assert cmd.reopen(team.ws, conv, actor="bo", now=later(41)) is False
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.status, row.closed_at) == ("open", None)
    assert [b for k, b in kinds(team, conv) if k == "activity"][-3:] == [
        "Ana Lima closed this",
        "Ana Lima closed ticket #1",
        "Bo Chen reopened this",
    ]


def test_close_leaves_ticket_open_unless_asked(team: Team) -> None:
    conv = team.start()
    ticket = cmd.create_ticket(team.ws, actor="ana", conversation_id=conv)
    cmd.close(team.ws, conv, actor="ana")
    assert q.ticket(team.ws, ticket).status == "open"


def test_snooze_and_wake_when_due(team: Team) -> None:
    conv = team.start()
    until = later(60)
    assert cmd.snooze(team.ws, conv, until, actor="ana", now=later(1)) is True
    assert cmd.snooze(team.ws, conv, until, actor="ana", now=later(2)) is False
    assert q.conversation(team.ws, conv, access=EVERYTHING).status == "snoozed"
    assert q.count(team.ws, q.view("snoozed", access=EVERYTHING)) == (1, 1)
    assert cmd.wake_due(team.ws, now=later(59)) == []
    assert cmd.wake_due(team.ws, now=later(61)) == [conv]
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.status, row.snoozed_until, row.unread) == ("open", None, True)
    assert kinds(team, conv)[-1] == ("activity", "Snooze ended")


def test_snooze_into_the_past_is_refused(team: Team) -> None:
    conv = team.start()
    with pytest.raises(InvalidRequest, match="in the past"):
        cmd.snooze(team.ws, conv, T0 - timedelta(hours=1), actor="ana", now=T0)
    assert q.conversation(team.ws, conv, access=EVERYTHING).status == "open"


def test_mark_read_toggles(team: Team) -> None:
    conv = team.start()
    assert q.conversation(team.ws, conv, access=EVERYTHING).unread is True
    assert cmd.mark_read(team.ws, conv, actor="ana") is True
    assert cmd.mark_read(team.ws, conv, actor="ana") is False
    assert cmd.mark_read(team.ws, conv, read=False, actor="ana") is True
    assert q.conversation(team.ws, conv, access=EVERYTHING).unread is True


def test_move_inbox_unassigns_agent_without_access(team: Team) -> None:
    conv = team.start()
    cmd.assign(team.ws, conv, "bo", actor="ana")
    assert cmd.move_inbox(team.ws, conv, "Sales", actor="ana") is True
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert (row.inbox, row.assignee) == ("Sales", None)
    assert kinds(team, conv)[-1] == ("activity", "Bo Chen has no access to Sales: unassigned")
    assert cmd.move_inbox(team.ws, conv, "Sales", actor="ana") is False
    with pytest.raises(NotFound, match="no inbox 'Nope'"):
        cmd.move_inbox(team.ws, conv, "Nope", actor="ana")


def test_tickets_create_update_close(team: Team) -> None:
    conv = team.start()
    tid = cmd.create_ticket(team.ws, actor="ana", conversation_id=conv, owner="bo")
    t = q.ticket(team.ws, tid)
    assert (t.number, t.title, t.pipeline, t.stage, t.priority, t.owner) == (
        1,
        "Order late",
        "Support",
        "New",
        "normal",
        "bo",
    )
    assert q.conversation(team.ws, conv, access=EVERYTHING).ticket_id == tid
    with pytest.raises(InvalidRequest, match="already has ticket #1"):
        cmd.create_ticket(team.ws, actor="ana", conversation_id=conv)
    assert cmd.update_ticket(team.ws, tid, actor="ana", stage="Waiting on us", priority="urgent")
    assert not cmd.update_ticket(team.ws, tid, actor="ana", stage="Waiting on us")
    with pytest.raises(InvalidRequest, match="pipeline 'Support' has no stage 'In progress'"):
        cmd.update_ticket(team.ws, tid, actor="ana", stage="In progress")
    with pytest.raises(InvalidRequest, match="priority must be one of"):
        cmd.update_ticket(team.ws, tid, actor="ana", priority="whenever")
    assert cmd.close_ticket(team.ws, tid, actor="ana") and not cmd.close_ticket(
        team.ws, tid, actor="ana"
    )
    t = q.ticket(team.ws, tid)
    assert (t.stage, t.priority, t.status) == ("Waiting on us", "urgent", "closed")
    standalone = cmd.create_ticket(team.ws, actor="ana", title="Audit refunds")
    assert q.ticket(team.ws, standalone).number == 2
    with pytest.raises(NotFound):
        cmd.update_ticket(team.ws, "missing", actor="ana", stage="x")


def test_contacts_create_update_and_identity_uniqueness(team: Team) -> None:
    cid = cmd.create_contact(
        team.ws,
        "Dara Okoye",
        company="Lumen",
        identities=[("email", "Dara@X.io"), ("whatsapp", "+44 7700 900123")],
        actor="ana",
    )
    detail = q.contact(team.ws, cid, access=EVERYTHING)
    assert detail.identities == [("email", "dara@x.io"), ("whatsapp", "+447700900123")]
    cmd.update_contact(team.ws, cid, company="", owner="bo", notes="VIP", actor="ana")
    detail = q.contact(team.ws, cid, access=EVERYTHING)
    assert (detail.company, detail.owner, detail.notes) == (None, "bo", "VIP")
    other = cmd.create_contact(team.ws, "Someone", actor="ana")
    with pytest.raises(InvalidRequest, match="already belongs to contact"):
        cmd.add_identity(team.ws, other, "email", "dara@x.io", actor="ana")
    with pytest.raises(InvalidRequest, match="cannot be empty"):
        cmd.update_contact(team.ws, cid, name="  ", actor="ana")


def test_merge_contacts_moves_everything_and_forwards(team: Team) -> None:
    a = team.start("from mail")
    b = team.start(
        "from whatsapp", channel=team.whatsapp, kind="whatsapp", who="+1 555 0100", name="C. Souza"
    )
    keep = q.conversation(team.ws, a, access=EVERYTHING).contact_id
    gone = q.conversation(team.ws, b, access=EVERYTHING).contact_id
    cmd.update_contact(team.ws, gone, company="Casa Verde", notes="prefers WhatsApp", actor="ana")
    cmd.merge_contacts(team.ws, keep, gone, actor="ana")
    detail = q.contact(team.ws, keep, access=EVERYTHING)
    assert {k for k, _ in detail.identities} == {"email", "whatsapp"}
    assert {c.id for c in detail.conversations} == {a, b}
    assert detail.company == "Casa Verde" and "prefers WhatsApp" in detail.notes
    assert q.contact(team.ws, gone, access=EVERYTHING).id == keep  # the merged contact forwards
    # New WhatsApp messages now land on the kept contact.
    r = cmd.ingest(
        team.ws,
        team.incoming(
            "again", channel=team.whatsapp, kind="whatsapp", who="+15550100", at=later(5)
        ),
    )
    assert q.conversation(team.ws, r.conversation_id, access=EVERYTHING).contact_id == keep
    with pytest.raises(InvalidRequest, match="into itself"):
        cmd.merge_contacts(team.ws, keep, keep, actor="ana")


def test_setup_commands_refuse_bad_input(team: Team) -> None:
    with pytest.raises(InvalidRequest, match="handle @ana is taken"):
        cmd.create_agent(team.ws, "Another Ana", "ana")
    with pytest.raises(InvalidRequest, match="may hold only"):
        cmd.create_agent(team.ws, "X", "bad handle!")
    with pytest.raises(InvalidRequest, match="channel kind must be one of"):
        cmd.add_channel(team.ws, "Support", "fax", "Fax")
    with pytest.raises(InvalidRequest, match="may not hold secrets"):
        cmd.add_channel(team.ws, "Support", "email", "Mail", settings={"password": "hunter2"})
    with pytest.raises(InvalidRequest, match="inbox 'Support' exists"):
        cmd.create_inbox(team.ws, "Support")


def test_channel_enable_disable_remove(team: Team) -> None:
    assert cmd.set_channel_enabled(team.ws, team.form, False) is True
    assert cmd.set_channel_enabled(team.ws, team.form, False) is False
    assert not next(c for c in q.channels(team.ws) if c.id == team.form).enabled
    team.start()  # the e-mail channel now has a conversation
    with pytest.raises(InvalidRequest, match="has conversations or messages; disable it instead"):
        cmd.remove_channel(team.ws, team.email)
    cmd.remove_channel(team.ws, team.form)
    assert team.form not in {c.id for c in q.channels(team.ws)}


def test_disabled_channel_outbox_waits(team: Team) -> None:
    conv = team.start()
    cmd.reply(team.ws, conv, "Hi", actor="ana", now=later(1))
    cmd.set_channel_enabled(team.ws, team.email, False)
    assert outbox.due(team.ws, later(60)) == []
    cmd.set_channel_enabled(team.ws, team.email, True)
    assert len(outbox.due(team.ws, later(60))) == 1


def test_outbox_lifecycle_never_sends_twice(team: Team) -> None:
    conv = team.start()
    mid = cmd.reply(team.ws, conv, "Hi", actor="ana", now=later(1))
    [item] = outbox.due(team.ws, later(60))
    assert outbox.claim(team.ws, item.entry_id, later(61))
    outbox.mark_retry(team.ws, item.entry_id, "451 try later", later(90))
    assert outbox.due(team.ws, later(60)) == []  # waiting for its retry time
    msg = q.thread(team.ws, conv, access=EVERYTHING)[-1]
    assert (msg.delivery_state, msg.delivery_error) == ("queued", "retrying: 451 try later")
    [item] = outbox.due(team.ws, later(91))
    assert item.attempts == 1
    assert outbox.claim(team.ws, item.entry_id, later(61))
    outbox.mark_sent(team.ws, item.entry_id, "abc@acme.example")
    msg = q.thread(team.ws, conv, access=EVERYTHING)[-1]
    assert (msg.id, msg.delivery_state, msg.external_id, msg.delivery_error) == (
        mid,
        "sent",
        "abc@acme.example",
        None,
    )
    assert not outbox.claim(team.ws, item.entry_id, later(999))  # sent: never again
    with pytest.raises(InvalidRequest, match="already sent"):
        outbox.mark_retry(team.ws, item.entry_id, "late error", later(999))
    assert outbox.due(team.ws, later(999)) == []


def test_outbox_claim_is_exclusive_until_the_lease_ends(team: Team) -> None:
    conv = team.start()
    cmd.reply(team.ws, conv, "Hi", actor="ana", now=later(1))
    [item] = outbox.due(team.ws, later(2))
    assert outbox.claim(team.ws, item.entry_id, later(2), lease_s=300)
    assert not outbox.claim(team.ws, item.entry_id, later(3))  # a second engine
    assert outbox.due(team.ws, later(6)) == []  # leased
    [again] = outbox.due(team.ws, later(8))  # the first engine died: the lease ran out
    assert again.attempts == 1
    assert outbox.claim(team.ws, item.entry_id, later(8))


def test_outbox_permanent_failure_and_agent_retry(team: Team) -> None:
    conv = team.start()
    mid = cmd.reply(team.ws, conv, "Hi", actor="ana", now=later(1))
    [item] = outbox.due(team.ws, later(60))
    outbox.mark_failed(team.ws, item.entry_id, "550 no such user")
    msg = q.thread(team.ws, conv, access=EVERYTHING)[-1]
    assert (msg.delivery_state, msg.delivery_error) == ("failed", "550 no such user")
    assert outbox.due(team.ws, later(60)) == []
    outbox.retry(team.ws, mid)
    assert q.thread(team.ws, conv, access=EVERYTHING)[-1].delivery_state == "queued"
    with pytest.raises(InvalidRequest, match="has not failed"):
        outbox.retry(team.ws, mid)


def test_notifications_mark_read(team: Team) -> None:
    conv = team.start()
    cmd.comment(team.ws, conv, "@bo one", actor="ana")
    cmd.comment(team.ws, conv, "@bo two", actor="ana")
    notes = q.notifications(team.ws, team.bo, unread_only=True)
    assert len(notes) == 2
    assert cmd.mark_notifications_read(team.ws, "bo", [notes[0].id]) == 1
    assert len(q.notifications(team.ws, team.bo, unread_only=True)) == 1
    assert cmd.mark_notifications_read(team.ws, "bo") == 1
    assert q.notifications(team.ws, team.bo, unread_only=True) == []


def test_snippets_save_replace_delete(team: Team) -> None:
    cmd.save_snippet(team.ws, "greet", "Hi {{contact.first_name}}")
    cmd.save_snippet(team.ws, "greet", "Hello {{contact.first_name}}")
    assert [(s.name, s.body) for s in q.snippets(team.ws)] == [
        ("greet", "Hello {{contact.first_name}}")
    ]
    cmd.delete_snippet(team.ws, "greet")
    with pytest.raises(InvalidRequest, match="no snippet 'greet'"):
        cmd.delete_snippet(team.ws, "greet")


def test_failed_command_changes_nothing(team: Team) -> None:
    conv = team.start()
    seq = team.ws.change_seq()
    with pytest.raises(NoAccess):
        cmd.move_inbox(team.ws, conv, "Sales", actor="ana")  # fine: ana has access...
        cmd.assign(team.ws, conv, "bo", actor="ana")  # ...but bo has none to Sales
    # The move is its own command and stays; the refused assign wrote nothing.
    assert team.ws.change_seq() == seq + 1
    assert q.conversation(team.ws, conv, access=EVERYTHING).assignee is None
