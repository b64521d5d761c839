"""A fake Graph API (Messenger Send API, user profiles, WhatsApp Cloud API) on 127.0.0.1.

Real HTTP, stdlib only. Each request is checked against the documented shape
(research/hub-and-channels.md §A.4, §A.5, §B.3, §B.4) and answered as Meta answers, with
Meta's error envelope `{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}` for what Meta refuses. A test queues the next answers Meta should give
(`fail_next`), e.g. window closed (10/2018278), recipient unavailable (551/1545041), token
expired (190), rate limited (4, 613, 80007, 130429), transient (1, 2).

Everything it was asked is kept in `requests` (method, path, query, headers, JSON body).
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def error(code: int, message: str, subcode: int | None = None, status: int = 400) -> tuple:
    body: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        body["error_subcode"] = subcode
    return status, {"error": body}


WINDOW_CLOSED = error(10, "(#10) This message is sent outside of allowed window.", 2018278)
UNAVAILABLE = error(551, "This person isn't available right now.", 1545041)
TOKEN_EXPIRED = error(190, "Error validating access token: Session has expired", 463, 401)
RATE_LIMITED = error(613, "Calls to this api have exceeded the rate limit.")
TRANSIENT = error(
    2, "An unexpected error has occurred. Please retry your request later.", None, 500
)
NO_PROFILE = error(100, "No profile available for this user.", 2018218)


@dataclass
class FakeGraph:
    page_id: str = "106540352242922"
    page_token: str = "page-token-1"
    phone_number_id: str = "109876543210987"
    waba_id: str = "102290129340398"
    wa_token: str = "wa-token-1"
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # id -> (bytes, mime)
    cdn: dict[str, bytes] = field(default_factory=dict)  # Messenger attachment files
    templates: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # (does this request get it?, the error): answered to the first request that matches, once
    # (e.g. only the message that sends one file), checked before `fail_next`.
    fail_when: list[tuple[Callable[[Seen], bool], tuple[int, dict[str, Any]]]] = field(
        default_factory=list
    )
    # Files uploaded to either API: id -> (file name, MIME type, bytes).
    uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -------------------------------------------------------------- life
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v25.0"

    def start(self) -> FakeGraph:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                graph._handle(self, "GET")

            def do_POST(self) -> None:
                graph._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def sent(self, path_end: str = "/messages") -> list[Seen]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(path_end)]

    def sha256_of(self, media_id: str) -> str:
        return base64.b64encode(hashlib.sha256(self.media[media_id][0]).digest()).decode()

    # -------------------------------------------------------------- dispatch
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body: Any = None
        if raw and (h.headers.get("Content-Type") or "").startswith("multipart/form-data"):
            body = _multipart(h.headers["Content-Type"], raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        seen = Seen(method, parts.path, query, {k.lower(): v for k, v in h.headers.items()}, body)
        with self._lock:
            self.requests.append(seen)
        status, answer = self._answer(seen)
        if isinstance(answer, bytes):
            data, content_type = answer, "application/octet-stream"
        else:
            data, content_type = json.dumps(answer).encode(), "application/json"
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, r: Seen) -> tuple[int, Any]:
        path = r.path.removeprefix("/v25.0").strip("/").split("/")
        if path[0] == "cdn" and r.method == "GET":  # Messenger attachment URLs: no token
            found = self.cdn.get(path[-1])
            return (200, found) if found is not None else (404, b"")
        if path[0] == "media-bytes":  # WhatsApp media: the same Bearer token
            if r.headers.get("authorization") != f"Bearer {self.wa_token}":
                return 401, b""
            found_media = self.media.get(path[-1])
            return (200, found_media[0]) if found_media else (404, b"")
        if path[0] in (self.page_id, "me") or (
            len(path) == 1 and r.method == "GET" and "access_token" in r.query
        ):
            return self._messenger(r, path)
        return self._whatsapp(r, path)

    def _take_failure(self, r: Seen) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            for at, (matches, answer) in enumerate(self.fail_when):
                if matches(r):
                    del self.fail_when[at]
                    return answer
            return self.fail_next.pop(0) if self.fail_next else None

    # -------------------------------------------------------------- Messenger
    def _messenger(self, r: Seen, path: list[str]) -> tuple[int, Any]:
        if r.query.get("access_token") != self.page_token:
            return TOKEN_EXPIRED
        if r.method == "GET" and len(path) == 1 and path[0] != self.page_id:  # a profile
            profile = self.profiles.get(path[0])
            if profile is None:
                return NO_PROFILE
            return 200, {**profile, "id": path[0]}
        if r.method == "GET" and path == [self.page_id]:
            return 200, {"id": self.page_id, "name": "Acme"}
        if r.method == "POST" and path[1:] == ["message_attachments"]:
            return self._messenger_upload(r)
        if r.method != "POST" or path[1:] != ["messages"]:
            return error(100, f"Unsupported request {r.method} /{'/'.join(path)}")
        body = r.body if isinstance(r.body, dict) else {}
        problem = _messenger_problem(body, self.uploads)
        if problem:
            return error(100, f"(#100) {problem}")
        failure = self._take_failure(r)
        if failure is not None:
            return failure
        return 200, {
            "recipient_id": body["recipient"]["id"],
            "message_id": f"m_out{next(self._ids)}",
        }

    def _messenger_upload(self, r: Seen) -> tuple[int, Any]:
        """The Attachment Upload API: multipart `message` (JSON: attachment type and
        payload.is_reusable) and `filedata` (the file)."""
        form = r.body if isinstance(r.body, dict) else {}
        try:
            message = json.loads(form["message"][2])
            kind = message["attachment"]["type"]
            name, mime, data = form["filedata"]
        except (KeyError, TypeError, ValueError):
            return error(100, "(#100) Upload attachment needs message and filedata")
        if kind not in ("image", "video", "audio", "file"):
            return error(100, f"(#100) Invalid attachment type {kind!r}")
        if kind != "file" and not mime.startswith(f"{kind}/"):
            return error(100, f"(#100) The file is {mime}, not an {kind}")
        if len(data) > 25 * 1024 * 1024:
            return error(100, "(#100) Attachment size exceeds the allowable limit (25 MB)")
        failure = self._take_failure(r)
        if failure is not None:
            return failure
        attachment_id = str(1857777774821032 + next(self._ids))
        with self._lock:
            self.uploads[attachment_id] = (name, mime, data)
        return 200, {"attachment_id": attachment_id}

    # -------------------------------------------------------------- WhatsApp
    def _whatsapp(self, r: Seen, path: list[str]) -> tuple[int, Any]:
        if r.headers.get("authorization") != f"Bearer {self.wa_token}":
            return TOKEN_EXPIRED
        if r.method == "POST" and path == [self.phone_number_id, "media"]:
            return self._whatsapp_upload(r)
        if r.method == "POST" and path == [self.phone_number_id, "messages"]:
            body = r.body if isinstance(r.body, dict) else {}
            problem = _whatsapp_problem(body, self.uploads)
            if problem:
                return error(100, f"(#100) {problem}")
            template = body.get("template")
            if template is not None:
                names = {(t["name"], t["language"]) for t in self.templates}
                if (template["name"], template["language"]["code"]) not in names:
                    return error(132001, "Template name does not exist in the translation")
            failure = self._take_failure(r)
            if failure is not None:
                return failure
            return 200, {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": f"wamid.OUT{next(self._ids)}"}],
            }
        if r.method == "GET" and path == [self.waba_id, "message_templates"]:
            return 200, {"data": self.templates, "paging": {"cursors": {}}}
        if r.method == "GET" and len(path) == 1 and path[0] in self.media:
            data, mime = self.media[path[0]]
            return 200, {
                "messaging_product": "whatsapp",
                "url": f"http://127.0.0.1:{self.port}/media-bytes/{path[0]}",
                "mime_type": mime,
                "sha256": self.sha256_of(path[0]),
                "file_size": len(data),
                "id": path[0],
            }
        if r.method == "GET" and path == [self.phone_number_id]:
            return 200, {"id": self.phone_number_id, "display_phone_number": "15550783881"}
        return error(100, f"Unsupported request {r.method} /{'/'.join(path)}")

    def _whatsapp_upload(self, r: Seen) -> tuple[int, Any]:
        """POST /PHONE_ID/media: multipart `messaging_product=whatsapp`, `type` (the MIME
        type) and `file`; only the documented media types, each within its size."""
        form = r.body if isinstance(r.body, dict) else {}
        if form.get("messaging_product", ("", "", b""))[2] != b"whatsapp":
            return error(100, "(#100) The parameter messaging_product is required.")
        if "file" not in form or "type" not in form:
            return error(100, "(#100) The parameters file and type are required.")
        name, mime, data = form["file"]
        declared = form["type"][2].decode()
        limit = WHATSAPP_MEDIA.get(declared)
        if limit is None or declared != mime:
            return error(131053, f"Media upload error: unsupported type {declared}")
        if len(data) > limit:
            return error(131053, f"Media upload error: {declared} is larger than {limit} bytes")
        failure = self._take_failure(r)
        if failure is not None:
            return failure
        media_id = str(4490709327384033 + next(self._ids))
        with self._lock:
            self.uploads[media_id] = (name, mime, data)
        return 200, {"id": media_id}


MB = 1024 * 1024
# developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types
# Meta's side, written from its documentation on purpose (not imported from our
# backends/registry.py): the fake checks our rules against the documented ones.
WHATSAPP_MEDIA = {
    **dict.fromkeys(("image/jpeg", "image/png"), 5 * MB),
    **dict.fromkeys(("video/mp4", "video/3gpp"), 16 * MB),
    **dict.fromkeys(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB),
    **dict.fromkeys(
        (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        100 * MB,
    ),
}
WHATSAPP_FAMILY = {"image": "image/", "video": "video/", "audio": "audio/"}


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str, str, bytes]]:
    """A multipart/form-data body: field name -> (file name, MIME type, bytes); a text
    field has no file name and the type text/plain."""
    parsed = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP
    )
    out: dict[str, tuple[str, str, bytes]] = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            out[str(name)] = (part.get_filename() or "", part.get_content_type(), payload)
    return out


def _messenger_problem(body: dict[str, Any], uploads: dict[str, Any]) -> str | None:
    """What Meta would refuse in a Send API body (documented fields only)."""
    allowed = {
        "recipient",
        "messaging_type",
        "tag",
        "message",
        "sender_action",
        "notification_type",
    }
    extra = set(body) - allowed
    if extra:
        return f"unknown parameter {sorted(extra)[0]}"
    if not isinstance(body.get("recipient"), dict) or not body["recipient"].get("id"):
        return "param recipient[id] must be non-empty"
    kind = body.get("messaging_type")
    if kind not in MESSAGING_TYPES:
        return "param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG"
    if kind == "MESSAGE_TAG" and body.get("tag") != "HUMAN_AGENT":
        return "Invalid parameter: tag"  # the legacy tags stopped working (research §A.4)
    if kind != "MESSAGE_TAG" and "tag" in body:
        return "tag needs messaging_type MESSAGE_TAG"
    message = body.get("message")
    if not isinstance(message, dict):
        return "param message must be an object"
    if set(message) - {"text", "attachment", "quick_replies", "metadata"}:
        return "unknown message field"
    if ("text" in message) == ("attachment" in message):
        return "param message must have exactly one of text or attachment"
    attachment = message.get("attachment")
    if attachment is not None:
        if not isinstance(attachment, dict) or attachment.get("type") not in (
            "image",
            "video",
            "audio",
            "file",
        ):
            return "param message[attachment][type] must be image, video, audio or file"
        payload = attachment.get("payload") or {}
        found = uploads.get(str(payload.get("attachment_id")))
        if found is None and not str(payload.get("url") or "").startswith("http"):
            return "param message[attachment][payload] needs a valid attachment_id or url"
        return None
    text = message.get("text")
    if not isinstance(text, str) or not text or len(text) > 2000:
        return "param message[text] must be a UTF-8 string of at most 2000 characters"
    metadata = message.get("metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 1000):
        return "param message[metadata] must be at most 1000 characters"
    return None


def _whatsapp_problem(body: dict[str, Any], uploads: dict[str, Any]) -> str | None:
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    to = body.get("to")
    if not isinstance(to, str) or not to.isdigit():
        return "param to must be a phone number in international format, digits only"
    kind = body.get("type")
    if kind == "text":
        text = body.get("text") or {}
        if not isinstance(text.get("body"), str) or not text["body"] or len(text["body"]) > 4096:
            return "param text[body] must be 1-4096 characters"
    elif kind == "template":
        template = body.get("template") or {}
        if not template.get("name") or not (template.get("language") or {}).get("code"):
            return "param template needs name and language[code]"
        for component in template.get("components") or []:
            for p in component.get("parameters") or []:
                if p.get("type") != "text" or not isinstance(p.get("text"), str):
                    return "template parameters must be of type text"
    elif kind in ("image", "video", "audio", "document"):
        part = body.get(kind)
        if not isinstance(part, dict) or ("id" in part) == ("link" in part):
            return f"param {kind} needs exactly one of id or link"
        if "id" in part:
            found = uploads.get(str(part["id"]))
            if found is None:
                return f"param {kind}[id] is not a media id of this number"
            family = WHATSAPP_FAMILY.get(kind)
            if family and not found[1].startswith(family):
                return f"the media {part['id']} is {found[1]}, not an {kind}"
        allowed = {"id", "link"} | ({"caption"} if kind != "audio" else set())
        allowed |= {"filename"} if kind == "document" else set()
        if set(part) - allowed:
            return f"unknown parameter {kind}[{sorted(set(part) - allowed)[0]}]"
        if len(str(part.get("caption") or "")) > 1024:
            return f"param {kind}[caption] must be at most 1024 characters"
    else:
        return f"unsupported message type {kind!r}"
    extra = set(body) - {
        "image",
        "video",
        "audio",
        "document",
        "messaging_product",
        "recipient_type",
        "to",
        "type",
        "text",
        "template",
        "context",
        "biz_opaque_callback_data",
    }
    if extra:
        return f"unknown parameter {sorted(extra)[0]}"
    return None
