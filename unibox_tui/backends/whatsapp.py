"""WhatsApp Business (Cloud API): webhooks in, the messages API out (research §B).

Settings: `phone_number_id`, `waba_id`, where its secrets come from (`token_source`,
`app_secret_source`, `verify_token_source`), `graph_url`, and `templates` (the approved
ones, written by `unibox whatsapp templates sync`: backends/templates.py).

Receiving: messages of every documented type become one `Incoming` each, keyed by `wamid`,
from the contact keyed by WhatsApp id (`wa_id`); the phone number is linked as the contact's
phone identity, not used as the key. Media has no URL in the webhook, only an id whose
download URL expires in minutes: `enrich` fetches it at once (GET /{media id} -> url, then
the bytes with the same Bearer token) and checks its sha256. Statuses (delivered, read,
failed with code and title) go to `commands.apply_status`, which never takes a message back
(read > delivered > sent) and lets `failed` win over anything but read: WhatsApp may accept a
send and fail it minutes later (131047, outside the window).

Sending: text (4,096 characters) within 24 hours of the customer's last message; after
that only a template (the reply's meta names it). Our message id travels as
`biz_opaque_callback_data`.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from datetime import datetime
from functools import partial
from typing import Any

from ..core import clock
from ..core.commands import Incoming, IncomingAttachment
from ..core.errors import InvalidRequest
from ..core.validate import normalize_identity
from . import meta, registry
from .base import (
    AdapterContext,
    ChannelAdapter,
    ChannelConfig,
    ChannelError,
    DeliveryResult,
    Handover,
    StatusUpdate,
    in_thread,
)
from .meta import Events, GraphError

SECRETS = (
    ("token", "access token"),
    ("app_secret", "app secret"),
    ("verify_token", "webhook verify token"),
)
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CAPTIONED = ("image", "video", "document")  # audio takes no caption
MAX_CAPTION = 1024
STATES = {"delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}


class WhatsAppChannel(ChannelAdapter):
    kind = "whatsapp"
    rules = registry.rules("whatsapp")
    delivers = True

    def __init__(
        self, channel_id: str, name: str, settings: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        self.channel_id = channel_id
        self.name = name
        self.phone_number_id = str(settings["phone_number_id"])
        self.waba_id = str(settings.get("waba_id") or "")
        self.app_secret = secrets["app_secret"]
        self.verify_token = secrets["verify_token"]
        self.graph = meta.Graph(meta.check_graph_url(settings.get("graph_url")), secrets["token"])

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        settings = super().check_settings(settings, address)
        for key, flag in (("phone_number_id", "--phone-number-id"), ("waba_id", "--waba-id")):
            value = str(settings.get(key) or "").strip()
            if not value.isdigit():
                raise InvalidRequest(f"{flag} must be a numeric id (got {value!r})")
            settings[key] = value
        for key, label in SECRETS:
            if not settings.get(f"{key}_source"):
                raise InvalidRequest(f"a WhatsApp channel needs its {label}")
        settings["graph_url"] = meta.check_graph_url(settings.get("graph_url"))
        return settings

    @classmethod
    def from_channel(
        cls, channel: ChannelConfig, context: AdapterContext | None = None
    ) -> WhatsAppChannel:
        settings = channel.settings
        secrets = {key: meta.secret(settings, key, label, channel.name) for key, label in SECRETS}
        return cls(channel.id, channel.name, settings, secrets)

    # --- receiving -------------------------------------------------------------------------
    def parse(self, payload: Any) -> Events:
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            raise InvalidRequest("not a WhatsApp webhook (object is not whatsapp_business_account)")
        events = Events()
        for entry in _dicts(payload.get("entry")):
            for change in _dicts(entry.get("changes")):
                value = change.get("value")
                if change.get("field") != "messages" or not isinstance(value, dict):
                    events.skipped += 1
                    continue
                number = str((value.get("metadata") or {}).get("phone_number_id") or "")
                if number != self.phone_number_id:
                    events.skipped += 1  # another number's event sent to this callback
                    continue
                names = {
                    str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
                    for c in _dicts(value.get("contacts"))
                }
                for message in _dicts(value.get("messages")):
                    try:
                        events.incoming.append(self._incoming(message, names))
                    except (InvalidRequest, KeyError, TypeError, ValueError):
                        events.skipped += 1
                for status in _dicts(value.get("statuses")):
                    state = STATES.get(str(status.get("status")))
                    if state is None or not status.get("id"):
                        events.skipped += 1  # "sent": we know; the send's answer said it
                        continue
                    reason = meta.status_reason(status.get("errors")) if state == "failed" else None
                    events.statuses.append(
                        StatusUpdate(self.channel_id, str(status["id"]), state, reason)
                    )
        return events

    def _incoming(self, message: dict[str, Any], names: dict[str, str]) -> Incoming:
        sender = str(message["from"])
        kind = str(message.get("type") or "unknown")
        body, extra = _content(kind, message)
        context = message.get("context")
        refs: tuple[str, ...] = ()
        if isinstance(context, dict) and context.get("id"):
            refs = (str(context["id"]),)
        if kind == "reaction":
            target = (message.get("reaction") or {}).get("message_id")
            refs = (str(target),) if target else refs
        return Incoming(
            channel_id=self.channel_id,
            identity_kind="whatsapp",
            identity_value=sender,
            contact_name=names.get(sender) or f"+{sender}",
            body=body,
            created_at=meta.from_epoch(message.get("timestamp"), millis=False),
            external_id=str(message["id"]),
            references=refs,
            meta={"whatsapp": extra},
        )

    def enrich(self, events: Events) -> list[tuple[str, str, str, str]]:
        """Blocking (network): download each message's media now (its URL expires in
        minutes). Returns the phone identities to link to the senders' contacts."""
        links = []
        for inc in events.incoming:
            media = inc.meta.get("whatsapp", {}).pop("media", None)
            if media:
                inc.attachments = (self._download(media),)
            links.append(("whatsapp", inc.identity_value, "phone", inc.identity_value))
        return links

    def _download(self, media: dict[str, Any]) -> IncomingAttachment:
        content_type = str(media.get("mime_type") or "application/octet-stream").split(";")[0]
        filename = str(media.get("filename") or "") or (
            f"{media.get('kind', 'media')}{mimetypes.guess_extension(content_type) or ''}"
        )
        try:
            found = self.graph.request("GET", str(media["id"]))
            data = self.graph.download(str(found["url"]))
        except (GraphError, KeyError) as error:
            return IncomingAttachment(filename, content_type, 0, None, f"not downloaded: {error}")
        expected = str(media.get("sha256") or found.get("sha256") or "")
        if expected and not _sha256_matches(data, expected):
            return IncomingAttachment(
                filename, content_type, 0, None, "not kept: its sha256 does not match"
            )
        return IncomingAttachment(filename, content_type, len(data), data)

    # --- sending ---------------------------------------------------------------------------
    def window_problem(self, item: Any, now: datetime) -> str | None:
        last = item.last_inbound_at
        if last is None:
            return (
                "the customer has not written on WhatsApp yet; only a template can start "
                "the conversation (`unibox conversations reply ID --template NAME`)"
            )
        return self.rules.reply_problem("", last, now)

    async def deliver(self, item: Any, handover: Handover) -> DeliveryResult:
        # Parts an earlier try delivered are not sent again (item.parts; outbox.py).
        done, labels = dict(item.parts), meta.part_labels(item)
        undone = [k for k in labels if k not in done]
        if not item.recipient:
            return DeliveryResult.failed("the contact has no WhatsApp number to reply to")
        to = normalize_identity("whatsapp", item.recipient).lstrip("+")
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "biz_opaque_callback_data": f"{meta.METADATA_PREFIX}{item.idempotency_key}",
        }
        template = item.message_meta.get("template")
        if isinstance(template, dict):
            body["type"] = "template"
            body["template"] = {
                "name": template["name"],
                "language": {"code": template["language"]},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": p} for p in template["params"]],
                    }
                ]
                if template.get("params")
                else [],
            }
        else:
            problem = self.rules.reply_problem(item.body, None, clock.utcnow())
            problem = problem or self.window_problem(item, clock.utcnow())
            if problem:
                return meta.partial(DeliveryResult.failed(problem), done, labels, undone)
            body["type"] = "text"
            body["text"] = {"body": item.body, "preview_url": False}
        # Files: uploaded first (POST /PHONE_ID/media; nothing reaches the customer yet),
        # then sent as media messages by id. One image, video or document goes with the
        # text as its caption; otherwise the text goes first and each file after it.
        pending = [f for f in item.file_parts() if f[0] not in done]
        media: list[tuple[str, str, dict[str, Any]]] = []
        for at, (key, name, content_type, data) in enumerate(pending):
            left = [k for k in ("text",) if k in labels and k not in done]
            left += [f[0] for f in pending[at:]]
            problem = self.rules.file_problem(name, content_type, len(data))
            if problem:
                return meta.partial(DeliveryResult.failed(problem), done, labels, left)
            try:
                kind, part = await in_thread(
                    partial(self._upload, (name, content_type, data)), "upload"
                )
            except GraphError as error:
                return meta.partial(meta.upload_result(error), done, labels, left)
            media.append((key, kind, part))
        envelope = {k: v for k, v in body.items() if k not in ("type", "text", "template")}
        parts: list[meta.Part] = []
        if "text" in labels and "text" not in done:
            if (
                len(media) == 1
                and media[0][1] in CAPTIONED
                and body["type"] == "text"
                and len(item.body) <= MAX_CAPTION
            ):
                key, kind, part = media.pop()
                captioned = {**envelope, "type": kind, kind: {**part, "caption": item.body}}
                parts.append(meta.Part(("text", key), captioned))
            else:
                parts.append(meta.Part(("text",), body))
        for key, kind, part in media:
            parts.append(meta.Part((key,), {**envelope, "type": kind, kind: part}))
        return await meta.send_parts(
            self.graph,
            f"{self.phone_number_id}/messages",
            parts,
            done,
            labels,
            handover,
            _message_id,
            "WhatsApp",
        )

    def _upload(self, file: tuple[str, str, bytes]) -> tuple[str, dict[str, Any]]:
        """Blocking: one file to the Cloud API's media endpoint; (message type, the part the
        message takes: `{"id"[, "filename"]}`)."""
        name, content_type, _ = file
        rule = self.rules.file_rule(content_type)
        assert rule is not None  # checked by file_problem
        answer = self.graph.upload(
            f"{self.phone_number_id}/media",
            {"messaging_product": "whatsapp", "type": content_type},
            "file",
            file,
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            raise GraphError(f"WhatsApp took {name} but gave no media id")
        part: dict[str, Any] = {"id": str(media_id)}
        if rule.sends_as == "document":
            part["filename"] = name
        return rule.sends_as, part

    def fetch_templates(self) -> list[dict[str, Any]]:
        """Blocking: the account's templates from the Graph API, every page of them."""
        from .templates import from_graph

        items: list[Any] = []
        path: str = f"{self.waba_id}/message_templates"
        params: dict[str, str] | None = {
            "fields": "name,language,status,category,components",
            "limit": "100",
        }
        for _page in range(50):
            answer = self.graph.request("GET", path, params=params)
            data = answer.get("data")
            items += data if isinstance(data, list) else []
            following = (answer.get("paging") or {}).get("next")
            if not isinstance(following, str) or not following:
                break
            path, params = following, None
        return from_graph(items)

    async def check(self) -> None:
        try:
            await self.graph.call("GET", self.phone_number_id)
        except GraphError as error:
            raise ChannelError(meta.reason_of(error), transient=False) from error


def _message_id(answer: dict[str, Any]) -> str | None:
    messages = answer.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    found = messages[0].get("id")
    return str(found) if found else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _content(kind: str, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the text shown, what else to keep) for one message of each documented type."""
    found = message.get(kind)
    part: dict[str, Any] = found if isinstance(found, dict) else {}
    extra: dict[str, Any] = {"type": kind}
    if kind == "text":
        return str(part.get("body") or ""), extra
    if kind in MEDIA_TYPES:
        extra["media"] = {**part, "kind": kind}
        caption = str(part.get("caption") or "")
        word = "a voice message" if part.get("voice") else f"a {kind}"
        if kind == "document" and part.get("filename"):
            word = f"the document {part['filename']}"
        return caption or f"(sent {word})", extra
    if kind == "location":
        where = " ".join(str(part.get(k) or "") for k in ("name", "address")).strip()
        at = f"{part.get('latitude')}, {part.get('longitude')}"
        extra["location"] = {k: part.get(k) for k in ("latitude", "longitude", "name", "address")}
        return f"(shared a location: {where + ' ' if where else ''}{at})", extra
    if kind == "contacts":
        cards = []
        for card in _dicts(message.get("contacts")):
            name = str((card.get("name") or {}).get("formatted_name") or "")
            phones = ", ".join(str(p.get("phone") or "") for p in _dicts(card.get("phones")))
            cards.append(f"{name} {phones}".strip())
        extra["contacts"] = message.get("contacts")
        return "(shared contacts: " + "; ".join(cards) + ")", extra
    if kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        extra["reply_id"] = str(reply.get("id") or "")
        return str(reply.get("title") or ""), extra
    if kind == "button":  # a template's quick-reply button
        extra["payload"] = str(part.get("payload") or "")
        return str(part.get("text") or ""), extra
    if kind == "reaction":
        emoji = str(part.get("emoji") or "")
        return (f"(reacted {emoji})" if emoji else "(removed a reaction)"), extra
    return f"(a {kind} message unibox cannot show)", extra


def _sha256_matches(data: bytes, expected: str) -> bool:
    digest = hashlib.sha256(data).digest()
    return expected in (digest.hex(), base64.b64encode(digest).decode())
