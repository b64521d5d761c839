"""`Workspace.batch()`: many commands in one transaction, each in a savepoint (how the hub
applies a client's push). A refused command leaves nothing; the others land together, each
with its own change number, searchable like any other write."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Team, later
from unibox_tui.core import commands as cmd
from unibox_tui.core import queries
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import KEPT
from unibox_tui.core.errors import LaterFailed, NotFound

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases


def comments(team: Team, conv: str) -> list[str]:
    return [m.body for m in queries.thread(team.ws, conv, access=EVERYTHING) if m.kind == "comment"]


def test_a_batch_lands_together_and_a_refused_command_leaves_nothing(team: Team) -> None:
    conv = team.start("Where is my order?")
    before = team.ws.change_seq()
    seqs = []
    with team.ws.batch():
        cmd.comment(team.ws, conv, "first zebra", actor=team.ana, now=later(1))
        seqs.append(team.ws.last_write_seq())
        with pytest.raises(NotFound):
            cmd.comment(team.ws, "no-such-conversation", "lost", actor=team.ana, now=later(2))
        # A command that fails after writing (here: assign to nobody known) rolls back alone.
        with pytest.raises(NotFound):
            cmd.assign(team.ws, conv, "@nobody", actor=team.ana, now=later(3))
        cmd.comment(team.ws, conv, "second zebra", actor=team.bo, now=later(4))
        seqs.append(team.ws.last_write_seq())
        # Nothing is visible to a reader before the batch commits.
        assert comments(team, conv) == []
    assert comments(team, conv) == ["first zebra", "second zebra"]
    assert seqs[0] is not None and seqs[1] is not None and before < seqs[0] < seqs[1]
    assert team.ws.change_seq() == seqs[1]
    # Indexed for search once, at the end of the batch.
    hits = queries.search(team.ws, "zebra", access=EVERYTHING)
    assert [h.row.id for h in hits] == [conv]
    assert "zebra" in hits[0].snippet


def test_an_error_outside_any_command_rolls_the_whole_batch_back(team: Team) -> None:
    conv = team.start("Where is my order?")
    with pytest.raises(RuntimeError), team.ws.batch():
        cmd.comment(team.ws, conv, "never stored", actor=team.ana, now=later(1))
        raise RuntimeError("the hub died mid-batch")
    assert comments(team, conv) == []


def test_a_batch_sees_its_own_changes_to_kept_rows(team: Team) -> None:
    """An agent deactivated by one command of a batch cannot act in the next one."""
    conv = team.start("Where is my order?")
    cmd.set_agent(team.ws, "ana", role="admin", actor=None)
    with team.ws.batch():
        cmd.comment(team.ws, conv, "before", actor=team.bo, now=later(1))
        cmd.deactivate_agent(team.ws, "bo", actor=team.ana)
        with pytest.raises(Exception, match="deactivated"):
            cmd.comment(team.ws, conv, "after", actor=team.bo, now=later(2))
    assert comments(team, conv) == ["before"]


def test_no_command_updates_a_kept_table_behind_the_orm() -> None:
    """A batch keeps agent and inbox rows loaded between commands: a raw-SQL UPDATE or
    DELETE of those tables in a command would leave them stale for the rest of the batch."""
    core = Path(__file__).resolve().parents[2] / "unibox_tui" / "core"
    pattern = re.compile(r"\b(UPDATE|DELETE FROM)\s+(" + "|".join(KEPT) + r")\b", re.I)
    found = [
        f"{path.name}: {m.group(0)}"
        for path in sorted(core.rglob("*.py"))
        if "migrations" not in path.parts
        for m in pattern.finditer(path.read_text())
    ]
    assert found == []


def test_access_changed_by_one_command_holds_for_the_next_in_the_batch(team: Team) -> None:
    """The access rule a batch remembers is read again once a command changes access."""
    support = team.start("A support question")
    sales = team.start("A sales question", channel=team.sales_email)
    with team.ws.batch():
        cmd.comment(team.ws, support, "bo's rule is read here", actor=team.bo, now=later(1))
        cmd.set_inbox_access(team.ws, "Sales", add_agents=["bo"], actor=None)
        cmd.comment(team.ws, sales, "bo may now", actor=team.bo, now=later(2))
        cmd.set_inbox_access(team.ws, "Sales", remove_agents=["bo"], actor=None)
        with pytest.raises(Exception, match="no conversation"):
            cmd.comment(team.ws, sales, "and not any more", actor=team.bo, now=later(3))
    assert comments(team, sales) == ["bo may now"]


def test_a_command_that_fails_after_writing_leaves_no_stale_row_for_the_next(
    team: Team,
) -> None:
    """A command rolled back to its savepoint after the session wrote a row (an agent, a
    kept table): the next command of the batch reads the row as the database holds it."""
    from unibox_tui.core.models import Agent

    conv = team.start("Where is my order?")
    with team.ws.batch():
        cmd.comment(team.ws, conv, "loads ana", actor=team.ana, now=later(1))
        with pytest.raises(RuntimeError), team.ws.write() as tx:
            ana = tx.get(Agent, team.ana)
            ana.name = "Not Ana"
            tx.stamp(ana)  # written (flushed) in the savepoint
            raise RuntimeError("the command fails after writing")
        with team.ws.write() as tx:
            assert tx.get(Agent, team.ana).name == "Ana Lima"
        cmd.comment(team.ws, conv, "still ana", actor=team.ana, now=later(2))
    assert comments(team, conv) == ["loads ana", "still ana"]
    assert [a.name for a in queries.agents(team.ws) if a.id == team.ana] == ["Ana Lima"]


def test_a_batch_numbers_its_writes_in_turn_and_a_rolled_back_one_gives_its_number_back(
    team: Team,
) -> None:
    """A batch takes the change counter once and counts on from it: the writes that commit
    get consecutive numbers, their rows carry them, and the counter ends at the last (a
    write after the batch takes the next). A write rolled back to its savepoint, the
    batch's first among them, leaves no gap."""
    conv = team.start("Where is my order?")
    before = team.ws.change_seq()
    seqs = []
    with team.ws.batch():
        with pytest.raises(RuntimeError), team.ws.write() as tx:
            assert tx.seq == before + 1  # takes the counter row, then is rolled back
            raise RuntimeError("the command fails after taking a number")
        cmd.comment(team.ws, conv, "one", actor=team.ana, now=later(1))
        seqs.append(team.ws.last_write_seq())
        with pytest.raises(RuntimeError), team.ws.write() as tx:
            assert tx.seq == before + 2
            raise RuntimeError("and another")
        cmd.comment(team.ws, conv, "two", actor=team.ana, now=later(2))
        seqs.append(team.ws.last_write_seq())
    assert seqs == [before + 1, before + 2]
    assert team.ws.change_seq() == before + 2
    cmd.comment(team.ws, conv, "after", actor=team.ana, now=later(3))
    assert team.ws.last_write_seq() == before + 3
    with team.ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT body, seq FROM message WHERE conversation_id = ? AND kind = 'comment' "
            "ORDER BY seq",
            (conv,),
        ).all()
    assert [tuple(r) for r in rows] == [
        ("one", before + 1),
        ("two", before + 2),
        ("after", before + 3),
    ]


