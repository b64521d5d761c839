"""The website chat channel's adapter: visitors' widget messages -> `Incoming`, and what the
visitor side of the hub (hub/chat_http.py) needs to trust a visitor.

Settings: `{"allowed_origins": ["https://www.example.com", ...], "welcome": "...",
"away": "...", "left_after": SECONDS}` (`left_after`: how long a visitor must have been gone
before a reply to them goes by e-mail, core/chat.py `visitor_left`). The widget runs in an iframe served by the hub; the hub answers the iframe
page with `Content-Security-Policy: frame-ancestors <allowed origins>` (none listed: any
site may embed it), so the browser refuses to show it on another site.

Visitors:
- Anonymous: the hub mints a visitor id and signs it (`visitor_token`, HMAC with a key
  derived from the workspace key); the widget keeps the token in localStorage and presents
  it on every connect. A token that does not verify is replaced by a new visitor, never
  trusted. The contact identity is `chat` / `visitor:<id>`.
- Verified (optional): the site's backend computes `identity_hash = HMAC-SHA256(channel
  secret, user id or e-mail)` (hex) and the page passes both to the widget; the hub checks
  it (`verify_identity`), and the contact identity becomes `chat` / `user:<channel>:<id>`, the
  same on every device, so the signed-in customer's history follows them. A wrong hash is
  refused: the connection fails, nothing is read or stored. The channel secret is derived
  from the workspace key (`channel_secret`), so it is stored nowhere; `unibox channel embed
  CH --show-secret` prints it for the site's backend.

Delivering: an agent's reply is in the hub's database the moment it is stored, and the
widget reads its conversation from there (hub/chat_http.py pokes it and it pulls since its
cursor), so `deliver` only records the hand-over: the message is "sent" (available to the
widget); the widget's receipts make it "delivered" and "read" (commands.apply_status).
Outside a hub nothing serves the widget, and the reply waits as sent until it connects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..core.chat import LEFT_AFTER_SECONDS, MAX_LEFT_AFTER
from ..core.commands import Incoming, IncomingAttachment
from ..core.errors import InvalidRequest
from ..core.outgoing import OutboxItem
from ..core.workspace_key import derived_key
from . import registry
from .base import AdapterContext, ChannelAdapter, ChannelConfig, DeliveryResult, Handover

MAX_TEXT = 10_000  # characters of one visitor message (the kind's rules say the same for us)
MAX_SETTING_TEXT = 1_000
MAX_ATTACHMENT = 5 * 1024 * 1024  # bytes of one file from a visitor
ATTACHMENT_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
MAX_IDENTIFIER = 200
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,43}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DEFAULT_WELCOME = "Hi! Ask us anything: we usually answer within a few minutes."
DEFAULT_AWAY = (
    "Nobody is available right now. Leave your e-mail address and we will answer you there."
)


def normalize_origin(url: str) -> str:
    """`https://www.Example.com/page` -> `https://www.example.com` (scheme, host, port)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"--allowed-origin {url!r}: give a web address such as https://www.example.com"
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _setting_text(settings: dict[str, Any], key: str, default: str) -> str:
    value = settings.get(key, default)
    if not isinstance(value, str) or len(value) > MAX_SETTING_TEXT:
        raise InvalidRequest(f"the chat's {key} text must be at most {MAX_SETTING_TEXT} characters")
    return value.strip() or default


# ------------------------------------------------------------------------ visitors' trust


def visitor_key(workspace_secret: str) -> bytes:
    return derived_key(workspace_secret, "chat-visitor")


def channel_secret(workspace_secret: str, channel_id: str) -> str:
    """The secret a site's backend signs its users' ids with (hex; used as the HMAC key)."""
    return derived_key(workspace_secret, f"chat-identity:{channel_id}").hex()


