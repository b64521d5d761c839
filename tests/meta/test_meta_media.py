"""Agents' replies with files on Messenger and WhatsApp: checked against each API's types and
sizes before anything is queued, uploaded the documented way (Messenger's Attachment Upload
API; WhatsApp's /PHONE_ID/media), sent by id, and their delivery states as for text."""

from __future__ import annotations

import json
from pathlib import Path

from waiting import wait_for

from . import test_messenger as fb
from . import test_whatsapp as wa
from .conftest import PSID, WA_ID, World, ms, payload

PNG = b"\x89PNG\r\n\x1a\n a png of the new kettle"
PDF = b"%PDF-1.4 the invoice"


def attach(w: World, conv: str, text: str, *files: Path) -> tuple[int, str, str]:
    args = ["conversations", "reply", conv, "--text", text, "--as", "ana", "--json"]
    for f in files:
        args += ["--attach", str(f)]
    done = w.cli(*args)
    if done.returncode:
        return done.returncode, "", done.stderr
    return 0, str(json.loads(done.stdout)["message_id"]), done.stderr


def file(w: World, name: str, data: bytes) -> Path:
    path = w.db.parent / name
    path.write_bytes(data)
    return path


def test_messenger_reply_with_an_image_and_a_pdf(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = fb.customer_writes(w)
    rc, sent_id, err = attach(
        w, conv, "Here is the new kettle and your invoice.",
        file(w, "kettle.png", PNG), file(w, "invoice.pdf", PDF),
    )  # fmt: skip
    assert rc == 0, err
    wait_for(lambda: fb.state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    uploads = w.graph.sent("/message_attachments")
    assert [u.query["access_token"] for u in uploads] == ["page-token-1"] * 2
    assert [json.loads(u.body["message"][2]) for u in uploads] == [
        {"attachment": {"type": "image", "payload": {"is_reusable": False}}},
        {"attachment": {"type": "file", "payload": {"is_reusable": False}}},
    ]
    assert [u.body["filedata"] for u in uploads] == [
        ("kettle.png", "image/png", PNG),
        ("invoice.pdf", "application/pdf", PDF),
    ]
    ids = sorted(w.graph.uploads)
    text, image, pdf = (r.body for r in w.graph.sent())
    metadata = f"unibox:{sent_id}"
    assert text["message"] == {
        "text": "Here is the new kettle and your invoice.",
        "metadata": metadata,
    }
    assert image["message"] == {
        "attachment": {"type": "image", "payload": {"attachment_id": ids[0]}},
        "metadata": metadata,
    }
    assert pdf["message"]["attachment"] == {"type": "file", "payload": {"attachment_id": ids[1]}}
    assert {r["messaging_type"] for r in (text, image, pdf)} == {"RESPONSE"}
    # The text's mid is the message's; its receipts apply as for any reply.
    mid = fb.state_of(w, sent_id)[2]
    delivered = payload(
        "messenger_delivery", page_id=w.graph.page_id, psid=PSID, mid=mid, time_ms=ms()
    )
    assert w.post("messenger", delivered) == 200
    wait_for(lambda: fb.state_of(w, sent_id)[0] == "delivered", what="delivered")
    # The files stay with the reply in the thread.
    assert w.rows(
        "SELECT filename, content_type FROM attachment WHERE message_id = ? ORDER BY filename",
        sent_id,
    ) == [("invoice.pdf", "application/pdf"), ("kettle.png", "image/png")]


def test_messenger_upload_refused_fails_the_reply_before_anything_is_sent(make_world) -> None:  # type: ignore[no-untyped-def]
    from servers.graph import UNAVAILABLE

    w = make_world()
    conv = fb.customer_writes(w)
    w.graph.fail_next.append(UNAVAILABLE)
    rc, sent_id, err = attach(w, conv, "The photo", file(w, "kettle.png", PNG))
    assert rc == 0, err
    wait_for(lambda: fb.state_of(w, sent_id)[0] == "failed", what="the reply failed")
    assert "isn't available on Messenger" in (fb.state_of(w, sent_id)[1] or "")
    assert w.graph.sent() == []  # not even the text went out


def test_whatsapp_one_image_goes_with_the_text_as_its_caption(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = wa.customer_writes(w)
    rc, sent_id, err = attach(w, conv, "Your kettle, shipped today.", file(w, "kettle.png", PNG))
    assert rc == 0, err
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    (upload,) = w.graph.sent("/media")
    assert upload.path == f"/v25.0/{w.graph.phone_number_id}/media"
    assert upload.headers["authorization"] == "Bearer wa-token-1"
    assert upload.body["messaging_product"][2] == b"whatsapp"
    assert upload.body["type"][2] == b"image/png"
    assert upload.body["file"] == ("kettle.png", "image/png", PNG)
    (media_id,) = w.graph.uploads
    (sent,) = w.graph.sent()
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "biz_opaque_callback_data": f"unibox:{sent_id}",
        "type": "image",
        "image": {"id": media_id, "caption": "Your kettle, shipped today."},
    }
    wamid = wa.state_of(w, sent_id)[2]
    assert w.post("whatsapp", wa.status(w, wamid, "delivered")) == 200
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "delivered", what="delivered")
    assert w.post("whatsapp", wa.failed(w, wamid)) == 200  # a late failure still counts
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "failed", what="failed late")


