"""The channel adapter interface: what the engine (and, next, the hub) asks of every channel.

One adapter per channel kind (e-mail, chat, Messenger, WhatsApp, forms, the fallback SMTP
receiver), found by kind in `backends/registry.py`. An adapter holds no SQL and changes no
state: it turns the channel's wire format into core data (`commands.Incoming`) and back, and
the engine stores what it returns through core commands. Each part is optional except the
kind; a channel without something leaves the default:

- `check_settings()` (class): validate and normalise the settings a `channel add` gives,
  with no network; `check()`: a live connection test.
- Receiving. A channel the engine polls (e-mail over IMAP) sets `pulls` and implements
  `receive(state, store)`; `watcher()` gives a push connection (IDLE) that says when to
  receive again. A channel that is pushed to (webhooks, the chat socket, form posts) turns
  each event into `Incoming` where it arrives (the hub, or a core entry point such as
  `commands.submit_form`). Either way each Incoming carries the provider's id (Message-ID,
  Messenger `mid`, WhatsApp `wamid`, our own id for chat and forms) as `external_id`, and
  ingest stores an id once per channel, so a retried or doubled event is harmless.
- Delivering. `deliver(item, handover)` sends ONE outgoing message and reports a
  `DeliveryResult`: sent (with the provider's id), failed (with the reason an agent reads),
  retry later, or uncertain. `item.idempotency_key` is stable across tries (e-mail derives
  its Message-ID from it, Messenger carries it as `metadata`, WhatsApp as
  `biz_opaque_callback_data`). Just before the point after which the message may have
  reached the provider (SMTP: the DATA command; an HTTP API: the POST), the adapter awaits
  `handover()`, which records that point durably; an engine that dies after it never sends
  the message again on its own (outbox.py: "delivery uncertain"). `delivered_before()` may
  find the copy of an earlier try (e-mail: the Sent folder, where some providers file what
  they were sent) to settle an uncertain one; `after_delivery()` runs once a sent message is
  recorded (e-mail: our own Sent copy).
- Rules (`rules`): what the composer and the commands must respect on this kind of channel:
  a reply window (WhatsApp and Messenger: 24 hours after the customer's last message), a
  length limit, and whether replies go out on another kind (a form is answered by e-mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from ..core.errors import InvalidRequest, UniboxError
from ..core.outgoing import OutboxItem

if TYPE_CHECKING:
    from ..core.commands import Incoming, Prepared


T = TypeVar("T")


class ChannelError(UniboxError):
    """A channel operation failed. `transient`: trying again later may work."""

    transient = True

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient


class DeliveryUncertain(ChannelError):
    """The message was handed over and then the connection failed before the provider
    confirmed it: it may or may not have arrived. Never retried on its own."""

    transient = False


def in_thread(fn: Callable[[], T], name: str) -> Awaitable[T]:
    """Run a blocking call on its own daemon thread and await its result. (Long calls, such
    as an IMAP IDLE, must not fill the loop's default executor.)"""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (fn(), None)
        except BaseException as error:
            outcome = (None, error)
        with contextlib.suppress(RuntimeError):  # the loop closed while we ran: nobody waits
            loop.call_soon_threadsafe(_settle, future, *outcome)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


# --------------------------------------------------------------------------- delivery

DELIVERY_OUTCOMES = ("sent", "failed", "retry", "uncertain")


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt ended.

    sent: the provider took it (`external_id`: its id for the message, for threading and for
    status callbacks). failed: it never will (`reason` is shown on the message). retry: not
    now (`reason`; `after` seconds, else the outbox's backoff). uncertain: it may or may not
    have arrived (the connection died after the hand-over); it is not sent again unless an
    agent says so."""

    outcome: str
    external_id: str | None = None
    reason: str | None = None
    after: float | None = None
    # The channel itself is at fault (e.g. its token expired): shown as the channel's status
    # until a later send goes through.
    channel_problem: str | None = None
    # A reply sent as several provider messages: the parts delivered so far (this try and
    # earlier ones), part -> provider id (OutboxItem.parts). Recorded whatever the outcome,
    # so that a later try sends only the others.
    parts: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"unknown delivery outcome {self.outcome!r}")

    @classmethod
    def sent(cls, external_id: str | None = None) -> DeliveryResult:
        return cls("sent", external_id=external_id)

    @classmethod
    def failed(cls, reason: str, external_id: str | None = None) -> DeliveryResult:
        return cls("failed", external_id=external_id, reason=reason)

    @classmethod
    def retry(
        cls, reason: str, after: float | None = None, channel_problem: str | None = None
    ) -> DeliveryResult:
        return cls("retry", reason=reason, after=after, channel_problem=channel_problem)

    @classmethod
    def uncertain(cls, reason: str, external_id: str | None = None) -> DeliveryResult:
        return cls("uncertain", external_id=external_id, reason=reason)


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's later word on a message it took: delivered, read, or failed after all
    (WhatsApp can accept a send and fail it minutes later). Webhook channels turn their
    status callbacks into these; `commands.apply_status` stores them. `external_id` is the
    provider's id of the message (what `DeliveryResult.sent` returned)."""

    channel_id: str
    external_id: str
    state: str  # delivered | read | failed
    reason: str | None = None


class Handover(Protocol):
    """Awaited just before each hand-over to the provider. `delivered`: the parts of the
    message delivered so far, when it goes out as several provider messages (recorded with
    the hand-over of the next one, so that a crash in between never sends them again)."""

    def __call__(self, delivered: dict[str, str] | None = None) -> Awaitable[None]: ...


async def no_handover(delivered: dict[str, str] | None = None) -> None:
    """For callers that record nothing (tests, a one-off send)."""


# ------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class FileRule:
    """Files of these MIME types (`image/*` for a family, `*` for any other) go out on the
    channel as `sends_as` (what its API calls them: image, video, audio, file, document),
    up to `max_bytes` each."""

    types: tuple[str, ...]
    max_bytes: int
    sends_as: str

    def takes(self, content_type: str) -> bool:
        family = content_type.split("/", 1)[0] + "/*"
        return content_type in self.types or family in self.types or "*" in self.types


@dataclass(frozen=True)
class ChannelRules:
    """What a reply on this kind of channel must respect."""

    reply_window: timedelta | None = None  # after the customer's last message; None: none
    max_length: int | None = None  # characters of reply text; None: no limit
    answered_by: str | None = None  # replies go out on a channel of this kind instead
    html: bool = False  # a reply may carry formatted text
    attachments: bool = False
    # With attachments: the files it takes, the first matching rule wins; () any file.
    files: tuple[FileRule, ...] = ()
    # What still works once the window closed (said after the reason), e.g. a template.
    window_hint: str = "answer by e-mail or wait for them to write"

    def window_closes_at(self, last_inbound_at: datetime | None) -> datetime | None:
        if self.reply_window is None or last_inbound_at is None:
            return None
        return last_inbound_at + self.reply_window

    def file_rule(self, content_type: str) -> FileRule | None:
        return next((r for r in self.files if r.takes(content_type)), None)

    def file_problem(self, name: str, content_type: str, size: int) -> str | None:
        """Why this file cannot go with a reply on this channel, in words, or None."""
        if not self.attachments:
            return "this channel sends no files: answer by e-mail to send one"
        if not self.files:
            return None
        rule = self.file_rule(content_type)
        if rule is None:
            kinds = "; ".join(
                f"{'audio' if r.sends_as == 'audio' else r.sends_as + 's'}: {_type_names(r.types)}"
                for r in self.files
            )
            return f"{name} is {content_type}, which this channel does not send (it takes {kinds})"
        if size > rule.max_bytes:
            return (
                f"{name} is {_megabytes(size)}: this channel sends {rule.sends_as} files of at "
                f"most {_megabytes(rule.max_bytes)}"
            )
        return None

    def reply_problem(
        self, text: str, last_inbound_at: datetime | None, now: datetime
    ) -> str | None:
        """Why a reply of `text` cannot go out now, in words, or None."""
        if self.max_length is not None and len(text) > self.max_length:
            return (
                f"the reply is {len(text):,} characters; this channel takes at most "
                f"{self.max_length:,}: shorten it or split it in two"
            )
        closes = self.window_closes_at(last_inbound_at)
        if closes is not None and now > closes:
            return (
                "the reply window of this channel closed at "
                f"{closes:%Y-%m-%d %H:%M} UTC (the customer wrote last more than "
                f"{_span(self.reply_window)} ago); {self.window_hint}"
            )
        return None


# How people call the documents Meta's channels take (their MIME types are unreadable).
_TYPE_NAMES = {
    "text/plain": "plain text",
    "application/msword": "Word",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.ms-excel": "Excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
    "application/vnd.ms-powerpoint": "PowerPoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
}


def _type_names(types: tuple[str, ...]) -> str:
    """`image/jpeg, image/png` -> `JPEG, PNG`; `video/*` -> `any`."""
    names = [
        "any" if t.endswith("*") else _TYPE_NAMES.get(t, t.split("/", 1)[-1].upper()) for t in types
    ]
    return ", ".join(dict.fromkeys(names))


def _megabytes(size: int) -> str:
    from ..core.composing import megabytes

    return megabytes(size)


def _span(span: timedelta | None) -> str:
    if span is None:
        return ""
    hours = int(span.total_seconds() // 3600)
    return f"{hours // 24} days" if hours >= 48 and hours % 24 == 0 else f"{hours} hours"


# -------------------------------------------------------------------------- receiving


@dataclass
class ReceiveReport:
    """What a receive pass saw besides new messages (those are counted as stored)."""

    changed_on_server: int = 0  # e.g. flags changed on messages we already hold
    deleted_on_server: int = 0


Store = Callable[[Sequence["Incoming | Prepared"], dict[str, Any]], None]
Progress = Callable[[int, int], None]


class Watcher(Protocol):
    """A push connection: `run()` blocks (on its own thread) and calls the `on_change` it was
    made with whenever the channel has something new; `stop()` ends it from any thread."""

    def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class AdapterContext:
    """What the engine gives every adapter it builds."""

    workspace_key: str  # a secret of this workspace, for ids only we can mint (tokens.py)
    ssl_context: Any = None  # tests' own CA; None: the system's


class ChannelConfig(Protocol):
    """A channel row as the engine hands it to `from_channel` (core.queries.ChannelRow)."""

    id: str
    kind: str
    name: str
    inbox_id: str
    address: str | None
    settings: dict[str, Any]


# ---------------------------------------------------------------------------- adapter


class ChannelAdapter:
    """The base of every adapter: the defaults of a channel that does nothing."""

    kind: ClassVar[str] = ""
    rules: ClassVar[ChannelRules] = ChannelRules()
    pulls: ClassVar[bool] = False  # the engine calls receive() on it
    delivers: ClassVar[bool] = False  # the engine hands it outbox items

    channel_id: str

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        """The settings, checked and normalised (no network). Raises InvalidRequest."""
        if not isinstance(settings, dict):
            raise InvalidRequest("channel settings must be a table of names and values")
        return dict(settings)

    @classmethod
    def from_channel(cls, channel: ChannelConfig, context: AdapterContext) -> ChannelAdapter:
        """An adapter for a stored channel. Raises UniboxError (e.g. its password is not
        found), which the engine shows as the channel's status."""
        raise NotImplementedError(f"the {cls.kind or 'unknown'} channel cannot be run")

    async def check(self) -> None:
        """A live connection test; raises ChannelError with one clear line."""

    def sync_key(self) -> str:
        """Where this channel's receive state is kept (one row per key)."""
        return "default"

    def receive(
        self, state: dict[str, Any], store: Store, progress: Progress | None
    ) -> ReceiveReport:
        """Blocking: fetch what is new since `state`, hand it to `store(items, new_state)`
        batch by batch (both are stored in one transaction)."""
        return ReceiveReport()

    def watcher(self, on_change: Callable[[], object], **options: float) -> Watcher | None:
        return None

    async def deliver(self, item: OutboxItem, handover: Handover) -> DeliveryResult:
        return DeliveryResult.failed(f"a {self.kind} channel cannot send messages")

    async def after_delivery(self, item: OutboxItem, result: DeliveryResult) -> None:
        """Best-effort work once a sent message is recorded (e-mail: the Sent folder copy)."""

    async def delivered_before(self, item: OutboxItem) -> str | None:
        """The provider id of a copy an earlier try left (so it was delivered), or None when
        none is found or the channel keeps no copies. Raises ChannelError when it cannot
        look."""
        return None

    def close(self) -> None:
        """Drop connections; the adapter may be used again (it reconnects)."""
