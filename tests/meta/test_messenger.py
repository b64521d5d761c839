"""Messenger end to end: Meta's documented webhooks, signed, into a real hub process; replies
out through the engine to a fake Graph API that checks the Send API's shape."""

from __future__ import annotations

import json
import os
import sys

from waiting import wait_for

from .conftest import PSID, SECRETS, World, ms, payload

MID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"


def message(w: World, hours_ago: float = 0, psid: str = PSID) -> bytes:
    return payload("messenger_message", page_id=w.graph.page_id, psid=psid, time_ms=ms(hours_ago))


def customer_writes(w: World, hours_ago: float = 0) -> str:
    """Carla's documented 'hello, world!' arrives; returns its conversation id."""
    w.graph.profiles[PSID] = {"first_name": "Carla", "last_name": "Souza"}
    assert w.post("messenger", message(w, hours_ago)) == 200
    rows = wait_for(lambda: w.messages(w.messenger, "incoming"), what="the message was stored")
    return str(rows[0][5])


def test_verification_handshake(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    ok = "hub.mode=subscribe&hub.verify_token=verify-messenger-42&hub.challenge=1158201444"
    assert w.get("messenger", ok) == (200, "1158201444")
    wrong = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444"
    assert w.get("messenger", wrong)[0] == 403
    assert w.get("messenger", "hub.challenge=1")[0] == 403
    status, challenge = w.get("whatsapp", ok.replace("messenger", "whatsapp"))
    assert (status, challenge) == (200, "1158201444")


def test_forged_or_missing_signature_is_403_and_stores_nothing(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    body = message(w)
    assert w.post("messenger", body, signature=None) == 403
    assert w.post("messenger", body, signature="sha256=" + "0" * 64) == 403
    # Signed with the other channel's secret: not this channel's app.
    from unibox_tui.backends.meta import sign

    assert w.post("messenger", body, signature=sign(SECRETS["WA_APP_SECRET"], body)) == 403
    # Signed over a re-serialised body (what a framework's parsed JSON gives back): refused.
    again = json.dumps(json.loads(body)).encode()
    assert w.post("messenger", body, signature=sign(SECRETS["MSG_APP_SECRET"], again)) == 403
    assert w.post("messenger", body, channel="nochannel") == 404
    # A valid one afterwards is the only thing stored.
    assert w.post("messenger", body) == 200
    wait_for(lambda: w.messages(w.messenger), what="the signed message was stored")
    assert [m[1] for m in w.messages(w.messenger)] == ["hello, world!"]
    assert w.rows("SELECT count(*) FROM conversation")[0][0] == 1


def test_message_stored_once_with_profile_name_fetched_once(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w)
    for _ in range(3):  # Meta retries and replays: the same mid is one message
        assert w.post("messenger", message(w)) == 200
    quick = payload("messenger_quick_reply", page_id=w.graph.page_id, psid=PSID, time_ms=ms())
    assert w.post("messenger", quick) == 200
    wait_for(lambda: len(w.messages(w.messenger)) == 2, what="the quick reply was stored")
    post = payload("messenger_postback", page_id=w.graph.page_id, psid=PSID, time_ms=ms())
    assert w.post("messenger", post) == 200
    wait_for(lambda: len(w.messages(w.messenger)) == 3, what="the postback was stored")
    # Nothing doubled, all in the same conversation, from "Carla Souza".
    bodies = [(m[1], m[5]) for m in w.messages(w.messenger)]
    assert bodies == [("hello, world!", conv), ("Red", conv), ("Get Started", conv)]
    assert w.rows("SELECT name FROM contact") == [("Carla Souza",)]
    profiles = [r for r in w.graph.requests if r.path.endswith(f"/{PSID}")]
    assert len(profiles) == 1, "the profile is fetched once per sender"
    assert profiles[0].query["access_token"] == SECRETS["MSG_PAGE_TOKEN"]
    meta = json.loads(w.rows("SELECT meta FROM message WHERE body = 'Red'")[0][0])
    assert meta["messenger"]["quick_reply"] == "DEVELOPER_DEFINED_PAYLOAD_FOR_PICKING_RED"


def test_profile_unavailable_gives_a_fallback_name(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    assert w.post("messenger", message(w, psid="999000111222")) == 200
    wait_for(lambda: w.messages(w.messenger), what="the message was stored")
    assert w.rows("SELECT name FROM contact") == [("Messenger user 1222",)]


def test_attachment_downloaded_at_once(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    w.graph.cdn["kettle.png"] = b"\x89PNG fake image bytes"
    cdn = f"http://127.0.0.1:{w.graph.port}/cdn/kettle.png"
    body = payload(
        "messenger_attachment", page_id=w.graph.page_id, psid=PSID, time_ms=ms(), cdn_url=cdn
    )
    assert w.post("messenger", body) == 200
    wait_for(lambda: w.rows("SELECT count(*) FROM attachment")[0][0], what="attachment stored")
    assert w.rows("SELECT filename, content_type, data FROM attachment") == [
        ("kettle.png", "image/png", b"\x89PNG fake image bytes")
    ]
    assert w.messages(w.messenger)[0][1] == "(sent an image)"


def reply(w: World, conv: str, text: str) -> str:
    done = w.cli("conversations", "reply", conv, "--text", text, "--as", "ana", "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["message_id"])


def state_of(w: World, message_id: str) -> tuple[str, str | None, str | None]:
    return w.rows(
        "SELECT delivery_state, delivery_error, external_id FROM message WHERE id = ?", message_id
    )[0]


def test_reply_inside_window_goes_as_response_and_its_echo_is_not_doubled(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w, hours_ago=2)
    sent_id = reply(w, conv, "Hi Carla, we are on it.")
    wait_for(lambda: state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    (request,) = w.graph.sent()
    assert request.path == f"/v25.0/{w.graph.page_id}/messages"
    assert request.body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hi Carla, we are on it.", "metadata": f"unibox:{sent_id}"},
    }
    mid = state_of(w, sent_id)[2]
    assert mid and mid.startswith("m_out")
    # Meta echoes our own message back: recognised by its metadata, never a second message.
    echo = payload(
        "messenger_echo", page_id=w.graph.page_id, psid=PSID, time_ms=ms(), mid=mid,
        metadata=json.dumps(f"unibox:{sent_id}"), text="Hi Carla, we are on it.",
    )  # fmt: skip
    assert w.post("messenger", echo) == 200
    assert w.post("messenger", echo) == 200
    # Then the receipts: delivered by mid, read by watermark.
    delivered = payload(
        "messenger_delivery", page_id=w.graph.page_id, psid=PSID, mid=mid, time_ms=ms()
    )
    assert w.post("messenger", delivered) == 200
    wait_for(lambda: state_of(w, sent_id)[0] == "delivered", what="delivered")
    read = payload("messenger_read", page_id=w.graph.page_id, psid=PSID, time_ms=ms() + 1000)
    assert w.post("messenger", read) == 200
    wait_for(lambda: state_of(w, sent_id)[0] == "read", what="read")
    # A late "delivered" does not take it back.
    assert w.post("messenger", delivered) == 200
    assert w.post("messenger", message(w, 2)) == 200  # a marker: processed after the above
    wait_for(lambda: w.hub.healthy(), what="hub alive")
    assert [m[0] for m in w.messages(w.messenger)] == ["incoming", "outgoing"]
    assert state_of(w, sent_id)[0] == "read"


def test_reply_typed_in_metas_page_inbox_is_imported_once(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w)
    echo = payload(
        "messenger_echo", page_id=w.graph.page_id, psid=PSID, time_ms=ms(), mid="m_pageinbox1",
        metadata="null", text="Answered from the Page inbox",
    )  # fmt: skip
    for _ in range(3):
        assert w.post("messenger", echo) == 200
    wait_for(lambda: len(w.messages(w.messenger)) == 2, what="the echo was imported")
    assert w.post("messenger", message(w)) == 200  # processed after the replays
    rows = w.messages(w.messenger, "outgoing")
    assert [(r[1], r[2], r[3], r[5]) for r in rows] == [
        ("Answered from the Page inbox", "m_pageinbox1", "sent", conv)
    ]


def test_reply_outside_24h_refused_with_the_window_reason(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w, hours_ago=30)
    done = w.cli("conversations", "reply", conv, "--text", "Sorry for the wait", "--as", "ana")
    assert done.returncode == 1
    assert done.stderr.startswith("unibox: error: the reply window of this channel closed at ")
    assert "more than 24 hours ago" in done.stderr and "Traceback" not in done.stderr
    assert w.messages(w.messenger, "outgoing") == []
    assert w.graph.sent() == []


def test_human_agent_tag_inside_7_days(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world(human_agent_tag=True)
    conv = customer_writes(w, hours_ago=30)
    sent_id = reply(w, conv, "Sorry for the wait, here is your refund.")
    wait_for(lambda: state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    (request,) = w.graph.sent()
    assert request.body["messaging_type"] == "MESSAGE_TAG"
    assert request.body["tag"] == "HUMAN_AGENT"
    # Past 7 days even the tag does not help: refused, with the 7-day window named.
    late = message(w, hours_ago=24 * 8, psid="777").replace(MID.encode(), b"m_old8days")
    assert w.post("messenger", late) == 200
    rows = wait_for(
        lambda: w.rows("SELECT conversation_id FROM message WHERE external_id = 'm_old8days'"),
        what="the old message was stored",
    )
    other = rows[0][0]
    done = w.cli("conversations", "reply", other, "--text", "Hello?", "--as", "ana")
    assert done.returncode == 1 and "more than 7 days ago" in done.stderr


def test_meta_errors_become_clear_states(make_world) -> None:  # type: ignore[no-untyped-def]
    from servers.graph import RATE_LIMITED, TOKEN_EXPIRED, UNAVAILABLE, WINDOW_CLOSED

    w = make_world()
    conv = customer_writes(w)
    w.graph.fail_next.append(WINDOW_CLOSED)
    first = reply(w, conv, "one")
    wait_for(lambda: state_of(w, first)[0] == "failed", what="window closed -> failed")
    assert "reply window closed" in (state_of(w, first)[1] or "")
    w.graph.fail_next.append(UNAVAILABLE)
    second = reply(w, conv, "two")
    wait_for(lambda: state_of(w, second)[0] == "failed", what="unavailable -> failed")
    assert "isn't available on Messenger" in (state_of(w, second)[1] or "")
    w.graph.fail_next.append(RATE_LIMITED)
    third = reply(w, conv, "three")
    wait_for(lambda: (state_of(w, third)[1] or "").startswith("retrying: "), what="backing off")
    assert state_of(w, third)[0] == "queued" and "rate limiting" in (state_of(w, third)[1] or "")
    w.graph.fail_next.append(TOKEN_EXPIRED)
    fourth = reply(w, conv, "four")
    wait_for(
        lambda: "re-authorising" in (w.rows("SELECT status FROM channel WHERE id = ?",
                                            w.messenger)[0][0] or ""),
        what="the channel shows it needs re-authorising",
    )  # fmt: skip
    assert state_of(w, fourth)[0] == "queued"


def test_length_limit_refused_not_truncated(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w)
    done = w.cli("conversations", "reply", conv, "--text", "x" * 2001, "--as", "ana")
    assert done.returncode == 1
    assert "2,001 characters; this channel takes at most 2,000" in done.stderr
    assert w.graph.sent() == []


def test_closed_conversation_then_new_message_starts_a_new_one(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w)
    done = w.cli("conversations", "close", conv, "--as", "ana")
    assert done.returncode == 0, done.stderr
    again = payload("messenger_postback", page_id=w.graph.page_id, psid=PSID, time_ms=ms())
    assert w.post("messenger", again) == 200
    wait_for(lambda: len(w.messages(w.messenger)) == 2, what="the new message was stored")
    convs = w.rows("SELECT id, status FROM conversation ORDER BY rid")
    assert convs[0] == (conv, "closed") and convs[1][1] == "open" and len(convs) == 2


def test_a_bot_runs_on_the_page_with_its_options_as_quick_replies(make_world) -> None:  # type: ignore[no-untyped-def]
    """Chatflows run on Messenger too: the page's bot answers the first message with its
    welcome and first question (the message itself answers nothing: the customer had not
    seen the question), its options go out as Messenger quick replies, and the customer's
    pick (sent back as text) moves it on to the hand-over."""
    w = make_world()
    bot = (
        'type = "bot"\nwelcome = "Hi from the shop bot."\n[[steps]]\ntype = "question"\n'
        'text = "What is it about?"\noptions = ["Red", "Blue"]\nsave_as = "topic"\n'
        '[[steps]]\ntype = "handoff"\nto = "agent:ana"\ntext = "Ana takes over."\n'
    )
    source = w.db.parent / "bot.toml"
    source.write_text(bot)
    added = w.cli("chatflow", "add", "Page bot", "--channel", w.messenger, "--file", str(source))
    assert added.returncode == 0, added.stderr
    assert w.cli("chatflow", "enable", "Page bot").returncode == 0
    conv = customer_writes(w)  # "hello, world!"
    wait_for(lambda: len(w.graph.sent()) >= 2, what="the bot's messages were sent")
    bodies = [r.body["message"] for r in w.graph.sent()]
    assert [b["text"] for b in bodies[:2]] == ["Hi from the shop bot.", "What is it about?"]
    assert bodies[1]["quick_replies"] == [
        {"content_type": "text", "title": "Red", "payload": "Red"},
        {"content_type": "text", "title": "Blue", "payload": "Blue"},
    ]
    quick = payload("messenger_quick_reply", page_id=w.graph.page_id, psid=PSID, time_ms=ms())
    assert w.post("messenger", quick) == 200  # the documented pick: "Red"
    wait_for(
        lambda: any(r.body["message"]["text"] == "Ana takes over." for r in w.graph.sent()),
        what="the hand-over message",
    )
    texts = [r.body["message"]["text"] for r in w.graph.sent()]
    # Never "Please choose one of…" for the greeting, never the question twice.
    assert texts == ["Hi from the shop bot.", "What is it about?", "Ana takes over."]
    ana = w.rows("SELECT id FROM agent WHERE handle = 'ana'")[0][0]
    assert w.rows("SELECT assignee_id FROM conversation WHERE id = ?", conv) == [(ana,)]


def test_connecting_a_page_creates_and_enables_its_default_chatflow(make_world) -> None:  # type: ignore[no-untyped-def]
    """`channel add messenger` sets up the Page's live chat: a new conversation gets the
    welcome on Messenger (then the inbox's routing decides who gets it, as without one); a
    message Meta delivers late (outside the 24 hours) starts nothing that cannot be sent."""
    w = make_world(default_chatflow=True)
    listed = w.cli("chatflow", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (flow,) = json.loads(listed.stdout)["chatflows"]
    assert flow["name"] == f"Messenger {w.graph.page_id} live chat"
    assert (flow["type"], flow["enabled"], flow["priority"]) == ("live_chat", True, -1)
    shown = w.cli("chatflow", "show", flow["name"])
    assert 'type = "live_chat"' in shown.stdout and 'to = "inbox"' in shown.stdout
    conv = customer_writes(w)
    wait_for(lambda: w.graph.sent(), what="the welcome was sent")
    (welcome,) = w.graph.sent()
    assert welcome.body["recipient"] == {"id": PSID}
    assert welcome.body["messaging_type"] == "RESPONSE"
    assert welcome.body["message"]["text"].startswith("Thanks for your message!")
    # In the thread as the Page's outgoing message, delivered like a reply.
    wait_for(lambda: w.messages(w.messenger, "outgoing")[0][3] == "sent", what="welcome sent")
    ((kind, body, mid, _state, _error, in_conv),) = w.messages(w.messenger, "outgoing")
    assert (kind, in_conv, mid) == ("outgoing", conv, welcome_mid(w))
    assert body.startswith("Thanks for your message!")
    # A second message in the same conversation gets no second welcome.
    quick = payload("messenger_quick_reply", page_id=w.graph.page_id, psid=PSID, time_ms=ms())
    assert w.post("messenger", quick) == 200
    wait_for(lambda: len(w.messages(w.messenger, "incoming")) == 2, what="the second message")
    # A message from another customer 30 hours old: stored, no welcome queued for it.
    late = message(w, hours_ago=30, psid="888").replace(MID.encode(), b"m_late30h")
    assert w.post("messenger", late) == 200
    wait_for(
        lambda: w.rows("SELECT 1 FROM message WHERE external_id = 'm_late30h'"),
        what="the late message was stored",
    )
    outgoing = w.messages(w.messenger, "outgoing")
    assert len(outgoing) == 1 and outgoing[0][5] == conv
    # Edited like any chatflow ($EDITOR): the next new conversation gets the new welcome.
    editor = w.db.parent / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('Thanks for your message!', 'Hello from Acme!'))\n"
    )
    os.environ["EDITOR"] = f"{sys.executable} {editor}"
    try:
        edited = w.cli("chatflow", "edit", flow["name"], "--as", "ana")
    finally:
        del os.environ["EDITOR"]
    assert edited.returncode == 0, edited.stderr
    assert "Hello from Acme!" in w.cli("chatflow", "show", flow["name"]).stdout
    again = message(w, psid="999").replace(MID.encode(), b"m_third")
    assert w.post("messenger", again) == 200
    wait_for(lambda: len(w.graph.sent()) == 2, what="the second welcome")
    assert w.graph.sent()[1].body["message"]["text"].startswith("Hello from Acme!")


def welcome_mid(w: World) -> str:
    return "m_out1"  # the fake Graph API's first message id


def test_channel_add_says_which_chatflow_it_enabled(graph, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from .conftest import cli

    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    db = tmp_path / "ws.db"
    args = [
        "channel", "add", "messenger", "--inbox", "Support", "--page-id", graph.page_id,
        "--page-token-env", "MSG_PAGE_TOKEN", "--app-secret-env", "MSG_APP_SECRET",
        "--verify-token-env", "MSG_VERIFY", "--graph-url", graph.url,
    ]  # fmt: skip
    first = cli(db, *args)
    assert first.returncode == 0, first.stderr
    assert f"enabled chatflow 'Messenger {graph.page_id} live chat'" in first.stderr
    # A second channel for the same name: its chatflow gets the channel id, not an error.
    second = cli(db, *args)
    assert second.returncode == 0, second.stderr
    names = [
        r["name"] for r in json.loads(cli(db, "chatflow", "list", "--json").stdout)["chatflows"]
    ]
    assert (
        len(names) == 2
        and names[1] == f"Messenger {graph.page_id} live chat ({second.stdout.strip()})"
    )