def test_whatsapp_text_then_a_voice_note_and_a_document(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = wa.customer_writes(w)
    rc, sent_id, err = attach(
        w, conv, "Listen to this, and the manual is attached.",
        file(w, "note.ogg", b"OggS voice"), file(w, "manual.pdf", PDF),
    )  # fmt: skip
    assert rc == 0, err
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    audio_id, pdf_id = sorted(w.graph.uploads)
    text, audio, document = (r.body for r in w.graph.sent())
    assert text["type"] == "text" and text["text"]["body"].startswith("Listen to this")
    assert (audio["type"], audio["audio"]) == ("audio", {"id": audio_id})  # no caption
    assert (document["type"], document["document"]) == (
        "document",
        {"id": pdf_id, "filename": "manual.pdf"},
    )
    assert wa.state_of(w, sent_id)[2] == "wamid.OUT3"  # uploads took ids 1 and 2


def test_types_and_sizes_refused_before_queueing_with_the_reason(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    conv = wa.customer_writes(w)
    gif = file(w, "funny.gif", b"GIF89a")
    rc, _, err = attach(w, conv, "look", gif)
    assert rc == 1 and "Traceback" not in err
    assert err.startswith("unibox: error: funny.gif is image/gif, which this channel does not")
    assert (
        "(it takes images: JPEG, PNG; videos: MP4, 3GPP; audio: AAC, AMR, MPEG, MP4, OGG; " in err
    )
    assert "documents: plain text, PDF, Word, Excel, PowerPoint)" in err
    big = file(w, "big.png", b"\x89PNG" + b"0" * (6 * 1024 * 1024))
    rc, _, err = attach(w, conv, "huge", big)
    assert rc == 1 and err.startswith("unibox: error: big.png is 6.0 MB") and "Traceback" not in err
    rc, _, err = w.cli(
        "conversations", "reply", conv, "--template", "hello_world", "--attach", str(gif),
        "--as", "ana",
    ).returncode, "", ""  # fmt: skip
    assert rc == 1
    assert w.messages(w.whatsapp, "outgoing") == []
    assert w.graph.sent("/media") == [] and w.graph.sent() == []
    # Messenger takes a GIF (as an image).
    conv = fb.customer_writes(w)
    rc, sent_id, err = attach(w, conv, "look", gif)
    assert rc == 0, err
    wait_for(lambda: fb.state_of(w, sent_id)[0] == "sent", what="the GIF was sent")
    (upload,) = w.graph.sent("/message_attachments")
    assert json.loads(upload.body["message"][2])["attachment"]["type"] == "image"


def test_a_file_that_fails_after_the_text_went_out_is_the_only_part_sent_again(make_world) -> None:  # type: ignore[no-untyped-def]
    """WhatsApp takes the text and the voice note, then refuses the document's message: the
    reply is failed with what failed and what went out (the text's wamid kept for its
    statuses), and a resend uploads and sends the document alone, never the text twice."""
    from servers.graph import error

    w = make_world()
    conv = wa.customer_writes(w)

    def the_document(r) -> bool:  # type: ignore[no-untyped-def]
        return isinstance(r.body, dict) and r.body.get("type") == "document"

    refused = error(131053, "Media upload error: the media could not be used")
    w.graph.fail_when.append((the_document, refused))
    rc, sent_id, err = attach(
        w, conv, "Listen to this, and the manual is attached.",
        file(w, "note.ogg", b"OggS voice"), file(w, "manual.pdf", PDF),
    )  # fmt: skip
    assert rc == 0, err
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "failed", what="the reply failed in part")
    _, reason, wamid = wa.state_of(w, sent_id)
    assert reason == (
        "manual.pdf was not sent: WhatsApp could not use the uploaded media (131053); "
        "the text and note.ogg went out and will not be sent again"
    )
    text, audio, document = (r.body["type"] for r in w.graph.sent())
    assert (text, audio, document) == ("text", "audio", "document")
    assert wamid == "wamid.OUT3"  # the text's (the uploads took ids 1 and 2)
    attachments = dict(w.rows("SELECT filename, id FROM attachment WHERE message_id = ?", sent_id))
    (parts,) = w.rows("SELECT parts FROM outbox WHERE message_id = ?", sent_id)[0]
    assert json.loads(parts) == {"text": wamid, f"file:{attachments['note.ogg']}": "wamid.OUT4"}
    before = len(w.graph.requests)
    again = w.cli("conversations", "resend", sent_id, "--as", "ana")
    assert again.returncode == 0, again.stderr
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "sent", what="the document was sent")
    later = [r for r in w.graph.requests[before:] if r.method == "POST"]
    assert [r.path.rsplit("/", 1)[-1] for r in later] == ["media", "messages"]
    assert later[0].body["file"] == ("manual.pdf", "application/pdf", PDF)
    assert later[1].body["type"] == "document"
    assert later[1].body["document"]["filename"] == "manual.pdf"
    # The thread says what went again: it said "sent a reply again", as if the customer
    # were getting the text twice.
    lines = [b for (b,) in w.rows("SELECT body FROM message WHERE conversation_id = ? AND kind = 'activity'", conv)]  # fmt: skip
    assert lines[-1] == "Ana Lima sent the parts of a reply that did not arrive again"
    assert wa.state_of(w, sent_id)[2] == wamid  # still the text's: its statuses apply
    (parts,) = w.rows("SELECT parts FROM outbox WHERE message_id = ?", sent_id)[0]
    assert set(json.loads(parts)) == {"text", *(f"file:{i}" for i in attachments.values())}
    assert w.post("whatsapp", wa.status(w, wamid, "delivered")) == 200
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "delivered", what="the text's receipt")


