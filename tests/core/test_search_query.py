"""Reading a search line (core/search_query.py): words, phrases, operators, never FTS syntax."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unibox_tui.core.errors import InvalidRequest
from unibox_tui.core.search_query import SearchQuery, find_terms, fold, fragment, parse


def test_words_phrases_and_operators() -> None:
    q = parse('refund "order 1234" from:carla@example.com in:"Sales EU" Status:Open later')
    assert q.words == ("refund", "later")
    assert q.phrases == (("order", "1234"),)
    assert q.filters == (
        ("from", "carla@example.com"),
        ("in", "Sales EU"),
        ("status", "open"),
    )
    assert q.open_end  # "later" is still being typed
    assert q.fts() == '"order 1234" "refund" "later"*'
    assert not parse("refund ").open_end  # a space ends the word: no prefix


def test_operators_only_and_repeats() -> None:
    q = parse("status:open status:snoozed channel:WhatsApp assignee:none")
    assert not q.has_text and q.fts() is None
    assert q.values("status") == ["open", "snoozed"]
    assert q.values("channel") == ["whatsapp"]


def test_unknown_keys_and_syntax_are_words() -> None:
    assert parse("re:invoice").words == ("re", "invoice")
    assert parse("http://x.io/a").words == ("http", "x", "io", "a")
    assert parse("AND OR (").fts() == '"AND" "OR"'
    assert parse('"unbalanced phrase').phrases == (("unbalanced", "phrase"),)
    assert parse('"').fts() is None
    assert parse('"one"').words == ("one",)  # a one-word phrase is a word


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("from:", "from: needs a value"),
        ('in:""', "in: needs a value"),
        ("status:pending", "unknown status 'pending'"),
        ("channel:fax", "unknown channel 'fax'"),
        ("subject:!!!", "subject: needs a word"),
        ("x" * 1001, "too long"),
    ],
)
def test_bad_operators_say_what_to_type(text: str, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says) as e:
        parse(text)
    assert "\n" not in str(e.value)


def test_terms_fold_like_the_index_and_find_words() -> None:
    q = parse("José refu")
    assert q.terms() == [("jose", False), ("refu", True)]
    text = "Jose asked for a REFUND; refurbished? no: Josébox"
    assert [text[s:e] for s, e in find_terms(text, q.terms())] == ["Jose", "REFUND", "refurbished"]
    assert fold("Ærø") == "ærø" and fold("Crème") == "creme"
    assert find_terms("anything", []) == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_text_is_a_query_or_one_clear_error(text: str) -> None:
    try:
        q = parse(text)
    except InvalidRequest as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(q, SearchQuery)
    fts = q.fts()
    if fts is not None:  # only quoted tokens: no FTS5 operator can come from the input
        assert fts.count('"') % 2 == 0


def test_fragment_is_the_part_fts5s_snippet_shows() -> None:
    # PostgreSQL's search shows `fragment` where SQLite shows FTS5's snippet: the same
    # window of the same text for the same words (phrases are matched word by word).
    import random
    import sqlite3

    tokenize = "tokenize = \"unicode61 remove_diacritics 2 categories 'L* N* Co M*'\""
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE VIRTUAL TABLE f USING fts5(body, {tokenize})")
    vocab = ["alpha", "beta", "crushed", "box", "Refund", "lamp", "x", "yo", "Ünïcode", "order-12"]
    searches = ["crushed", "box lamp", "refund", "unicode", "lam", "alpha yo", "ünï box", "ye"]
    rng = random.Random(7)
    compared = 0
    for _ in range(400):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 50))]
        seps = [rng.choice([" ", ", ", ". ", " - ", "\n", ": ", ".", "  "]) for _ in words]
        body = "".join(w + s for w, s in zip(words, seps, strict=True)).strip()
        query = parse(rng.choice(searches))
        con.execute("DELETE FROM f")
        con.execute("INSERT INTO f VALUES (?)", (body,))
        row = con.execute(
            "SELECT snippet(f, 0, '', '', '…', 12) FROM f WHERE f MATCH ?", (query.fts(),)
        ).fetchone()
        if row is not None:
            assert fragment(body, query.terms()) == row[0], (body, query)
            compared += 1
    assert compared > 100


def _reference_spans(text: str) -> list[tuple[int, int]]:
    """The tokenizer's rule, character by character (migration 0003)."""
    import unicodedata

    spans, start = [], None
    for i, ch in enumerate(f"{text} "):
        category = unicodedata.category(ch)
        if category[0] in "LNM" or category == "Co":
            start = i if start is None else start
        elif start is not None:
            spans.append((start, i))
            start = None
    return spans


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_words_split_and_fold_as_the_tokenizer_does(text: str) -> None:
    """word_spans and fold take a shortcut for ASCII text (a regex, lower()): the same
    words and the same folded forms as the tokenizer's per-character rule."""
    import unicodedata

    from unibox_tui.core.search_query import word_spans

    assert word_spans(text) == _reference_spans(text)
    for s, e in word_spans(text):
        word = text[s:e]
        decomposed = unicodedata.normalize("NFKD", word.casefold())
        assert fold(word) == "".join(c for c in decomposed if not unicodedata.combining(c))
