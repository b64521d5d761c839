"""The fast MIME tree builder gives exactly the stdlib's compat32 tree, or defers to it."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses

import pytest
from hypothesis import example, given, settings
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


SAMPLES = _samples()


# Numbered ids: the generated samples carry random MIME boundaries, and test ids must be the
# same in every process that collects them (pytest-xdist's workers).
@pytest.mark.parametrize("raw", SAMPLES, ids=[f"sample{i}" for i in range(len(SAMPLES))])
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


_JUNK = st.sampled_from(["=", ";", '"', "'", "\\", "<", ">", " ", "(c)", "us-ascii''x", ""])
_PARAM = st.builds(
    lambda name, value, quote, blank, junk: (
        f"{blank}{name}{blank}={blank}{quote}{value}{quote}{junk}"
    ),
    st.sampled_from(["charset", "CharSet", "boundary", "name", "format", "x*", "charset*0*"]),
    st.sampled_from(
        ["utf-8", "UTF-8", "----=_Part_1", "é", "a b", "", "<x>", 'a"b', "a;b", "a\\b"]
    ),
    st.sampled_from(["", '"']),
    st.sampled_from(["", " ", "\t", "\r\n\t"]),
    st.sampled_from(["", "", "", " ", ";"]) | _JUNK,
)
_PARAM_PIECES = _PARAM | _JUNK


@settings(max_examples=600, deadline=None)
@example("text/plain", [' charset="utf-8"', "format=flowed", "CHARSET=koi8-r"])
@example("multipart/mixed", ['\r\n\tboundary="a;b"', "charset=é"])
@example("text/plain", ["name=<x>", 'name="a b" '])
@given(
    st.sampled_from(["text/plain", "multipart/mixed", "TEXT/HTML", "text", "a/b/c", " text/x "]),
    st.lists(_PARAM_PIECES, max_size=4),
)
def test_simple_content_type_parameters_read_as_the_stdlib_reads_them(
    ctype: str, params: list[str]
) -> None:
    msg = Message()
    msg._headers.append(("Content-Type", ctype + "".join(f";{p}" for p in params)))  # type: ignore[attr-defined]
    for name in ("charset", "boundary", "name"):
        fast = mime_tree.content_type_param(msg, name)
        if fast is not False:
            assert fast == msg.get_param(name)
    assert mime_tree.content_charset(msg) == msg.get_content_charset()
    assert mime_tree.boundary(msg) == msg.get_boundary()


def test_common_content_types_take_the_fast_path() -> None:
    msg = Message()
    msg._headers.append(  # type: ignore[attr-defined]
        ("Content-Type", 'multipart/alternative;\r\n\tboundary="----=_Part_7"; charset=UTF-8')
    )
    assert mime_tree.content_type_param(msg, "boundary") == "----=_Part_7"
    assert mime_tree.content_type_param(msg, "charset") == "UTF-8"
    assert mime_tree.content_type_param(msg, "name") is None
    msg.replace_header("Content-Type", "text/plain; charset=koi8-r; CHARSET=utf-8")
    assert mime_tree.content_type_param(msg, "charset") == msg.get_param("charset") == "koi8-r"
    msg.replace_header("Content-Type", "text/plain; name*=utf-8''r%C3%A9sum%C3%A9.pdf")
    assert mime_tree.content_type_param(msg, "name") is False  # RFC 2231: the stdlib's job