def test_a_late_failed_status_for_a_file_fails_the_reply_and_a_resend_sends_that_file(
    make_world,  # type: ignore[no-untyped-def]
) -> None:
    """The text and the document both went out (each with its wamid); WhatsApp's late
    "failed" for the document's wamid, not the text's, fails the reply naming the file, and
    a resend sends the document alone. Its receipts were ignored before: the reply showed
    sent although the file never arrived."""
    w = make_world()
    conv = wa.customer_writes(w)
    rc, sent_id, err = attach(
        w, conv, "The manual is attached.", file(w, "manual.pdf", PDF), file(w, "note.ogg", b"OggS")
    )
    assert rc == 0, err
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "sent", what="the reply was sent")
    text_wamid = wa.state_of(w, sent_id)[2]
    attachments = dict(w.rows("SELECT filename, id FROM attachment WHERE message_id = ?", sent_id))
    (parts,) = w.rows("SELECT parts FROM outbox WHERE message_id = ?", sent_id)[0]
    document = json.loads(parts)[f"file:{attachments['manual.pdf']}"]
    assert document != text_wamid
    assert w.post("whatsapp", wa.status(w, document, "delivered")) == 200  # receipts: the text's
    assert w.post("whatsapp", wa.failed(w, document)) == 200
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "failed", what="the file's late failure")
    reason = wa.state_of(w, sent_id)[1] or ""
    assert reason.startswith("manual.pdf was not delivered: ") and "131047" in reason
    before = len(w.graph.requests)
    again = w.cli("conversations", "resend", sent_id, "--as", "ana")
    assert again.returncode == 0, again.stderr
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "sent", what="the document was sent again")
    later = [r for r in w.graph.requests[before:] if r.method == "POST"]
    assert [r.path.rsplit("/", 1)[-1] for r in later] == ["media", "messages"]
    assert later[1].body["type"] == "document"
    assert wa.state_of(w, sent_id)[2] == text_wamid


def test_a_reply_of_files_alone_sends_no_text(make_world) -> None:  # type: ignore[no-untyped-def]
    """A photo with nothing to say: WhatsApp gets the image alone (no caption, no text
    message) and its wamid carries the reply's receipts; Messenger gets the attachment
    message alone. Such a reply was refused ("the reply is empty")."""
    w = make_world()
    nothing = w.cli("conversations", "reply", wa.customer_writes(w), "--as", "ana")
    assert nothing.returncode == 1 and "give --text, --attach FILE or --template" in nothing.stderr
    conv = wa.customer_writes(w)
    kettle = str(file(w, "kettle.png", PNG))
    done = w.cli("conversations", "reply", conv, "--attach", kettle, "--as", "ana", "--json")
    assert done.returncode == 0, done.stderr
    sent_id = str(json.loads(done.stdout)["message_id"])
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "sent", what="the image was sent")
    (image,) = (r.body for r in w.graph.sent())
    assert image["type"] == "image" and "caption" not in image["image"]
    wamid = wa.state_of(w, sent_id)[2]
    assert wamid
    assert w.post("whatsapp", wa.status(w, wamid, "read")) == 200
    wait_for(lambda: wa.state_of(w, sent_id)[0] == "read", what="the image's receipt")

    conv = fb.customer_writes(w)
    done = w.cli("conversations", "reply", conv, "--attach", kettle, "--as", "ana", "--json")
    assert done.returncode == 0, done.stderr
    sent_id = str(json.loads(done.stdout)["message_id"])
    wait_for(lambda: fb.state_of(w, sent_id)[0] == "sent", what="the attachment was sent")
    messenger = [r.body["message"] for r in w.graph.sent() if "recipient" in r.body]
    assert [sorted(m) for m in messenger] == [["attachment", "metadata"]]
