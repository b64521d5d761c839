"""Pure helpers of the TUI: snooze times, quote folding, row layout, safe text, file names,
the action registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rich.text import Text
from tui_world import NOW

from unibox_tui import actions
from unibox_tui.core.queries import ConversationRow
from unibox_tui.screens.attachments import safe_filename
from unibox_tui.screens.snooze import presets
from unibox_tui.widgets.composer import matching_agents
from unibox_tui.widgets.conversation_list import row_text
from unibox_tui.widgets.quoted import split_quoted
from unibox_tui.widgets.safe_text import fit, highlighted, safe, safe_line
from unibox_tui.widgets.views_pane import compact_count


def test_snooze_presets_are_local_morning_times() -> None:
    (_, hour), (_, tomorrow), (_, monday) = presets(NOW)  # NOW is Monday 10:00 UTC
    assert hour == NOW + timedelta(hours=1)
    assert tomorrow == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert monday == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # next Monday, not today


def test_split_quoted_attribution_and_angle_quotes() -> None:
    body = "Thanks!\n\nOn Fri, 27 Feb 2026 at 09:00, Acme <s@a.test> wrote:\n> old\n> older"
    own, quoted = split_quoted(body)
    assert own == "Thanks!"
    assert quoted.startswith("On Fri") and quoted.endswith("> older")
    assert split_quoted("ok\n> a\n>b") == ("ok", "> a\n>b")
    # A quote in the middle is the customer's own text, not history.
    assert split_quoted("> a\nmy answer")[1] == ""
    # All quote: nothing is hidden behind an empty message.
    assert split_quoted("> only a quote") == ("> only a quote", "")


def _row(**kw: object) -> ConversationRow:
    base = dict(
        id="c1",
        rid=1,
        inbox_id="i",
        inbox="Support",
        channel_id="ch",
        channel_kind="email",
        status="open",
        subject="Order #1",
        preview="where is it",
        contact_id="ct",
        contact_name="Ana",
        identity=None,
        assignee_id=None,
        assignee=None,
        assignee_name=None,
        team=None,
        unread=True,
        waiting=True,
        message_count=1,
        created_at=NOW,
        last_message_at=NOW - timedelta(minutes=3),
        snoozed_until=None,
        closed_at=None,
        first_response_at=None,
        ticket_id=None,
    )
    base.update(kw)
    return ConversationRow(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_row_is_exactly_as_wide_as_the_list(width: int) -> None:
    evil = _row(contact_name="x" * 500, subject="[b]" + "é漢" * 300, assignee="averylonghandle")
    for row in (_row(), evil):
        text = row_text(row, width, NOW)
        assert text.cell_len == width
        assert text.plain.rstrip().endswith("3m")


def test_row_shows_marks_assignee_and_status() -> None:
    text = row_text(_row(assignee="bo", status="snoozed", unread=False, waiting=True), 120, NOW)
    assert "@bo" in text.plain and "snoozed" in text.plain
    assert "●" not in text.plain and "↩" in text.plain
    narrow = row_text(_row(status="closed"), 50, NOW).plain
    assert "✓" in narrow  # narrow lists keep the status, as a glyph


def test_safe_text_never_parses_markup_and_strips_controls() -> None:
    value = "[bold red]x[/bold red] \x1b]0;title\x07\x1b[31my\u202e\x9b1m"
    for text in (safe(value), safe_line(value)):
        assert isinstance(text, Text)
        assert text.plain.startswith("[bold red]x[/bold red] ")
        assert not text.spans
        assert all(ord(c) >= 32 and not 0x7F <= ord(c) <= 0x9F for c in text.plain)
        assert "\u202e" not in text.plain
    assert fit(Text("abcdef"), 4).plain == "abc…"
    assert fit(Text("ab"), 4).plain == "ab  "
    marked = highlighted("find [red]me[/red]", [(5, 10)], "bold")
    assert marked.plain == "find [red]me[/red]"
    assert [(s.start, s.end) for s in marked.spans] == [(5, 10)]


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"
    assert safe_filename("..") == "attachment"
    assert safe_filename("in\x1b[31mvoice\n.pdf") == "invoice .pdf"
    assert safe_filename("report.pdf") == "report.pdf"


def test_matching_agents_prefers_handles() -> None:
    from unibox_tui.core.queries import AgentRow

    agents = [
        AgentRow("1", "Ana Lima", "ana", None, "available", []),
        AgentRow("2", "Bo Chen", "bo", None, "away", []),
        AgentRow("3", "Joana Bo", "joana", None, "available", []),
    ]
    assert [a.handle for a in matching_agents(agents, "bo")] == ["bo", "joana"]
    assert [a.handle for a in matching_agents(agents, "")] == ["ana", "bo", "joana"]


def test_every_binding_has_a_unique_id_and_a_scope() -> None:
    ids = [spec.id for spec in actions.ACTIONS]
    assert len(ids) == len(set(ids))
    for spec in actions.ACTIONS:
        assert spec.scopes and spec.keys and spec.description
        for binding in actions.bindings(spec.scopes[0]):
            assert binding.id
    assert actions.check_keymap({"close": "e", "clsoe": "x"}) == ["clsoe"]
    assert {"quit", "reply", "comment", "assign", "close", "search", "help"} <= set(ids)


def test_no_app_key_is_taken_by_the_inbox_or_its_panes() -> None:
    """An app-wide key reused by the inbox screen or a pane of it never runs there (the
    narrower binding wins): reports on R went dead when R became "reply to the sender"."""
    inbox = {"inbox", "list", "views", "thread"}
    app_keys = {
        key: spec.id
        for spec in actions.ACTIONS
        if "app" in spec.scopes
        for key in spec.keys.split(",")
    }
    hidden = [
        (key, app_keys[key], spec.id)
        for spec in actions.ACTIONS
        if inbox & set(spec.scopes)
        for key in spec.keys.split(",")
        if key in app_keys
    ]
    assert hidden == []


def test_long_bodies_are_laid_out_in_pieces_that_stay_the_same_as_more_is_loaded() -> None:
    from unibox_tui.widgets.thread_view import LONG_BODY, MORE_STEP, pieces

    text = "".join(f"line {n:05d}\n" for n in range(20_000))  # 11 characters a line
    first = pieces(text[:LONG_BODY], cut=True)
    more = pieces(text[: LONG_BODY + MORE_STEP], cut=True)
    whole = pieces(text, cut=False)
    assert len(first) == 1 and more[0] == first[0] == whole[0] and more[1] == whole[1]
    assert text[slice(*first[0])].endswith("line 01817")  # ends at a whole line
    assert "\n".join(text[a:b] for a, b in whole) == text
    # One line of megabytes: cut where the loading stopped, the same way every time.
    line = "x" * (LONG_BODY * 3)
    assert pieces(line[:LONG_BODY], cut=True) == [(0, LONG_BODY)]
    assert pieces(line[: LONG_BODY + MORE_STEP], cut=True)[0] == (0, LONG_BODY)


def test_desktop_notification_escapes_carry_no_customer_controls() -> None:
    from unibox_tui.app import desktop_notification

    hostile = "Bo: hi; \x1b]0;owned\x07 \x9b31m there\nnext"
    seq = desktop_notification("osc777", "You were mentioned", hostile)
    assert seq.startswith("\x1b]777;notify;You were mentioned;") and seq.endswith("\x1b\\")
    body = seq[len("\x1b]777;notify;") : -2]
    assert body.count(";") == 1  # title;text: the customer's ';' cannot add fields
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in body)
    assert desktop_notification("osc9", "T", "x") == "\x1b]9;T: x\x1b\\"
    assert desktop_notification("off", "T", "x") == ""


def test_config_refuses_an_unknown_desktop_kind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from unibox_tui.config import load_config
    from unibox_tui.core.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('[ui]\ndesktop = "growl"\n')
    with pytest.raises(ConfigError, match=r"ui\.desktop is one of off, osc777, osc9"):
        load_config(path)
    path.write_text('[ui]\ndesktop = "osc9"\n')
    assert load_config(path).desktop == "osc9"


def test_plain_text_wraps_exactly_as_rich_does() -> None:
    """thread_view.wrap lays plain ASCII lines out itself (a long body's pieces): every
    line must come out as Rich's own wrapping makes it, for fitting, folded and wrapped
    lines, blank ones, spaces at a break, and lines it leaves to Rich."""
    import random

    from rich.console import Console
    from rich.style import Style

    from unibox_tui.widgets.thread_view import _wrap_rich, wrap

    console = Console(width=200, color_system="truecolor")
    style = Style(color="#aabbcc", bgcolor="#112233")
    rnd = random.Random(7)
    kinds = ["ab c.", "a ", "abcdefgh", " ", "x  ", "ab  c.-\t\u00e9\u4e2d\x01\u200b"]
    texts = ["\n", "a\n", "\nb", "  lead", "trail   ", "x" * 25, "two  spaces  at  a  break"]
    for _ in range(1500):
        lines = [
            "".join(rnd.choice(chars) for _ in range(rnd.choice([0, 1, 5, 9, 10, 11, 20, 40])))
            for chars in rnd.choices(kinds, k=rnd.randint(1, 5))
        ]
        texts.append("\n".join(lines))
    for plain in filter(None, texts):
        width = rnd.choice([1, 2, 3, 5, 10, 33])
        ours = wrap(console, Text(plain), width, style)
        rich = _wrap_rich(console, Text(plain), width, style)
        assert [list(s) for s in ours] == [list(s) for s in rich], (plain, width)
        assert [s.cell_length for s in ours] == [s.cell_length for s in rich]


def test_view_counts_are_compact_past_four_digits() -> None:
    """The views pane is ~19 cells: a 100k workspace's counts must leave the name room."""
    cases = {
        0: "0",
        9999: "9999",
        10_000: "10.0k",
        16_655: "16.6k",
        99_999: "99.9k",
        100_000: "100k",
        728_410: "728k",
        1_650_000: "1.6M",
        12_345_678: "12M",
    }
    assert {n: compact_count(n) for n in cases} == cases
    assert all(len(compact_count(n)) <= 5 for n in range(0, 20_000_000, 7_919))
