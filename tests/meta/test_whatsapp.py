"""WhatsApp Cloud API end to end: documented webhooks (messages of every kind, statuses)
signed into a real hub; replies, templates and media against the fake Graph API."""

from __future__ import annotations

import json
import time

from waiting import wait_for

from .conftest import WA_ID, World, payload

KETTLE = b"\xff\xd8\xff\xe0 a jpeg of a broken kettle"


def seconds(hours_ago: float = 0) -> int:
    return int(time.time() - hours_ago * 3600)


def text(
    w: World, wamid: str, body: str, hours_ago: float = 0, name: str = "Sheena Nelson"
) -> bytes:
    return payload(
        "whatsapp_text", waba_id=w.graph.waba_id, phone_number_id=w.graph.phone_number_id,
        wa_id=WA_ID, wamid=wamid, time_s=seconds(hours_ago), text=body, name=name,
    )  # fmt: skip


def status(w: World, wamid: str, state: str) -> bytes:
    return payload(
        "whatsapp_status", waba_id=w.graph.waba_id, phone_number_id=w.graph.phone_number_id,
        wa_id=WA_ID, wamid=wamid, status=state, time_s=seconds(), tracker="unibox:x",
    )  # fmt: skip


def failed(w: World, wamid: str) -> bytes:
    return payload(
        "whatsapp_status_failed", waba_id=w.graph.waba_id,
        phone_number_id=w.graph.phone_number_id, wa_id=WA_ID, wamid=wamid, time_s=seconds(),
    )  # fmt: skip


def customer_writes(w: World, hours_ago: float = 0) -> str:
    assert w.post("whatsapp", text(w, "wamid.IN1", "Is my order shipped?", hours_ago)) == 200
    rows = wait_for(lambda: w.messages(w.whatsapp, "incoming"), what="the message was stored")
    return str(rows[0][5])


def state_of(w: World, message_id: str) -> tuple[str, str | None, str | None]:
    return w.rows(
        "SELECT delivery_state, delivery_error, external_id FROM message WHERE id = ?", message_id
    )[0]


def test_message_stored_once_keyed_by_wa_id_with_the_phone_as_identity(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w)
    assert w.post("whatsapp", text(w, "wamid.IN1", "Is my order shipped?")) == 200  # replay
    assert w.post("whatsapp", text(w, "wamid.IN2", "Hello?")) == 200
    wait_for(lambda: len(w.messages(w.whatsapp)) == 2, what="the second message was stored")
    assert [(m[1], m[2], m[5]) for m in w.messages(w.whatsapp)] == [
        ("Is my order shipped?", "wamid.IN1", conv),
        ("Hello?", "wamid.IN2", conv),
    ]
    assert w.rows("SELECT name FROM contact") == [("Sheena Nelson",)]
    assert sorted(w.rows("SELECT kind, value FROM contact_identity")) == [
        ("phone", f"+{WA_ID}"),
        ("whatsapp", f"+{WA_ID}"),
    ]


