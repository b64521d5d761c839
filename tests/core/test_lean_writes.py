"""The hot commands' plain-SQL write path (comment, mark read, activity lines): the rows it
writes are the ones the ORM wrote, each stamped with its command's change number, and in a
batch (how the hub applies a push) it stays consistent with the ORM commands around it."""

from __future__ import annotations

from sqlmodel import select

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.commands import registry
from unibox_tui.core.errors import NotFound
from unibox_tui.core.models import Conversation, Message, Notification


def conversation(team: Team, conv: str) -> Conversation:
    with team.ws.write() as tx:
        return tx.session.exec(select(Conversation).where(Conversation.id == conv)).one()


def test_a_comment_row_is_what_the_orm_wrote(team: Team) -> None:
    conv = team.start("Where is my order?")
    count = conversation(team, conv).message_count
    result = registry.run(
        team.ws, "comment", {"conversation_id": conv, "text": "hi @bo"}, actor=team.ana
    )
    assert result.seq is not None
    with team.ws.write() as tx:
        message = tx.session.exec(
            select(Message).where(Message.id == result.value.message_id)
        ).one()
        note = tx.session.exec(select(Notification).where(Notification.agent_id == team.bo)).one()
    assert (message.kind, message.body, message.author_agent_id) == ("comment", "hi @bo", team.ana)
    assert message.meta == '{"mentions": ["bo"]}'
    assert (message.flags, message.body_html, message.channel_id, message.external_id) == (
        "",
        None,
        None,
        None,
    )
    assert message.seq == result.seq and message.updated_at == message.created_at
    assert (note.message_id, note.conversation_id, note.seq) == (message.id, conv, result.seq)
    after = conversation(team, conv)
    assert after.message_count == count + 1 and after.seq == result.seq
    assert after.updated_at == message.created_at


def test_mark_read_stamps_the_conversation(team: Team) -> None:
    conv = team.start("Where is my order?")
    result = registry.run(team.ws, "mark_read", {"conversation_id": conv}, actor=team.ana)
    row = conversation(team, conv)
    assert result.seq is not None and row.seq == result.seq and row.unread is False
    again = registry.run(team.ws, "mark_read", {"conversation_id": conv}, actor=team.ana)
    assert again.seq is None and again.value is False  # nothing changed: no change number


def test_a_batch_mixes_orm_and_plain_sql_commands_and_keeps_a_refused_ones_out(
    team: Team,
) -> None:
    """assign (ORM) -> comment (plain SQL) -> refused -> mark read (plain SQL) -> close (ORM):
    each command sees what the ones before it wrote, the refused one leaves nothing, and
    every applied command has its own change number, in order."""
    conv = team.start("Where is my order?")
    count = conversation(team, conv).message_count
    seqs = []
    with team.ws.batch():
        cmd.assign(team.ws, conv, "bo", actor=team.ana, now=later(1))
        seqs.append(team.ws.last_write_seq())
        cmd.comment(team.ws, conv, "first", actor=team.ana, now=later(2))
        seqs.append(team.ws.last_write_seq())
        try:
            cmd.comment(team.ws, "no-such-conversation", "lost", actor=team.ana, now=later(3))
        except NotFound:
            pass
        cmd.mark_read(team.ws, conv, actor=team.bo, now=later(4))
        seqs.append(team.ws.last_write_seq())
        cmd.close(team.ws, conv, actor=team.bo, now=later(5))
        seqs.append(team.ws.last_write_seq())
        cmd.comment(team.ws, conv, "second", actor=team.bo, now=later(6))
        seqs.append(team.ws.last_write_seq())
    assert all(s is not None for s in seqs) and seqs == sorted(set(seqs))
    row = conversation(team, conv)
    assert (row.status, row.assignee_id, row.unread) == ("closed", team.bo, False)
    # Two comments on top of what was there (activity lines are not counted).
    assert row.message_count == count + 2
    assert row.seq == seqs[-1]
    thread = queries.thread(team.ws, conv, access=EVERYTHING)
    kinds = [(m.kind, m.body) for m in thread if m.kind in ("comment", "activity")]
    assert kinds == [
        ("activity", "Ana Lima assigned this to Bo Chen"),
        ("comment", "first"),
        ("activity", "Bo Chen closed this"),
        ("comment", "second"),
    ]


def test_a_conversation_loaded_earlier_in_a_batch_is_read_again_after_a_plain_sql_write(
    team: Team,
) -> None:
    """A batch's session may still hold a conversation an earlier write loaded; a plain-SQL
    update must not leave the ORM reading the old values from it."""
    conv = team.start("Where is my order?")
    with team.ws.batch():
        with team.ws.write(later(1)) as tx:
            held = tx.find(Conversation, id=conv)
            assert held is not None
            count, unread = held.message_count, held.unread
        cmd.comment(team.ws, conv, "note", actor=team.ana, now=later(2))
        cmd.mark_read(team.ws, conv, actor=team.ana, now=later(3))
        with team.ws.write(later(4)) as tx:
            again = tx.find(Conversation, id=conv)
            assert again is held  # the same object: the session kept it
            assert again.message_count == count + 1
            assert again.unread is (not unread)
            assert again.seq == team.ws.last_write_seq()


def test_a_reply_and_its_outbox_entry_are_what_the_orm_wrote(team: Team) -> None:
    from unibox_tui.core.models import OutboxEntry

    conv = team.start("Where is my order?")
    before = conversation(team, conv)
    result = registry.run(
        team.ws, "reply", {"conversation_id": conv, "text": "On its way\nsoon"}, actor=team.ana
    )
    with team.ws.write() as tx:
        message = tx.session.exec(select(Message).where(Message.id == result.value)).one()
        entry = tx.session.exec(
            select(OutboxEntry).where(OutboxEntry.message_id == message.id)
        ).one()
    assert (message.kind, message.delivery_state, message.author_agent_id) == (
        "outgoing",
        "queued",
        team.ana,
    )
    assert message.channel_id == before.channel_id and message.meta == "{}"
    assert message.seq == result.seq and message.flags == ""
    assert (entry.state, entry.attempts, entry.channel_id) == ("pending", 0, before.channel_id)
    assert entry.next_attempt_at == message.created_at and entry.seq == result.seq
    after = conversation(team, conv)
    assert after.seq == result.seq and after.assignee_id == team.ana  # replying took it
    assert (after.unread, after.waiting, after.preview) == (False, False, "On its way soon")
    # The reply counts; the "took this by replying" line (an activity) does not.
    assert after.message_count == before.message_count + 1
    assert after.last_message_at == message.created_at == after.first_response_at
