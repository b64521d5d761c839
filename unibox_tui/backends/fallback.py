"""The fallback address: mail the team's own mail system forwards to the hub, which receives
it by SMTP itself (hub/fallback_smtp.py runs the receiver), and replies sent through an SMTP
relay the team names.

It is the e-mail channel without IMAP: the same MIME parsing, threading (our Message-ID
tokens), attribution of forwarded mail to the original sender unless the channel says
otherwise, the CC list kept, the same sender name and signature, and the same SMTP sending
with a stable Message-ID. What differs: mail is pushed to us (no folder to poll, no Sent
folder to file a copy in or to look for an earlier try's copy), and a message that is not
mail at all is refused while the sender is still connected (an SMTP error code: their
server bounces it), rather than stored raw as an IMAP fetch must.

Settings: `listen` (HOST:PORT the receiver binds), the relay's `smtp_host`, `smtp_port`,
`smtp_security`, `smtp_username` and `password_source` (env:VAR, file:PATH, keyring, or
"none" for a relay that takes mail from this host without a login), `max_message_mb`, and
the e-mail channel's sender and filter settings.
"""

from __future__ import annotations

from typing import Any

from ..core.commands import Incoming
from ..core.errors import InvalidRequest
from . import registry
from .base import AdapterContext, ChannelConfig, DeliveryResult, OutboxItem
from .email.channel import EmailChannel
from .email.mime import parse_email
from .email.settings import SECURITY, EmailSettings

DEFAULT_LISTEN = "0.0.0.0:2525"
DEFAULT_MAX_MB = 35.0  # a whole message, attachments and encoding included
NO_PASSWORD = "none"


class BadMail(InvalidRequest):
    """Mail the receiver refuses: `code` and `text` are its SMTP answer."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}"


def parse_listen(value: Any) -> tuple[str, int]:
    """HOST:PORT -> (host, port); InvalidRequest otherwise."""
    host, _, port = str(value or "").strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidRequest(
            f"listen takes HOST:PORT for the SMTP receiver, e.g. {DEFAULT_LISTEN}; got {value!r}"
        )
    return host.strip("[]"), int(port)


def email_settings(settings: dict[str, Any], address: str | None) -> EmailSettings:
    """The e-mail channel's settings this channel shares (no IMAP: its fields stay empty)."""
    values = {k: v for k, v in settings.items() if k not in ("listen", "max_message_mb")}
    values["imap_host"] = ""
    values["username"] = str(settings.get("smtp_username") or "")
    values["security"] = settings.get("smtp_security") or "starttls"
    return EmailSettings.from_dict(values, address)


class FallbackChannel(EmailChannel):
    kind = "fallback"
    rules = registry.rules("fallback")
    pulls = False  # mail is pushed to the hub's receiver
    delivers = True

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        if not isinstance(settings, dict):
            raise InvalidRequest("channel settings must be a table of names and values")
        settings = dict(settings)
        if not address or "@" not in address or address.count("@") != 1:
            raise InvalidRequest(f"the fallback address {address!r} is not an e-mail address")
        host, port = parse_listen(settings.get("listen") or DEFAULT_LISTEN)
        settings["listen"] = f"{host}:{port}"
        if not str(settings.get("smtp_host") or "").strip():
            raise InvalidRequest(
                "replies to the fallback address go out through an SMTP relay: give its host "
                "(--smtp-host)"
            )
        security = settings.get("smtp_security") or "starttls"
        if security not in SECURITY:
            raise InvalidRequest(f"smtp security must be one of {', '.join(SECURITY)}")
        settings["smtp_security"] = security
        source = str(settings.get("password_source") or NO_PASSWORD)
        if source != NO_PASSWORD and not str(settings.get("smtp_username") or "").strip():
            raise InvalidRequest("a relay password needs the relay's user name (--smtp-username)")
        settings["password_source"] = source
        size = settings.get("max_message_mb", DEFAULT_MAX_MB)
        if not isinstance(size, int | float) or not 0 < size <= 200:
            raise InvalidRequest("the largest message is given in MB, up to 200")
        try:
            email_settings(settings, address)
        except TypeError as error:
            raise InvalidRequest(f"the fallback settings do not fit: {error}") from None
        return settings

    @classmethod
    def from_channel(cls, channel: ChannelConfig, context: AdapterContext) -> FallbackChannel:
        from ..secrets import resolve_secret

        settings = email_settings(channel.settings, channel.address)
        source = settings.password_source
        password = "" if source == NO_PASSWORD else resolve_secret(secret_name(settings), source)
        adapter = cls(
            channel.id, settings, password, context.workspace_key, ssl_context=context.ssl_context
        )
        adapter.max_bytes = int(
            float(channel.settings.get("max_message_mb", DEFAULT_MAX_MB)) * 1024 * 1024
        )
        return adapter

    max_bytes: int = int(DEFAULT_MAX_MB * 1024 * 1024)

    @classmethod
    def receiver(
        cls,
        channel_id: str,
        name: str,
        address: str,
        settings: dict[str, Any],
        workspace_key: str,
    ) -> FallbackChannel:
        """An adapter that only receives (the hub's SMTP receiver): it needs no relay
        password, so mail keeps arriving while the relay's secret is missing."""
        adapter = cls(channel_id, email_settings(settings, address), "", workspace_key)
        adapter.max_bytes = int(float(settings.get("max_message_mb", DEFAULT_MAX_MB)) * 1024 * 1024)
        return adapter

    # --- receiving -------------------------------------------------------------------------
    def accept(self, raw: bytes) -> Incoming | None:
        """A message the receiver took -> what to store (None: our own reply came back).
        Raises BadMail with the SMTP answer for mail we refuse."""
        if len(raw) > self.max_bytes:
            raise BadMail(552, "5.3.4 Message too big for this address")
        parsed = parse_email(raw, attachment_limit=self.settings.attachment_limit)
        if parsed.unparsed:
            raise BadMail(550, "5.6.0 This is not a readable e-mail message")
        if not parsed.from_address:
            raise BadMail(550, "5.6.0 The message has no From address")
        return self._incoming(parsed, None)

    def watcher(self, on_change: Any, **options: float) -> Any:
        return None  # mail is pushed to the hub's receiver: nothing to watch

    async def check(self) -> None:
        await self.check_smtp()

    # --- sending (the relay; no Sent folder to file a copy in) ------------------------------
    async def after_delivery(self, item: OutboxItem, result: DeliveryResult) -> None:
        return None

    async def delivered_before(self, item: OutboxItem) -> str | None:
        return None

    def close(self) -> None:
        return None


def secret_name(settings: EmailSettings) -> str:
    """The keyring entry for the relay's password."""
    return f"smtp:{settings.smtp_username or settings.username}@{settings.smtp_host_value}"
