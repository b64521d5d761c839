"""The chat channel without a browser: visitor tokens and identity hashes, what a visitor may
read, "start a new conversation", and transcripts on close and by hand (through the outbox)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import back_to, db_args
from unibox_tui.backends import chat
from unibox_tui.core import chat as chat_q
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.errors import InvalidRequest

# On SQLite and on a real PostgreSQL (tests/postgres_xfail.py: what is left).
pytestmark = pytest.mark.both_databases

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def visitor_says(team, text: str, visitor: str = "visitor:aaaaaaaaaaaaaaaaaaaa", **kw) -> str:  # type: ignore[no-untyped-def]
    adapter = chat.ChatChannel(team.chat, "Support chat", {})
    inc = adapter.incoming(
        identity=visitor,
        name="",
        text=text,
        client_id=kw.pop("client_id", "c" + str(abs(hash((text, visitor))))[:20]),
        now=NOW,
        context={"page": "https://shop.example/pricing", "browser": "Chrome 156 on Linux"},
        **kw,
    )
    return cmd.ingest(team.ws, inc).conversation_id


def test_visitor_tokens_verify_only_for_their_channel() -> None:
    key = chat.visitor_key("secret")
    visitor_id, token = chat.new_visitor(key, "ch1")
    assert chat.visitor_from_token(key, "ch1", token) == visitor_id
    assert chat.visitor_from_token(key, "ch2", token) is None  # another channel's
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert chat.visitor_from_token(key, "ch1", forged) is None
    assert chat.visitor_from_token(chat.visitor_key("other"), "ch1", token) is None
    assert chat.visitor_from_token(key, "ch1", {"not": "text"}) is None


def test_identity_hash_checks_the_site_signature() -> None:
    secret = chat.channel_secret("workspace-secret", "ch1")
    good = chat.identity_hash(secret, "user-42")
    assert chat.verify_identity(secret, "user-42", good) == "user-42"
    with pytest.raises(InvalidRequest, match="does not match"):
        chat.verify_identity(secret, "user-43", good)
    with pytest.raises(InvalidRequest, match="does not match"):
        chat.verify_identity(chat.channel_secret("workspace-secret", "ch2"), "user-42", good)


def test_settings_and_attachment_limits() -> None:
    settings = chat.ChatChannel.check_settings(
        {"allowed_origins": ["https://Shop.example/a/b", "http://localhost:8000"]}, None
    )
    assert settings["allowed_origins"] == ["http://localhost:8000", "https://shop.example"]
    with pytest.raises(InvalidRequest, match="web address"):
        chat.ChatChannel.check_settings({"allowed_origins": ["javascript:alert(1)"]}, None)
    with pytest.raises(InvalidRequest, match="cannot be sent here"):
        chat.check_attachment("x.exe", "application/x-msdownload", "AAAA")
    big = "A" * (chat.MAX_ATTACHMENT * 4 // 3 + 100)
    with pytest.raises(InvalidRequest, match="at most 5 MB"):
        chat.check_attachment("big.png", "image/png", big)
    name, kind, data = chat.check_attachment("../../etc/pa\x00sswd.txt", "text/plain", "aGk=")
    assert (name, kind, data) == (".._.._etc_passwd.txt", "text/plain", b"hi")


def test_a_resent_message_is_stored_once_and_a_visitor_reads_only_their_own(team) -> None:  # type: ignore[no-untyped-def]
    first = visitor_says(team, "hello", client_id="msg-00000001")
    again = visitor_says(team, "hello", client_id="msg-00000001")
    assert first == again
    other = visitor_says(team, "I am someone else", visitor="visitor:bbbbbbbbbbbbbbbbbbbb")
    mine = chat_q.visitor_view(team.ws, team.chat, "visitor:aaaaaaaaaaaaaaaaaaaa")
    assert [m["text"] for m in mine["messages"]] == ["hello"]
    assert mine["messages"][0]["client_id"] == "msg-00000001"
    # Naming the other visitor's conversation finds nothing.
    assert (
        chat_q.visitor_view(team.ws, team.chat, "visitor:aaaaaaaaaaaaaaaaaaaa", 0, other)[
            "conversation"
        ]
        is None
    )
    # Comments and activity lines never reach the visitor; the agent's reply does.
    cmd.comment(team.ws, first, "internal: refund?", actor="ana")
    cmd.reply(team.ws, first, "Hi! How can I help?", actor="ana")
    view = chat_q.visitor_view(team.ws, team.chat, "visitor:aaaaaaaaaaaaaaaaaaaa", mine["cursor"])
    assert [(m["from"], m["text"], m["author"]) for m in view["messages"]] == [
        ("agent", "Hi! How can I help?", "Ana Lima")
    ]


def test_start_a_new_conversation_after_a_close(team) -> None:  # type: ignore[no-untyped-def]
    first = visitor_says(team, "hello")
    cmd.close(team.ws, first, actor="ana")
    assert visitor_says(team, "one more thing") == first  # the threading rule reopens it
    cmd.close(team.ws, first, actor="ana")
    second = visitor_says(team, "something new", new_conversation=True)
    assert second != first


def with_transcript_mail(team) -> None:  # type: ignore[no-untyped-def]
    """The visitor left an address and an agent answered."""
    conv = visitor_says(team, "<b>hi</b> [bold]there")
    cmd.visitor_email(team.ws, team.chat, "visitor:aaaaaaaaaaaaaaaaaaaa", "Vi@Example.com")
    cmd.reply(team.ws, conv, "Hello from Ana", actor="ana")
    return conv


def test_closing_a_chat_queues_its_transcript_by_email(team) -> None:  # type: ignore[no-untyped-def]
    conv = with_transcript_mail(team)
    cmd.close(team.ws, conv, actor="ana")
    [item] = [i for i in outbox.due(team.ws) if i.channel_kind == "email"]
    assert item.recipient == "vi@example.com"
    assert item.subject == "Transcript of your chat with Support chat"
    assert "Started on the page: https://shop.example/pricing" in item.body
    assert "<b>hi</b> [bold]there" in item.body  # as the visitor wrote it
    assert "Ana Lima:" in item.body and "Hello from Ana" in item.body
    # The widget never shows it (it went out on the e-mail channel).
    view = chat_q.visitor_view(team.ws, team.chat, "visitor:aaaaaaaaaaaaaaaaaaaa")
    assert all("Transcript" not in m["text"] for m in view["messages"])


def test_a_reply_to_a_visitor_who_left_goes_by_email(team) -> None:  # type: ignore[no-untyped-def]
    """On a hub (its Presence of visitors): a visitor whose widget is open, or who left less
    than `left_after` (10 s) ago, gets the reply in the chat; one gone longer gets it by
    e-mail at the address they left, and the widget shows it too; with no address known it
    stays in the chat. Embedded (no Presence) nothing changes."""
    from datetime import timedelta

    from unibox_tui.core.presence import Presence

    vi, xa = "visitor:aaaaaaaaaaaaaaaaaaaa", "visitor:xxxxxxxxxxxxxxxxxxxx"
    conv = visitor_says(team, "hello")
    quiet = visitor_says(team, "no address here", visitor=xa)
    cmd.visitor_email(team.ws, team.chat, vi, "vi@example.com")
    team.ws.visitors = visitors = Presence(started=NOW)
    visitors.connected(vi)

    def channel_of(message_id: str) -> str:
        with team.ws.read() as conn:
            return str(
                conn.exec_driver_sql(
                    "SELECT ch.kind FROM message m JOIN channel ch ON ch.id = m.channel_id "
                    "WHERE m.id = ?",
                    (message_id,),
                ).scalar()
            )

    here = cmd.reply(team.ws, conv, "Still here?", actor="ana", now=NOW)
    visitors.disconnected(vi, now=NOW)
    moving = cmd.reply(team.ws, conv, "Moving pages?", actor="ana", now=NOW + timedelta(seconds=9))
    gone = cmd.reply(team.ws, conv, "Gone: by e-mail", actor="ana", now=NOW + timedelta(seconds=10))
    unreachable = cmd.reply(
        team.ws, quiet, "Nobody to mail", actor="ana", now=NOW + timedelta(seconds=30)
    )
    assert [channel_of(m) for m in (here, moving, gone, unreachable)] == [
        "chat", "chat", "email", "chat",
    ]  # fmt: skip
    [item] = [i for i in outbox.due(team.ws, NOW + timedelta(minutes=1)) if i.message_id == gone]
    assert item.message_meta["to"] == ["vi@example.com"]
    view = chat_q.visitor_view(team.ws, team.chat, vi)
    assert [(m["text"], m.get("via")) for m in view["messages"]][-3:] == [
        ("Still here?", None), ("Moving pages?", None), ("Gone: by e-mail", "email"),
    ]  # fmt: skip
    team.ws.visitors = None  # embedded: no one knows who left
    assert channel_of(cmd.reply(team.ws, conv, "Again", actor="ana")) == "chat"
    cmd.close(team.ws, conv, actor="ana")  # the transcript has the e-mailed reply too
    [transcript] = [i for i in outbox.due(team.ws) if "Transcript" in i.subject]
    assert "Gone: by e-mail" in transcript.body and "Again" in transcript.body


def test_no_transcript_for_a_ticket_or_a_chat_no_agent_answered(team) -> None:  # type: ignore[no-untyped-def]
    conv = visitor_says(team, "only a bot talked to me")
    cmd.visitor_email(team.ws, team.chat, "visitor:aaaaaaaaaaaaaaaaaaaa", "vi@example.com")
    cmd.close(team.ws, conv, actor="ana")
    assert not [i for i in outbox.due(team.ws) if i.channel_kind == "email"]
    other = visitor_says(team, "make it a ticket", visitor="visitor:cccccccccccccccccccc")
    cmd.visitor_email(team.ws, team.chat, "visitor:cccccccccccccccccccc", "cc@example.com")
    cmd.reply(team.ws, other, "On it", actor="ana")
    cmd.create_ticket(team.ws, conversation_id=other, actor="ana")
    cmd.close(team.ws, other, actor="ana")
    assert not [i for i in outbox.due(team.ws) if i.channel_kind == "email"]


def test_transcript_by_hand_from_the_cli(team, ws_target: Path | str) -> None:  # type: ignore[no-untyped-def]
    conv = visitor_says(team, "hello")
    team.ws.close()
    run = [
        sys.executable, "-m", "unibox_tui", "conversations", "transcript", conv,
        *db_args(ws_target),
    ]  # fmt: skip
    done = subprocess.run(
        [*run, "--to", "x@example.org", "--subject", "Our chat", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["to"] == "x@example.org"
    bad = subprocess.run([*run, "--to", "not an address"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.startswith("unibox: error: ") and "Traceback" not in bad.stderr
    from unibox_tui.core.db import open_workspace

    ws = open_workspace(ws_target)
    try:
        [item] = [i for i in outbox.due(ws) if i.channel_kind == "email"]
        assert (item.recipient, item.subject) == ("x@example.org", "Our chat")
    finally:
        ws.close()


def test_availability_decides_the_away_message(team) -> None:  # type: ignore[no-untyped-def]
    assert chat_q.agents_available(team.ws, team.support)
    for handle in ("ana", "bo"):
        cmd.set_availability(team.ws, handle, "away")
    assert not chat_q.agents_available(team.ws, team.support)  # cy is away already


def test_outside_business_hours_nobody_is_available(team) -> None:  # type: ignore[no-untyped-def]
    """The inbox's business hours in its time zone decide too, and on a hub an available
    agent with no app connected for longer than the grace period does not count."""
    from datetime import timedelta

    from unibox_tui.core.presence import Presence

    cmd.set_inbox_hours(team.ws, "Support", tz="Europe/Lisbon", week={"mon": ["09:00-17:00"]})
    monday = datetime(2026, 11, 2, tzinfo=UTC)  # Lisbon = UTC in winter
    assert chat_q.agents_available(team.ws, team.support, monday.replace(hour=9))
    assert not chat_q.agents_available(team.ws, team.support, monday.replace(hour=17))
    team.ws.presence = Presence(started=monday.replace(hour=9))  # a hub, no app connected
    assert chat_q.agents_available(team.ws, team.support, monday.replace(hour=9, minute=1))
    later = monday.replace(hour=9) + timedelta(minutes=3)  # longer than the grace period
    assert not chat_q.agents_available(team.ws, team.support, later)


def test_channel_add_chat_and_embed_from_the_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "site.db")
    unibox = [sys.executable, "-m", "unibox_tui"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*unibox, *args, "--db", db], capture_output=True, text=True)

    added = run(
        "channel", "add", "chat", "--inbox", "Support", "--name", "Website",
        "--allowed-origin", "https://Shop.example/pricing", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    channel = json.loads(added.stdout)
    assert channel["settings"]["allowed_origins"] == ["https://shop.example"]
    embed = run("channel", "embed", "Website", "--hub-url", "https://hub.example/", "--json")
    assert embed.returncode == 0, embed.stderr
    out = json.loads(embed.stdout)
    assert out["snippet"] == (
        f'<script src="https://hub.example/widget/{channel["id"]}.js" async></script>'
    )
    assert out["preview"] == f"https://hub.example/widget/{channel['id']}/preview"
    assert "identity_secret" not in out
    nohub = run("channel", "embed", "Website")
    assert nohub.returncode == 1
    assert nohub.stderr.startswith("unibox: error: where do customers reach the hub?")
    bad = run("channel", "add", "chat", "--inbox", "Support", "--name", "X",
              "--allowed-origin", "ftp://x")  # fmt: skip
    assert bad.returncode == 1 and "web address" in bad.stderr and "Traceback" not in bad.stderr


def test_an_anonymous_visitor_is_named_visitor_until_they_give_a_name(team) -> None:  # type: ignore[no-untyped-def]
    """The list showed an anonymous visitor as their raw identity ("visitor:rS35J8i…");
    they are "Visitor rS35J8" until a name comes, which then replaces it."""
    conv = visitor_says(team, "hello", visitor="visitor:rS35J8iVGSX55g36ohT7")
    row = q.conversation(team.ws, conv, access=EVERYTHING)
    assert row.contact_name == "Visitor rS35J8"
    adapter = chat.ChatChannel(team.chat, "Support chat", {})
    named = adapter.incoming(
        identity="visitor:rS35J8iVGSX55g36ohT7",
        name="Nia Okoro",
        text="it's Nia",
        client_id="named-message-0001",
        now=NOW,
        context={},
    )
    assert cmd.ingest(team.ws, named).conversation_id == conv
    assert q.conversation(team.ws, conv, access=EVERYTHING).contact_name == "Nia Okoro"


def test_visitors_named_by_their_identity_before_0031_get_the_new_name(
    team, ws_target: Path | str
) -> None:  # type: ignore[no-untyped-def]
    """Migration 0031 renames the visitors an older Unibox named by their raw identity; a
    name someone gave is left alone."""
    from unibox_tui.core.db import open_workspace

    raw = visitor_says(team, "hello", visitor="visitor:rS35J8iVGSX55g36ohT7")
    given = visitor_says(team, "hi", visitor="visitor:Zz9Yy8Xx7Ww6Vv5Uu4Tt")
    with team.ws.read() as conn:
        contacts = dict(
            conn.exec_driver_sql(
                "SELECT c.id, c.contact_id FROM conversation c WHERE c.id IN (?, ?)", (raw, given)
            ).all()
        )
    cmd.update_contact(team.ws, contacts[given], name="Nia Okoro", actor="ana")
    team.ws.close()
    target = ws_target
    back_to(  # as 0030's Unibox stored an anonymous visitor
        target,
        "0030",
        f"UPDATE contact SET name = 'visitor:rS35J8iVGSX55g36ohT7' WHERE id = '{contacts[raw]}'",
    )
    with open_workspace(target) as ws:
        names = {c: q.conversation(ws, c, access=EVERYTHING).contact_name for c in (raw, given)}
        found = [h.row.id for h in q.search(ws, "from:rS35J8", access=EVERYTHING)]
    assert names == {raw: "Visitor rS35J8", given: "Nia Okoro"}
    assert found == [raw]  # the search index has the new name
