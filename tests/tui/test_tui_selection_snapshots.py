"""SVG snapshots of selection and tags (the pattern of test_tui_snapshots.py)."""

from __future__ import annotations

from test_tui_snapshots import steps
from tui_world import NOW

from unibox_tui.core import commands as cmd


def test_two_rows_selected(snap_compare, make_app) -> None:
    """Selected rows carry a mark and a tint; the list header counts them."""
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps("space", "space"))


def test_tags_in_rows_and_the_tag_picker(snap_compare, make_app, demo) -> None:
    """Tags lead the subject (#billing #vip); `l` offers them, marking the ones it has."""
    cmd.tag(demo.ws, demo.conv["mail"], "billing", actor="ana", now=NOW)
    cmd.tag(demo.ws, demo.conv["mail"], "vip", actor="ana", now=NOW)
    cmd.tag(demo.ws, demo.conv["chat"], "billing", actor="ana", now=NOW)
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=steps("j", "l"))


def test_bulk_close_toast_80x24(snap_compare, make_app) -> None:
    """Select all (V) then close: one toast names how many and the undo key."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps("V", "x"))