def test_a_comment_in_a_batch_drops_the_draft_saved_before_it_in_the_batch(team: Team) -> None:
    """A batch reads an agent's drafts once (drafts.drop_draft): a draft written by an
    earlier command of the batch is seen by a later send, one from before the batch too,
    and only the draft of the conversation sent to goes."""
    conv = team.start("Where is my order?")
    other = team.start("And another thing", who="dan@example.com")
    cmd.save_draft(team.ws, other, "kept for later", actor=team.ana, now=later(1))
    cmd.save_draft(team.ws, conv, "from before", actor=team.bo, now=later(1))

    def drafts() -> set[tuple[str, str]]:
        with team.ws.read() as conn:
            rows = conn.exec_driver_sql("SELECT agent_id, conversation_id FROM draft").all()
        return {(r[0], r[1]) for r in rows}

    with team.ws.batch():
        cmd.comment(team.ws, conv, "reads ana's drafts", actor=team.ana, now=later(2))
        cmd.save_draft(team.ws, conv, "half a reply", actor=team.ana, now=later(3))
        cmd.comment(team.ws, conv, "drops it", actor=team.ana, now=later(4))
        cmd.comment(team.ws, conv, "bo's goes too", actor=team.bo, now=later(5))
    assert drafts() == {(team.ana, other)}


