"""Messenger end to end: Meta's documented webhooks, signed, into a real hub process; replies
out through the engine to a fake Graph API that checks the Send API's shape."""

from __future__ import annotations

import json

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
