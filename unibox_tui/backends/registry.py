"""Channel kinds -> their adapter class and rules. The one place the engine, the CLI and the
commands look a kind up.

Adapters load on first use (the e-mail one brings imapclient and aiosmtplib), so asking for
a kind's rules costs nothing. A kind without an adapter yet is known (its rules hold, its
conversations show) but not run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from datetime import timedelta

from ..core.errors import InvalidRequest
from ..core.kinds import ANSWERED_BY, CHANNEL_KINDS
from .base import ChannelAdapter, ChannelRules, FileRule

MESSENGER_WINDOW = timedelta(hours=24)
# Messenger's HUMAN_AGENT tag lets a person answer up to 7 days after the customer's last
# message, on a page whose app passed Meta's review for it (the channel's human_agent_tag).
HUMAN_AGENT_WINDOW = timedelta(days=7)


MB = 1024 * 1024
# Messenger's Send API takes any file up to 25 MB, as one of four attachment types
# (developers.facebook.com/docs/messenger-platform/send-messages#file).
MESSENGER_FILES = (
    FileRule(("image/jpeg", "image/png", "image/gif"), 25 * MB, "image"),
    FileRule(("video/*",), 25 * MB, "video"),
    FileRule(("audio/*",), 25 * MB, "audio"),
    FileRule(("*",), 25 * MB, "file"),
)
# WhatsApp Cloud API's supported media, type by type (developers.facebook.com/docs/
# whatsapp/cloud-api/reference/media#supported-media-types); anything else is refused.
WHATSAPP_FILES = (
    FileRule(("image/jpeg", "image/png"), 5 * MB, "image"),
    FileRule(("video/mp4", "video/3gpp"), 16 * MB, "video"),
    FileRule(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB, "audio"),
    FileRule(
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
        "document",
    ),
)


@dataclass(frozen=True)
class Kind:
    name: str
    adapter: str | None  # "module:Class", or None while this kind has no adapter
    rules: ChannelRules
    # A channel of this kind is connected (its adapter can run) once its settings hold this
    # key; None: always. An unconnected channel's replies wait in the outbox.
    connected_by: str | None = None


_KINDS = {
    k.name: k
    for k in (
        Kind(
            "email",
            "unibox_tui.backends.email.channel:EmailChannel",
            ChannelRules(html=True, attachments=True),
        ),
        Kind(
            "form",
            "unibox_tui.backends.form:FormChannel",
            ChannelRules(answered_by=ANSWERED_BY["form"]),
        ),
        Kind(
            "fallback",
            "unibox_tui.backends.fallback:FallbackChannel",
            ChannelRules(html=True, attachments=True),
        ),
        Kind(
            "chat",
            "unibox_tui.backends.chat:ChatChannel",
            ChannelRules(max_length=10_000),
        ),
        # Meta's limits (research/hub-and-channels.md §A.4, §A.5, §B.3, §B.5).
        Kind(
            "messenger",
            "unibox_tui.backends.messenger:MessengerChannel",
            ChannelRules(
                reply_window=MESSENGER_WINDOW,
                max_length=2000,
                attachments=True,
                files=MESSENGER_FILES,
            ),
            connected_by="page_id",
        ),
        Kind(
            "whatsapp",
            "unibox_tui.backends.whatsapp:WhatsAppChannel",
            ChannelRules(
                reply_window=timedelta(hours=24),
                max_length=4096,
                attachments=True,
                files=WHATSAPP_FILES,
                window_hint="only an approved template can go out now: "
                "`unibox conversations reply ID --template NAME` (or ctrl+n in the composer)",
            ),
            connected_by="phone_number_id",
        ),
    )
}
assert set(_KINDS) == set(CHANNEL_KINDS), "every channel kind has an entry here"

_loaded: dict[str, type[ChannelAdapter]] = {}


def kind(name: str) -> Kind:
    found = _KINDS.get(name)
    if found is None:
        raise InvalidRequest(f"channel kind must be one of {', '.join(_KINDS)} (got {name!r})")
    return found


def rules(name: str) -> ChannelRules:
    return kind(name).rules


def channel_rules(name: str, settings: dict | None = None) -> ChannelRules:
    """The rules of one channel: its kind's, with what its settings change (a Messenger page
    with the HUMAN_AGENT tag has a 7-day window for agents' replies)."""
    base = rules(name)
    if name == "messenger" and (settings or {}).get("human_agent_tag"):
        return replace(base, reply_window=HUMAN_AGENT_WINDOW)
    return base


def runnable(name: str) -> bool:
    """Has this kind an adapter the engine can run?"""
    return kind(name).adapter is not None


def connected(name: str, settings: dict | None) -> bool:
    """Can this channel run: its kind has an adapter, it is no demo channel (the demo's own
    stream stands in for a server), and it holds what connects it (a Meta channel added
    without its page or number, e.g. in tests, is not)."""
    found = kind(name)
    settings = settings or {}
    if found.adapter is None or settings.get("demo"):
        return False
    return found.connected_by is None or bool(settings.get(found.connected_by))


def adapter_class(name: str) -> type[ChannelAdapter]:
    cls = _loaded.get(name)
    if cls is None:
        path = kind(name).adapter
        if path is None:
            raise InvalidRequest(f"{name} channels are not supported yet")
        module, _, attr = path.partition(":")
        cls = _loaded[name] = getattr(importlib.import_module(module), attr)
    return cls


def register(name: str, cls: type[ChannelAdapter], rules: ChannelRules | None = None) -> None:
    """Add or replace a kind's adapter (a test's, or a plug-in's)."""
    current = _KINDS.get(name)
    if rules is None:
        rules = current.rules if current is not None else cls.rules
    _KINDS[name] = Kind(name, f"{cls.__module__}:{cls.__qualname__}", rules, None)
    _loaded[name] = cls