def _sign(key: bytes, channel_id: str, visitor_id: str) -> str:
    mac = hmac.new(key, f"{channel_id}\n{visitor_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def new_visitor(key: bytes, channel_id: str) -> tuple[str, str]:
    """(visitor id, its token) for a visitor seen for the first time."""
    visitor_id = secrets.token_urlsafe(18)
    return visitor_id, f"v1.{visitor_id}.{_sign(key, channel_id, visitor_id)}"


def visitor_from_token(key: bytes, channel_id: str, token: Any) -> str | None:
    """The visitor id a token was minted for on this channel, or None (forged, another
    channel's, malformed)."""
    if not isinstance(token, str) or len(token) > 120:
        return None
    version, _, rest = token.partition(".")
    visitor_id, _, signature = rest.partition(".")
    if version != "v1" or not _VISITOR_ID.match(visitor_id):
        return None
    if not hmac.compare_digest(signature, _sign(key, channel_id, visitor_id)):
        return None
    return visitor_id


def identity_hash(secret: str, identifier: str) -> str:
    """What the site's backend computes: HMAC-SHA256(channel secret, user id or e-mail)."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def verify_identity(secret: str, identifier: Any, given_hash: Any) -> str:
    """The identifier, when `given_hash` proves the site vouched for it; raises
    InvalidRequest with one line otherwise."""
    if not isinstance(identifier, str) or not identifier.strip():
        raise InvalidRequest("the identity has no user id or e-mail")
    identifier = identifier.strip()
    if len(identifier) > MAX_IDENTIFIER or _CONTROL.search(identifier):
        raise InvalidRequest("the identity's user id is too long or holds control characters")
    if not isinstance(given_hash, str) or not hmac.compare_digest(
        given_hash.lower(), identity_hash(secret, identifier)
    ):
        raise InvalidRequest("the identity hash does not match: identity refused")
    return identifier


def identity_value(
    channel_id: str, *, visitor_id: str | None = None, user: str | None = None
) -> str:
    """The contact identity (kind `chat`) of an anonymous visitor or a verified user."""
    if user is not None:
        return f"user:{channel_id}:{user}"
    if visitor_id is None:
        raise ValueError("a visitor id or a verified user")
    return f"visitor:{visitor_id}"


# --------------------------------------------------------------------------------- adapter


class ChatChannel(ChannelAdapter):
    kind = "chat"
    rules = registry.rules("chat")
    delivers = True

    def __init__(self, channel_id: str, name: str, settings: dict[str, Any]) -> None:
        self.channel_id = channel_id
        self.name = name
        self.settings = settings

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        settings = super().check_settings(settings, address)
        origins = settings.get("allowed_origins") or []
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise InvalidRequest("allowed_origins must be a list of web addresses")
        settings["allowed_origins"] = sorted({normalize_origin(o) for o in origins})
        settings["welcome"] = _setting_text(settings, "welcome", DEFAULT_WELCOME)
        settings["away"] = _setting_text(settings, "away", DEFAULT_AWAY)
        left_after = settings.get("left_after", LEFT_AFTER_SECONDS)
        if (
            not isinstance(left_after, int)
            or isinstance(left_after, bool)
            or not 0 <= left_after <= MAX_LEFT_AFTER
        ):
            raise InvalidRequest(f"left_after is a number of seconds from 0 to {MAX_LEFT_AFTER}")
        settings["left_after"] = left_after
        return settings

    @classmethod
    def from_channel(
        cls, channel: ChannelConfig, context: AdapterContext | None = None
    ) -> ChatChannel:
        return cls(channel.id, channel.name, cls.check_settings(dict(channel.settings), None))

    async def deliver(self, item: OutboxItem, handover: Handover) -> DeliveryResult:
        # Stored is reachable: the widget pulls its conversation from the hub's database.
        await handover()
        return DeliveryResult.sent(f"chat:{item.message_id}")

    # --- receiving -------------------------------------------------------------------------
    def incoming(
        self,
        *,
        identity: str,
        name: str,
        text: str,
        client_id: Any,
        now: datetime,
        context: dict[str, Any],
        attachment: tuple[str, str, bytes] | None = None,
        new_conversation: bool = False,
    ) -> Incoming:
        """One visitor message, checked. `client_id` is the widget's id for it: the
        message's external id, so the widget's resend after a reconnect is stored once."""
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            raise InvalidRequest("a message needs an id of 8-64 letters, digits, - or _")
        if not isinstance(text, str):
            raise InvalidRequest("a message is text")
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if len(text) > MAX_TEXT:
            raise InvalidRequest(f"a message is at most {MAX_TEXT:,} characters")
        files: tuple[IncomingAttachment, ...] = ()
        if attachment is not None:
            filename, content_type, data = attachment
            files = (IncomingAttachment(filename, content_type, len(data), data),)
        if not text and not files:
            raise InvalidRequest("the message is empty")
        return Incoming(
            channel_id=self.channel_id,
            identity_kind="chat",
            identity_value=identity,
            contact_name=name,
            body=text or f"[{files[0].filename}]",
            created_at=now,
            subject=self.name,
            external_id=f"chat:{client_id}",
            meta={"chat": context},
            attachments=files,
            new_conversation=new_conversation,
        )


def check_attachment(name: Any, content_type: Any, data_b64: Any) -> tuple[str, str, bytes]:
    """(file name, type, bytes) of a visitor's file within the limits, or InvalidRequest
    saying which limit (the widget shows the line)."""
    if content_type not in ATTACHMENT_TYPES:
        kinds = "images (PNG, JPEG, GIF, WebP), PDF and plain text"
        raise InvalidRequest(f"this kind of file cannot be sent here; send {kinds}")
    if not isinstance(data_b64, str) or len(data_b64) > MAX_ATTACHMENT * 4 // 3 + 8:
        raise InvalidRequest(f"files are at most {MAX_ATTACHMENT // (1024 * 1024)} MB")
    try:
        data = base64.b64decode(data_b64, validate=True)
    except ValueError:
        raise InvalidRequest("the file did not arrive whole; try again") from None
    if len(data) > MAX_ATTACHMENT:
        raise InvalidRequest(f"files are at most {MAX_ATTACHMENT // (1024 * 1024)} MB")
    filename = name if isinstance(name, str) else ""
    filename = _CONTROL.sub("", filename).replace("/", "_").replace("\\", "_").strip()[:200]
    return filename or f"file{ATTACHMENT_TYPES[content_type]}", content_type, data


def clean_context(raw: Any) -> dict[str, Any]:
    """What the widget says about the visitor's page, trimmed to known short strings (the
    agent's sidebar shows it; the transcript names the page)."""
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return out
    for key, limit in (("page", 500), ("title", 200), ("referrer", 500), ("browser", 200)):
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            out[key] = _CONTROL.sub("", value.strip())[:limit]
    tz = raw.get("tz")
    if isinstance(tz, str) and re.match(r"^[A-Za-z_+/-]{1,40}$", tz):
        out["tz"] = tz
    offset = raw.get("offset")  # minutes east of UTC
    if isinstance(offset, int) and not isinstance(offset, bool) and -900 <= offset <= 900:
        out["offset"] = offset
    return out
