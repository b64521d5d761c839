"""What a hub client's first sync starts with (core/changes.starter)."""

from __future__ import annotations

from tests.conftest import Team, later


def test_a_first_sync_starts_with_the_newest_visible_conversations(team: Team) -> None:
    """changes.starter: what a new hub client shows before its full pull ends."""
    from unibox_tui.core import changes

    convs = [team.start(f"hello {i}", at=later(i), who=f"c{i}@example.com") for i in range(5)]
    secret = team.start("sales only", channel=team.sales_email, at=later(99), who="s@example.com")
    rows = changes.starter(team.ws, team.bo)  # bo sees Support, not Sales
    by_table: dict[str, list[dict]] = {}
    for change in rows:
        by_table.setdefault(change["table"], []).append(change["row"])
    assert {a["handle"] for a in by_table["agent"]} == {"ana", "bo", "cy"}
    shown = [c["id"] for c in by_table["conversation"]]
    assert set(shown) == set(convs) and secret not in shown
    assert {m["conversation_id"] for m in by_table["message"]} == set(convs)
    assert "sales only" not in str(rows) and "s@example.com" not in str(rows)
    # Written into an empty replica, it is a list the app can show.
    path = team.ws.path.with_name("starter.db")
    replica = changes.open_replica(path)
    changes.apply_backfill(replica, {"changes": rows})
    assert replica.execute("SELECT count(*) FROM conversation").fetchone()[0] == 5
    assert changes.replica_cursor(replica) == "0"  # the full pull still starts from zero
