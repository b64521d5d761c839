"""Channel kinds -> their adapter class and rules. The one place the engine, the CLI and the
commands look a kind up.

Adapters load on first use (the e-mail one brings imapclient and aiosmtplib), so asking for
a kind's rules costs nothing. A kind without an adapter yet is known (its rules hold, its
conversations show) but not run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import timedelta

from ..core.errors import InvalidRequest
from ..core.kinds import ANSWERED_BY, CHANNEL_KINDS
from .base import ChannelAdapter, ChannelRules


@dataclass(frozen=True)
class Kind:
    name: str
    adapter: str | None  # "module:Class", or None while this kind has no adapter
    rules: ChannelRules


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
            "chat",
            "unibox_tui.backends.chat:ChatChannel",
            ChannelRules(max_length=10_000),
        ),
        # Meta's limits (research/hub-and-channels.md §A.4, §A.5, §B.3, §B.5).
        Kind("messenger", None, ChannelRules(reply_window=timedelta(hours=24), max_length=2000)),
        Kind("whatsapp", None, ChannelRules(reply_window=timedelta(hours=24), max_length=4096)),
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


def runnable(name: str) -> bool:
    """Has this kind an adapter the engine can run?"""
    return kind(name).adapter is not None


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
    _KINDS[name] = Kind(name, f"{cls.__module__}:{cls.__qualname__}", rules)
    _loaded[name] = cls
