"""The one place that strips control characters, and @mention parsing."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from unibox_tui.core.mentions import find_mentions, mentioned_handles
from unibox_tui.core.snippets import fill, person_values
from unibox_tui.core.text import clean, one_line


def test_clean_removes_escape_sequences_controls_and_bidi() -> None:
    assert clean("\x1b[31mred\x1b[0m") == "red"
    assert clean("\x1b]0;pwned\x07title") == "title"
    assert clean("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert clean("a\x9b31mb") == "ab"
    assert clean("abc\u202etxt.exe\u202c") == "abctxt.exe"
    assert clean("bell\x07 nul\x00 del\x7f") == "bell nul del"
    assert clean("line1\r\nline2\ttab") == "line1\nline2\ttab"
    assert clean("[bold red]x[/]") == "[bold red]x[/]"  # markup is text: widgets never parse it
    assert clean(None) == ""


OSC8 = "innocent link probe"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # OSC 8 hyperlinks, whole: introducer, parameters, URL and terminator all go
        ("\x1b]8;;http://evil.example\x1b\\innocent\x1b]8;;\x1b\\ link probe", OSC8),
        ("\x1b]8;;http://evil.example\x07innocent\x1b]8;;\x07 link probe", OSC8),
        ("\x1b]8;;http://evil.example\x9cinnocent\x1b]8;;\x9c link probe", OSC8),
        ("\x9d8;;http://evil.example\x1b\\innocent\x9d8;;\x07 link probe", OSC8),
        # ... also when a quoted display name lost the `\` of each ST (quoted-pair)
        ("\x1b]8;;http://evil.example\x1binnocent\x1b]8;;\x1b link probe", OSC8),
        ("\x1b]0;retitled\x1b[31mred", "red"),  # an ESC ends the OSC, the CSI still goes
        # CSI, 7- and 8-bit, with parameters and intermediates
        ("\x1b[1;31mred\x1b[0m \x1b[?25lhidden\x1b[2 q", "red hidden"),
        ("a\x9b2Jb\x9b?1049hc", "abc"),
        # DCS (sixel), APC (kitty graphics), SOS, PM: payload and terminator go
        ("\x1bPq#0;2;0;0;0#0~~@@\x1b\\after", "after"),
        ("\x1bP1$r0m\x9cafter", "after"),
        ("\x1b_Gf=100,a=T;iVBORw0KGgo=\x1b\\after", "after"),
        ("\x1bXsos text\x1b\\after \x1b^pm text\x1b\\ok", "after ok"),
        # an unterminated introducer goes alone: the customer's text stays
        ("\x1b]not an escape", "]not an escape"),
        ("\x1bPno end here\nsecond line", "Pno end here\nsecond line"),
        ("Ã\x9dnothing after", "Ãnothing after"),
    ],
)
def test_clean_removes_whole_escape_sequences(value: str, shown: str) -> None:
    assert clean(value) == shown


@given(st.text())
def test_clean_output_never_holds_controls(value: str) -> None:
    out = clean(value)
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in out)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in out)
    assert "\x1b" not in out


def test_one_line_folds_and_truncates() -> None:
    assert one_line("  a\n b\tc ") == "a b c"
    assert one_line("x" * 300, 10) == "x" * 9 + "…"


@given(
    st.lists(
        st.text(st.sampled_from("ab \t\r\n\x07\u202e"), max_size=120)
        | st.sampled_from(["", "x" * 500, " " * 900, "\n" * 300, "\x1b[31m", "\x1b]0;t\x07"]),
        max_size=12,
    ).map("".join),
    st.sampled_from([10, 50, 200]),
)
# Found by CI: the prefix cut ended inside the escape sequence, whose tail stayed as text.
@example(value="  aaaaaaaaaa    \x1b[31m", limit=10)
@example(value="a" * 30 + "\x1b]0;" + "t" * 30 + "\x07" + "b" * 30, limit=10)
def test_one_line_of_a_long_text_is_the_fold_of_all_of_it(value: str, limit: int) -> None:
    # one_line cleans only a prefix of long text (previews of long bodies); what it returns
    # must be what folding the whole text gives.
    whole = " ".join(clean(value).split())
    expected = whole if len(whole) <= limit else whole[: limit - 1] + "…"
    assert one_line(value, limit) == expected


def test_mentions() -> None:
    text = "@ana, ping @Bo.Chen. and mail ana@x.com or @@weird @-no @x_y-z"
    assert mentioned_handles(text) == ["ana", "bo.chen", "x_y-z"]
    assert find_mentions("hi @ana")[0] == (3, 7, "ana")
    assert mentioned_handles("@ana @ana") == ["ana"]


def test_snippet_tokens() -> None:
    values = {"contact": person_values("José Álvarez"), "agent": person_values("Ana Lima")}
    assert (
        fill("Hi {{contact.first_name}}, {{ agent.name }} here{{nope.x}}", values)
        == "Hi José, Ana Lima here"
    )
