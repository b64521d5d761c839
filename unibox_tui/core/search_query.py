"""What a person typed into search, read into words, phrases and operators.

    refund "order 1234" from:carla@example.com in:Support status:open after:2026-11-01

- Words outside quotes are full text (every one must match; the last one, still being typed,
  also as a prefix). "Quoted phrases" must match as a phrase (an unclosed quote runs to the
  end: customers' text pasted into the box is never an error).
- `key:value` with a known key is an operator; the value may be quoted (`in:"Sales EU"`).
  Keys: from, to, subject, in, channel, status, assignee, tag, before, after. The same key
  twice means either (`status:open status:snoozed`); different keys must all hold.
- Anything else (`re:`, `http://x`, `AND OR (`) is just words: the full-text query is built
  from word tokens only (the tokenizer's own split, `search_words`), each quoted, so no input
  is ever FTS5 syntax.

Parsing needs no database: it returns a `SearchQuery` or raises InvalidRequest with one
line that says what to type. Operators are turned into SQL by core/queries.py (they need
the workspace: inbox names, agent handles, the reader's access).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from .errors import InvalidRequest
from .kinds import CHANNEL_KINDS, STATUSES

OPERATORS = {
    "from": "from:carla@example.com, from:Carla or from:@ana (an agent's replies)",
    "to": "to:support@acme.example (our address) or to:carla@example.com",
    "subject": 'subject:refund or subject:"damaged box"',
    "in": 'in:Support or in:"Sales EU"',
    "channel": "channel:" + ", channel:".join(CHANNEL_KINDS),
    "status": "status:" + ", status:".join(STATUSES),
    "assignee": "assignee:ana, assignee:me or assignee:none",
    "tag": "tag:vip",
    "before": "before:2026-11-01, before:3d or before:monday",
    "after": "after:2026-11-01, after:2w or after:yesterday",
}
MAX_QUERY = 1000  # characters: a query is a line someone typed, not a document


def search_words(text: str) -> list[str]:
    """Split text into words exactly as the FTS tokenizer does (migration 0003): letters,
    numbers, marks and private-use characters; anything else separates words."""
    words, current = [], []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LNM" or category == "Co":
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


@dataclass(frozen=True)
class SearchQuery:
    words: tuple[str, ...] = ()  # full-text words, in order
    phrases: tuple[tuple[str, ...], ...] = ()  # each phrase's words
    filters: tuple[tuple[str, str], ...] = ()  # (operator, value), in order typed
    open_end: bool = False  # the last word is still being typed: match it as a prefix too

    @property
    def has_text(self) -> bool:
        return bool(self.words or self.phrases)

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.filters if k == key]

    def fts(self) -> str | None:
        """The full-text part as a safe FTS5 query (None without words): quoted tokens only."""
        parts = [f'"{" ".join(p)}"' for p in self.phrases]
        parts += [f'"{w}"*' if prefix else f'"{w}"' for w, prefix in self.typed_words()]
        return " ".join(parts) or None

    def typed_words(self) -> list[tuple[str, bool]]:
        """(word, is_prefix) for each full-text word outside phrases, as typed: the last one
        is a prefix while it is being typed (`open_end`), from two letters on (a one-letter
        prefix matches nearly everything and is slow)."""
        last = len(self.words) - 1
        return [(w, self.open_end and i == last and len(w) >= 2) for i, w in enumerate(self.words)]

    def terms(self) -> list[tuple[str, bool]]:
        """(word, is_prefix) to mark in a thread: every full-text word, casefolded and
        without accents (as the index compares them)."""
        out = [(fold(w), False) for p in self.phrases for w in p]
        return out + [(fold(w), prefix) for w, prefix in self.typed_words()]


def fold(word: str) -> str:
    """A word as the index compares it: casefolded, accents removed (remove_diacritics)."""
    if word.isascii():  # nothing to decompose: casefold is lower (highlighting a page of hits)
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """The text after the quote at `i` up to the closing quote (or the end), and where the
    reading stopped."""
    end = text.find('"', i + 1)
    if end < 0:
        return text[i + 1 :], len(text)
    return text[i + 1 : end], end + 1


def parse(text: str) -> SearchQuery:
    """Read a search line. InvalidRequest (one line, what to type) for an operator without a
    usable value; anything else is words."""
    if len(text) > MAX_QUERY:
        raise InvalidRequest(
            f"the search is too long ({len(text)} characters; at most {MAX_QUERY})"
        )
    words: list[str] = []
    phrases: list[tuple[str, ...]] = []
    filters: list[tuple[str, str]] = []
    last_is_word = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == '"':
            inner, i = _read_quoted(text, i)
            tokens = search_words(inner)
            if len(tokens) == 1:
                words.append(tokens[0])
            elif tokens:
                phrases.append(tuple(tokens))
            last_is_word = False
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != '"':
            j += 1
        token = text[i:j]
        key, colon, value = token.partition(":")
        if colon and key.lower() in OPERATORS:
            key = key.lower()
            if not value and j < n and text[j] == '"':
                value, j = _read_quoted(text, j)
            value = value.strip()
            if not value:
                raise InvalidRequest(f"{key}: needs a value, e.g. {OPERATORS[key]}")
            filters.append((key, _checked(key, value)))
            last_is_word = False
        else:
            tokens = search_words(token)
            words += tokens
            last_is_word = bool(tokens)
        i = j
    open_end = last_is_word and not text[-1:].isspace()
    return SearchQuery(tuple(words), tuple(phrases), tuple(filters), open_end)


def _checked(key: str, value: str) -> str:
    """Values with a fixed set of choices are checked here; the rest need the workspace."""
    if key == "channel":
        kind = value.lower().replace("-", "")
        if kind not in CHANNEL_KINDS:
            raise InvalidRequest(f"unknown channel {value!r}; use {OPERATORS['channel']}")
        return kind
    if key == "status":
        status = value.lower()
        if status not in STATUSES:
            raise InvalidRequest(f"unknown status {value!r}; use {OPERATORS['status']}")
        return status
    if key == "subject" and not search_words(value):
        raise InvalidRequest(f"subject: needs a word, e.g. {OPERATORS['subject']}")
    return value


# An ASCII text's words: its letters and digits are the only characters of the categories
# below (`_` is punctuation, Pc). The per-character loop was most of highlighting a page of
# 50 hits (~2 ms of a search on PostgreSQL, where the hits' fragments are made here).
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word of `text`, split as `search_words` splits."""
    if text.isascii():
        return [m.span() for m in _ASCII_WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    start = None
    for i, ch in enumerate(f"{text} "):  # the trailing space ends the last word
        category = unicodedata.category(ch)
        if category[0] in "LNM" or category == "Co":
            if start is None:
                start = i
        elif start is not None:
            spans.append((start, i))
            start = None
    return spans


def _matcher(terms: list[tuple[str, bool]]) -> Callable[[str], bool]:
    exact = {t for t, prefix in terms if not prefix}
    prefixes = tuple(t for t, prefix in terms if prefix)

    def matches(word: str) -> bool:
        folded = fold(word)
        return folded in exact or bool(prefixes and folded.startswith(prefixes))

    return matches


def find_terms(text: str, terms: list[tuple[str, bool]]) -> list[tuple[int, int]]:
    """(start, end) of each word of `text` that a search's terms match (`SearchQuery.terms`),
    compared as the index compares words: whole words, casefolded, accents removed; a
    prefix term matches the start of a word."""
    if not terms:
        return []
    matches = _matcher(terms)
    return [(s, e) for s, e in word_spans(text) if matches(text[s:e])]


SNIPPET_SCAN = 20_000  # characters of a body read for its fragment (bounded time per hit)


def fragment(text: str, terms: list[tuple[str, bool]], size: int = 12) -> str:
    """The part of `text` a search hit shows, chosen by FTS5's `snippet(..., '…', size)`
    rule (sqlite's fts5_aux.c) so both databases show the same: a window of `size` words
    scored 1000 per different term and 1 per repeat, centred on its matches, or starting at
    a sentence (+100, +120 at the text's start); the first best wins; '…' where the text
    goes on. Only the first SNIPPET_SCAN characters are read."""
    head = text[:SNIPPET_SCAN]
    words = word_spans(head)
    more = len(text) > len(head)
    n = len(words)
    if n <= size and not more:
        return text
    which = _which_term(terms)
    hits = [(i, t) for i, (s, e) in enumerate(words) if (t := which(head[s:e])) is not None]
    sentences = [0] + [i for i in range(1, n) if _starts_sentence(head, words[i][0])]

    def score(pos: int) -> tuple[int, int, int]:
        total, seen, first, last = 0, set(), -1, 0
        for i, term in hits:
            if pos <= i < pos + size:
                total += 1 if term in seen else 1000
                seen.add(term)
                first = i if first < 0 else first
                last = i + 1
        return total, first, last

    best, start = 0, 0
    for at, _ in hits:
        total, first, last = score(at)
        if total > best:
            best, start = total, max(0, min(first - (size - (last - first)) // 2, n - size))
        sentence = sentences[bisect_right(sentences, at) - 1]
        if sentence < at:
            total = score(sentence)[0] + (120 if sentence == 0 else 100)
            if total > best:
                best, start = total, sentence
    begin = 0 if start == 0 else words[start][0]
    end = start + size - 1
    if end >= n - 1 and not more:
        return ("…" if start else "") + text[begin:]
    return ("…" if start else "") + text[begin : words[end][1]] + "…"


def _which_term(terms: list[tuple[str, bool]]) -> Callable[[str], int | None]:
    """The index of the first term a word matches (None: none)."""

    def which(word: str) -> int | None:
        folded = fold(word)
        for i, (term, prefix) in enumerate(terms):
            if folded == term or (prefix and folded.startswith(term)):
                return i
        return None

    return which


def _starts_sentence(text: str, start: int) -> bool:
    """Does the word at `start` begin a sentence as FTS5's snippet sees one: white space
    before it, and before that a '.' or ':'."""
    i = start - 1
    while i >= 0 and text[i] in " \t\n\r":
        i -= 1
    return i != start - 1 and i >= 0 and text[i] in ".:"