def test_a_write_inside_a_failing_command_is_rolled_back_with_all_of_it(team: Team) -> None:
    """A command's savepoint stays open until the next command starts (PostgreSQL: released
    in the same round trip); a write made inside a command is released at once, so the
    command's rollback still reaches back to its own start."""
    conv = team.start("Where is my order?")
    with team.ws.batch():
        cmd.comment(team.ws, conv, "kept", actor=team.ana, now=later(1))
        with pytest.raises(RuntimeError), team.ws.write() as tx:
            tx.sql("UPDATE conversation SET subject = 'changed' WHERE id = ?", (conv,))
            team.ws.set_setting("inner", 1)  # a write inside the command
            raise RuntimeError("the command fails after both")
        cmd.comment(team.ws, conv, "also kept", actor=team.ana, now=later(2))
    assert comments(team, conv) == ["kept", "also kept"]
    assert team.ws.setting("inner") is None
    with team.ws.read() as conn:
        subject = conn.exec_driver_sql(
            "SELECT subject FROM conversation WHERE id = ?", (conv,)
        ).scalar_one()
    assert subject == "Order late"


def test_a_batch_with_later_writes_sends_them_before_any_read(team: Team) -> None:
    """`batch(later=True)` (the hub's groups): on PostgreSQL the writes no command reads
    back are queued and sent with the next statement that needs an answer; every read
    still sees them. A command refused before it wrote needs no savepoint: the batch goes on.
    (On SQLite nothing changes.)"""
    conv = team.start("Where is my order?")
    with team.ws.batch(later=True):
        cmd.comment(team.ws, conv, "one", actor=team.ana, now=later(1))
        with pytest.raises(NotFound):
            cmd.comment(team.ws, "no-such-conversation", "lost", actor=team.ana, now=later(2))
        cmd.comment(team.ws, conv, "two", actor=team.bo, now=later(3))
        with team.ws.write() as tx:
            row = tx.sql("SELECT message_count FROM conversation WHERE id = ?", (conv,))
            assert row.fetchone()[0] == 3
    assert comments(team, conv) == ["one", "two"]


def test_a_command_that_fails_after_writing_fails_a_later_batch_whole(team: Team) -> None:
    """Without a savepoint per command (PostgreSQL, `later=True`) a command that fails after
    it wrote cannot roll back alone: the batch fails whole (LaterFailed), nothing of it
    stored, and the hub applies it again with savepoints (hub/mutations.apply_pushes).
    On SQLite the command rolls back alone, as in any batch."""
    conv = team.start("Where is my order?")

    def run() -> None:
        with team.ws.batch(later=True):
            cmd.comment(team.ws, conv, "one", actor=team.ana, now=later(1))
            with pytest.raises((RuntimeError, LaterFailed)), team.ws.write() as tx:
                tx.later("UPDATE conversation SET subject = 'changed' WHERE id = ?", (conv,))
                raise RuntimeError("the command fails after writing")
            cmd.comment(team.ws, conv, "two", actor=team.ana, now=later(2))

    if team.ws.dialect == "postgresql":
        with pytest.raises(LaterFailed):
            run()
        assert comments(team, conv) == []
    else:
        run()
        assert comments(team, conv) == ["one", "two"]
    with team.ws.read() as conn:
        subject = conn.exec_driver_sql(
            "SELECT subject FROM conversation WHERE id = ?", (conv,)
        ).scalar_one()
    assert subject == "Order late"