def test_every_message_kind_and_media_downloaded_at_once(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    w.graph.media["1037543291543636"] = (KETTLE, "image/jpeg")
    image = payload(
        "whatsapp_image", waba_id=w.graph.waba_id, phone_number_id=w.graph.phone_number_id,
        wa_id=WA_ID, wamid="wamid.IMG1", time_s=seconds(), name="Sheena Nelson",
        media_id="1037543291543636", sha256=w.graph.sha256_of("1037543291543636"),
    )  # fmt: skip
    assert w.post("whatsapp", image) == 200
    wait_for(lambda: w.rows("SELECT count(*) FROM attachment")[0][0], what="the image was kept")
    assert w.rows("SELECT filename, content_type, data FROM attachment") == [
        ("image.jpg", "image/jpeg", KETTLE)
    ]
    media_calls = [r for r in w.graph.requests if "1037543291543636" in r.path]
    assert all(r.headers["authorization"] == "Bearer wa-token-1" for r in media_calls)
    kinds = payload(
        "whatsapp_kinds", waba_id=w.graph.waba_id, phone_number_id=w.graph.phone_number_id,
        wa_id=WA_ID, time_s=seconds(), name="Sheena Nelson",
        media_id="1037543291543636", sha256=w.graph.sha256_of("1037543291543636"),
    )  # fmt: skip
    assert w.post("whatsapp", kinds) == 200
    wait_for(lambda: len(w.messages(w.whatsapp)) == 9, what="every kind was stored")
    bodies = {m[2]: m[1] for m in w.messages(w.whatsapp)}
    assert bodies["wamid.IMG1"] == "my broken kettle"
    assert bodies["wamid.LOC1"].startswith("(shared a location: Pablo Morales 1 Hacker Way")
    assert bodies["wamid.CON1"] == "(shared contacts: Barbara Johnson +1 (940) 555-1234)"
    assert bodies["wamid.BTN1"] == "Yes, please"
    assert bodies["wamid.LST1"] == "Express delivery"
    assert bodies["wamid.REA1"] == "(reacted 👍)"
    assert bodies["wamid.DOC1"] == "(sent the document invoice.pdf)"
    assert bodies["wamid.AUD1"] == "(sent a voice message)"
    assert bodies["wamid.VID1"] == "(sent a video)"
    files = w.rows("SELECT filename, content_type FROM attachment ORDER BY filename")
    assert ("invoice.pdf", "application/pdf") in files
    assert len(files) == 4  # image, document, audio, video


def test_media_with_a_wrong_checksum_is_not_kept(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    w.graph.media["55"] = (KETTLE, "image/jpeg")
    image = payload(
        "whatsapp_image", waba_id=w.graph.waba_id, phone_number_id=w.graph.phone_number_id,
        wa_id=WA_ID, wamid="wamid.IMG2", time_s=seconds(), name="Sheena Nelson",
        media_id="55", sha256="AAAA",
    )  # fmt: skip
    assert w.post("whatsapp", image) == 200
    wait_for(lambda: w.rows("SELECT count(*) FROM attachment")[0][0], what="attachment row")
    assert w.rows("SELECT data, note FROM attachment") == [
        (None, "not kept: its sha256 does not match")
    ]


def test_reply_then_statuses_late_twice_and_out_of_order(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w)
    done = w.cli("conversations", "reply", conv, "--text", "Yes, today.", "--as", "ana", "--json")
    assert done.returncode == 0, done.stderr
    sent_id = json.loads(done.stdout)["message_id"]
    wait_for(lambda: state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    (request,) = w.graph.sent()
    assert request.headers["authorization"] == "Bearer wa-token-1"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "Yes, today.", "preview_url": False},
        "biz_opaque_callback_data": f"unibox:{sent_id}",
    }
    wamid = state_of(w, sent_id)[2]
    for state in ("read", "delivered", "delivered", "sent"):  # out of order and twice
        assert w.post("whatsapp", status(w, wamid, state)) == 200
    wait_for(lambda: state_of(w, sent_id)[0] == "read", what="read")
    assert w.post("whatsapp", text(w, "wamid.MARK", "marker")) == 200  # after the statuses
    wait_for(lambda: len(w.messages(w.whatsapp, "incoming")) == 2, what="marker stored")
    assert state_of(w, sent_id)[0] == "read", "a late 'delivered' does not go back"


def test_late_failed_status_after_sent_marks_the_reply_failed(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = customer_writes(w, hours_ago=23.99)
    done = w.cli("conversations", "reply", conv, "--text", "Still there?", "--as", "ana", "--json")
    assert done.returncode == 0, done.stderr
    sent_id = json.loads(done.stdout)["message_id"]
    wait_for(lambda: state_of(w, sent_id)[0] == "sent", what="accepted by the API")
    wamid = state_of(w, sent_id)[2]
    assert w.post("whatsapp", failed(w, wamid)) == 200
    assert w.post("whatsapp", failed(w, wamid)) == 200  # twice
    wait_for(lambda: state_of(w, sent_id)[0] == "failed", what="the late failure")
    reason = state_of(w, sent_id)[1] or ""
    assert "outside the 24-hour window" in reason and "131047" in reason
    assert "Re-engagement message" in reason


def test_outside_the_window_only_a_template_goes(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    w.graph.templates = json.loads(payload("whatsapp_templates"))["data"]
    conv = customer_writes(w, hours_ago=30)
    refused = w.cli("conversations", "reply", conv, "--text", "Hi again", "--as", "ana")
    assert refused.returncode == 1
    assert "reply window of this channel closed" in refused.stderr
    assert "--template NAME" in refused.stderr
    synced = w.cli("whatsapp", "templates", "sync", w.whatsapp, "--as", "ana")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.splitlines() == [
        "hello_world:en_US  0 parameter(s)  utility",
        "ticket_update:en_US  2 parameter(s)  utility",
    ]  # the rejected one is not offered
    wrong = w.cli(
        "conversations", "reply", conv, "--template", "ticket_update", "--param", "Sheena",
        "--as", "ana",
    )  # fmt: skip
    assert wrong.returncode == 1 and "takes 2 parameter(s), got 1" in wrong.stderr
    done = w.cli(
        "conversations", "reply", conv, "--template", "ticket_update", "--param", "Sheena",
        "--param", "#123", "--as", "ana", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sent_id = json.loads(done.stdout)["message_id"]
    wait_for(lambda: state_of(w, sent_id)[0] == "sent", what="the template was sent")
    (request,) = w.graph.sent()
    assert request.body["type"] == "template"
    assert request.body["template"] == {
        "name": "ticket_update",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Sheena"},
                    {"type": "text", "text": "#123"},
                ],
            }
        ],
    }
    shown = w.rows("SELECT body FROM message WHERE id = ?", sent_id)[0][0]
    assert shown == "Hi Sheena, your ticket #123 has an update. Reply to continue."
