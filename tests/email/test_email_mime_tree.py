"""The fast MIME tree builder gives exactly the stdlib's compat32 tree, or defers to it."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers.mail import CORPUS, MALFORMED, make_mail

from unibox_tui.backends.email import mime_tree
from unibox_tui.backends.email.mime import _FOLD, _plain_address

EDGE_CASES = [
    # preamble, a part without headers, blanks after a boundary, an epilogue
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\npre\namble\n--X\n"
    b"Content-Type: text/plain\n\nhi\n--X  \n\nno headers\n--X--\nepi\nlogue\n",
    # nested multiparts, with and without text after the inner close boundary
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\n--X\n"
    b"Content-Type: multipart/alternative; boundary=Y\n\n--Y\n\na\n--Y\n\nb\n--Y--\n\n\n"
    b"--X\n\nc\n--X--",
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\n--X\n"
    b"Content-Type: multipart/alternative; boundary=Y\n\n--Y\n\na\n--Y\n\nb\n--Y--\ntail\n"
    b"--X\n\nc\n--Xtra\n--X--\n",
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\n--X\n"
    b"Content-Type: multipart/alternative; boundary=Y\n\n--Y\n\na\n--Y\n\nb\n--Y--\n"
    b"--X\n\nc\n--X--\n\n",
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\n--X\n\nc\n--X--\t \n",
    # folded and empty headers
    b"From: a@b\nSubject: x\n\tcont\n \nX:\n\n\nbody\n",
    b"From: a@b\nSubject:   \n\tcont\n\nbody",
    # irregular: the stdlib decides (doubled boundary, no close, digest, From_ line, lone CR)
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\n--X\n--X\n\nc\n--X--\n",
    b"From: a@b\nContent-Type: multipart/mixed; boundary=X\n\n--X\n\nc\n",
    b"From: a@b\nContent-Type: multipart/digest; boundary=X\n\n--X\n\nc\n--X--\n",
    b"From someone Sat Nov 21 10:00:00 2026\nFrom: a@b\n\nbody\n",
    b"From: a@b\nSubject: x\r\n\r\nbo\rdy\n",
    b"From: a@b\nbroken header line\n\nbody\n",
]


def _tree(msg: Message) -> tuple[object, ...]:
    payload = msg._payload  # type: ignore[attr-defined]
    return (
        msg._headers,  # type: ignore[attr-defined]
        msg.preamble,
        msg.epilogue,
        [type(d).__name__ for d in msg.defects],
        msg.get_default_type(),
        msg.get_unixfrom(),
        [_tree(p) for p in payload] if isinstance(payload, list) else payload,
    )


def _same_as_stdlib(raw: bytes) -> None:
    assert _tree(mime_tree.message_tree(raw)) == _tree(
        message_from_bytes(raw, policy=policy.compat32)
    )


def _samples() -> list[bytes]:
    samples = [*EDGE_CASES, *MALFORMED.values()]
    samples += [
        make_mail(),
        make_mail(html="<p>hi</p>"),
        make_mail(html="<p>hi</p>", attachments=[("a.pdf", "application/pdf", b"%PDF" * 100)]),
    ]
    samples += [p.read_bytes() for p in sorted(CORPUS.glob("msg_*.txt"))]
    # Servers hand mail out with CRLF line ends.
    return samples + [s.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for s in samples]


@pytest.mark.parametrize("raw", _samples())
def test_the_tree_is_the_stdlib_tree(raw: bytes) -> None:
    _same_as_stdlib(raw)


def test_well_formed_mail_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[bytes] = []
    monkeypatch.setattr(mime_tree, "message_from_bytes", lambda raw, **_: used.append(raw))
    mime_tree.message_tree(EDGE_CASES[1].replace(b"\n", b"\r\n"))
    mime_tree.message_tree(make_mail(html="<p>hi</p>"))
    assert used == []
    mime_tree.message_tree(EDGE_CASES[7])  # a doubled boundary line: the stdlib's call
    assert used == [EDGE_CASES[7]]


_line = st.text(alphabet='ab -:\t="<>@.', max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_line, max_size=4),
    st.lists(st.sampled_from(["", "\n", "\r\n", "  \n", "--", "--B", "--B--", "x"]), max_size=6),
    st.sampled_from(["\n", "\r\n"]),
)
def test_random_multiparts_match_the_stdlib(bodies: list[str], junk: list[str], eol: str) -> None:
    parts = "".join(
        f"--B{eol}{'X-A: 1' + eol if i % 2 else ''}{eol}{b}{eol}" for i, b in enumerate(bodies)
    )
    text = (
        f"From: a@b{eol}Content-Type: multipart/mixed; boundary=B{eol}{eol}"
        f"{''.join(junk)}{eol}{parts}--B--{eol}{''.join(junk)}"
    )
    _same_as_stdlib(text.encode())


def test_plain_addresses_read_as_getaddresses_reads_them() -> None:
    values = [
        "a@b.c",
        " <a@b.c> ",
        "Ana Lima <a@b.c>",
        "O'Neil-X <x.y+z@d-e.f>",
        "\tAna <a@b.c>\t",
        "Ana Lima<a@b.c>",
    ]
    corpus = sorted(CORPUS.glob("msg_*.txt"))  # absent where Python's tests are not installed
    for path in corpus:
        msg = message_from_bytes(path.read_bytes(), policy=policy.compat32)
        for name in ("from", "to", "cc", "reply-to", "sender"):
            values += [str(v) for v in msg.get_all(name, [])]
    checked = 0
    for value in values:
        plain = _plain_address(value)
        if plain is not None:
            checked += 1
            assert [plain] == getaddresses([_FOLD.sub(" ", value)]), value
    assert checked >= (30 if corpus else 6)
    # Anything unusual is left to getaddresses.
    for odd in ("Ana  Lima <a@b.c>", '"Lima, Ana" <a@b.c>', "a@b.c, c@d.e", "x <a@b.c> y"):
        assert _plain_address(odd) is None
