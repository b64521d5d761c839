"""What Messenger and WhatsApp share: Meta's webhook rules, the Graph API client and the
meaning of its error codes (research/hub-and-channels.md §A, §B).

- Verification handshake: Meta GETs `?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`
  and wants `C` back when `T` is ours; anything else is 403.
- Every POST carries `X-Hub-Signature-256: sha256=HEX(HMAC-SHA256(app secret, raw body))`.
  It is checked on the raw bytes, before parsing: a re-serialised body does not verify
  (Meta escapes non-ASCII as \\uXXXX), and nothing from an unsigned body is trusted.
- The Graph API answers errors as `{"error": {"message", "type", "code", "error_subcode",
  "fbtrace_id"}}`; `delivery_result` turns one into what the outbox does with the reply:
  fail it with the reason an agent reads, retry later, or retry once the channel is
  re-authorised (a token that expired is the channel's problem, not the message's).

The client is stdlib urllib on its own thread (`in_thread`): two calls per reply and one per
media file do not justify another HTTP library, and the engine's event loop never blocks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..core import clock
from ..core.errors import InvalidRequest
from ..secrets import resolve_secret
from .base import ChannelError, DeliveryResult, StatusUpdate, in_thread

GRAPH_URL = "https://graph.facebook.com/v25.0"  # research §A.4: the newest version pywa pins
MAX_WEBHOOK_BYTES = 3 * 1024 * 1024  # Meta's payloads go up to 3 MB (research §B.5)
MAX_MEDIA_BYTES = 25 * 1024 * 1024  # like e-mail attachments; larger ones keep their name only
TIMEOUT = 20.0
METADATA_PREFIX = "unibox:"  # Messenger `metadata` / WhatsApp `biz_opaque_callback_data`


# ------------------------------------------------------------------------------ webhooks


def signature_ok(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Does `X-Hub-Signature-256` sign exactly these bytes with the app secret?"""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def sign(app_secret: str, raw_body: bytes) -> str:
    """The header value Meta would send (tests, benchmarks)."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def handshake(params: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to answer the verification GET with, or None (answer 403)."""
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not token:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    challenge = params.get("hub.challenge", "")
    return challenge if challenge and len(challenge) <= 200 else None


def from_epoch(value: Any, millis: bool) -> datetime:
    """Meta's timestamps: Messenger in milliseconds, WhatsApp in seconds (as a string)."""
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise InvalidRequest(f"not a timestamp: {value!r:.40}") from e
    return datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)


@dataclass
class Echo:
    """A message the page itself sent, as Messenger echoes it back: our own reply (matched
    by `mid` or by the `metadata` we set) or one typed in Meta's Page inbox (imported as an
    outgoing message, once)."""

    channel_id: str
    recipient: str  # the customer's PSID
    external_id: str
    metadata: str | None
    body: str
    created_at: datetime
    app_id: str | None = None


@dataclass
class Watermark:
    """Messenger's delivery/read receipt: every message sent to `recipient` on the channel
    up to `until` was delivered (or read)."""

    channel_id: str
    recipient: str
    state: str  # delivered | read
    until: datetime


@dataclass
class Events:
    """What one webhook POST said, in the order it said it (kinds kept apart: messages are
    stored in one batch, then echoes, then statuses)."""

    incoming: list[Any] = field(default_factory=list)  # core.commands.Incoming
    echoes: list[Echo] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    watermarks: list[Watermark] = field(default_factory=list)
    skipped: int = 0  # events of kinds we do not store (optins, referrals, ...)

    def __len__(self) -> int:
        return len(self.incoming) + len(self.echoes) + len(self.statuses) + len(self.watermarks)

    def extend(self, other: Events) -> None:
        self.incoming += other.incoming
        self.echoes += other.echoes
        self.statuses += other.statuses
        self.watermarks += other.watermarks
        self.skipped += other.skipped


# ------------------------------------------------------------------------------ settings


def secret(settings: Mapping[str, Any], key: str, label: str, channel_name: str) -> str:
    """A channel secret from where its settings say it is (`<key>_source`)."""
    source = settings.get(f"{key}_source")
    if not source:
        raise InvalidRequest(f"the channel {channel_name!r} has no {label} configured")
    return resolve_secret(f"{channel_name}:{key}", str(source))


def check_graph_url(url: str | None) -> str:
    url = (url or GRAPH_URL).strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"--graph-url {url!r} is not an http(s) URL")
    return url


# ------------------------------------------------------------------------------- client


class GraphError(ChannelError):
    """The Graph API answered with an error (or not at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        reached: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.subcode = subcode
        # None: Meta answered (with this error). False: the request never reached Meta (no
        # connection). True: no answer came after it was sent; it may have arrived.
        self.reached = reached


@dataclass
class Graph:
    """A Graph API caller for one channel: `bearer` (WhatsApp) or `access_token` in the
    query (Messenger's documented form)."""

    base_url: str
    token: str
    bearer: bool = True
    timeout: float = TIMEOUT

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """Blocking JSON call; raises GraphError."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path}"
        query = dict(params or {})
        if not self.bearer:
            query["access_token"] = self.token
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        raw = self._open(method, url, data, "application/json" if data else None)
        try:
            answer = json.loads(raw or b"{}")
        except ValueError as e:
            raise GraphError("the Graph API answered something that is not JSON") from e
        return answer if isinstance(answer, dict) else {"data": answer}

    def upload(
        self,
        path: str,
        fields: Mapping[str, str],
        file_field: str,
        file: tuple[str, str, bytes],
    ) -> dict[str, Any]:
        """Blocking multipart/form-data POST of text `fields` and one file (name, MIME type,
        bytes), as Meta's upload endpoints take them; raises GraphError."""
        boundary = "unibox-" + secrets.token_hex(16)
        parts = []
        for key, value in fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        name, content_type, data = file
        quoted = name.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{quoted}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        url = f"{self.base_url}/{path}"
        if not self.bearer:
            url += "?" + urllib.parse.urlencode({"access_token": self.token})
        raw = self._open("POST", url, b"".join(parts), f"multipart/form-data; boundary={boundary}")
        try:
            answer = json.loads(raw or b"{}")
        except ValueError as e:
            raise GraphError("the Graph API answered something that is not JSON") from e
        return answer if isinstance(answer, dict) else {}

    def download(self, url: str, limit: int = MAX_MEDIA_BYTES) -> bytes:
        """Bytes at a media URL (WhatsApp's need the same Bearer header); GraphError over
        `limit`."""
        return self._open("GET", url, None, None, limit=limit)

    def _open(
        self,
        method: str,
        url: str,
        data: bytes | None,
        content_type: str | None,
        limit: int = MAX_WEBHOOK_BYTES,
    ) -> bytes:
        request = urllib.request.Request(url, data=data, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.bearer:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(limit + 1)
        except urllib.error.HTTPError as e:
            raise _from_http_error(e) from None
        except urllib.error.URLError as e:  # before a connection was made (refused, DNS)
            raise GraphError(f"cannot reach the Graph API: {e.reason}", reached=False) from e
        except TimeoutError as e:
            raise GraphError("the Graph API did not answer in time", reached=True) from e
        except OSError as e:  # the connection broke after the request went out
            raise GraphError(f"the connection to the Graph API broke: {e}", reached=True) from e
        if len(raw) > limit:
            raise GraphError(f"the answer is larger than {limit // (1024 * 1024)} MB")
        return raw

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return await in_thread(lambda: self.request(method, path, **kwargs), "graph")


def _from_http_error(e: urllib.error.HTTPError) -> GraphError:
    try:
        body = json.loads(e.read(64 * 1024) or b"{}").get("error") or {}
    except (ValueError, AttributeError, OSError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or e.reason or "error")[:300]
    code = body.get("code")
    subcode = body.get("error_subcode")
    return GraphError(
        message,
        status=e.code,
        code=code if isinstance(code, int) else None,
        subcode=subcode if isinstance(subcode, int) else None,
    )


# ------------------------------------------------------------------- errors -> outcomes

RATE_LIMITED = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
TRANSIENT = frozenset({1, 2, 131000, 131016})
TOKEN_EXPIRED = frozenset({190})
RATE_LIMIT_WAIT = 60.0
REAUTH_WAIT = 3600.0

# WhatsApp codes an agent can act on (research §B.2; pywa errors.py).
WHATSAPP_REASONS = {
    131047: "outside the 24-hour window: WhatsApp takes only a template now "
    "(`unibox conversations reply ID --template NAME`)",
    131026: "WhatsApp could not deliver it (the number is not on WhatsApp or its app is too old)",
    131030: "the number is not on the test allowed list of this WhatsApp account",
    131031: "the WhatsApp business account is locked",
    131042: "the WhatsApp business account has a payment problem",
    131049: "not delivered: WhatsApp limits marketing messages to this customer",
    131050: "the customer stopped marketing messages",
    131051: "WhatsApp does not support this kind of message",
    131052: "WhatsApp could not download the media",
    131053: "WhatsApp could not use the uploaded media",
    132000: "the template's parameters do not match it",
    132001: "no such template in that language (sync templates again)",
    132005: "the template text is too long with these parameters",
    132007: "the template breaks WhatsApp's policy",
    132012: "a template parameter has the wrong format",
    132015: "the template is paused",
    132016: "the template is disabled",
    368: "the account is temporarily blocked for policy violations",
}


def reason_of(error: GraphError) -> str:
    """The words an agent reads for a Meta error."""
    if error.code == 10 and error.subcode == 2018278:
        return (
            "Messenger refused it: the reply window closed (more than 24 hours since the "
            "customer last wrote)"
        )
    if error.code == 551 or error.subcode == 1545041:
        return "this person isn't available on Messenger right now (blocked the page, or turned off messages)"
    if error.code == 10 and error.subcode == 1893063:
        return "the page is temporarily restricted from sending messages"
    if error.code in WHATSAPP_REASONS:
        return f"{WHATSAPP_REASONS[error.code]} ({error.code})"
    if error.code in TOKEN_EXPIRED:
        return "the channel's access token is invalid or expired: the channel needs re-authorising"
    code = f" (code {error.code}" + (f"/{error.subcode}" if error.subcode else "") + ")"
    return f"Meta refused it: {error}{code if error.code is not None else ''}"


def delivery_result(error: GraphError) -> DeliveryResult:
    """How a failed send ends for the outbox."""
    if error.reached is True:
        return DeliveryResult.uncertain(f"{error}; it may or may not have arrived")
    if error.reached is False:
        return DeliveryResult.retry(str(error))
    if error.code in TOKEN_EXPIRED:
        reason = reason_of(error)
        return DeliveryResult.retry(reason, after=REAUTH_WAIT, channel_problem=reason)
    if error.code in RATE_LIMITED:
        return DeliveryResult.retry(
            f"Meta is rate limiting this channel ({error.code}); backing off",
            after=RATE_LIMIT_WAIT,
        )
    if error.code in TRANSIENT or (error.status or 0) >= 500:
        return DeliveryResult.retry(f"Meta had a temporary problem: {error}")
    return DeliveryResult.failed(reason_of(error))


def upload_result(error: GraphError) -> DeliveryResult:
    """How a failed file upload ends for the outbox: as a send would, except that an upload
    that may have arrived is simply retried (nothing reaches the customer before the send)."""
    if error.reached is True:
        return DeliveryResult.retry(f"uploading a file: {error}")
    return delivery_result(error)


# ------------------------------------------------------------------ replies in parts


@dataclass
class Part:
    """One Send API message of a reply: the reply's parts it carries ("text", "file:<id>";
    a WhatsApp caption carries both), and its JSON body."""

    keys: tuple[str, ...]
    body: dict[str, Any]


def part_labels(item: Any) -> dict[str, str]:
    """Part -> what an agent calls it: "the text", or the file's name. A reply of files
    alone has no text part (nothing is sent for it)."""
    texted = item.body.strip() or (item.message_meta or {}).get("template")
    labels = {"text": "the text"} if texted else {}
    labels.update({key: name for key, name, _, _ in item.file_parts()})
    return labels


def partial(
    result: DeliveryResult, done: dict[str, str], labels: dict[str, str], left: list[str]
) -> DeliveryResult:
    """`result` for a reply of which the parts in `done` went out already (this try or an
    earlier one) and the parts `left` did not: the reason names both, and the parts are kept
    so that no later try sends a delivered one again. Unchanged when nothing went out."""
    if not done:
        return result
    missing = _and([labels.get(k, k) for k in left])
    went = _and([labels.get(k, k) for k in dict.fromkeys(done)])
    if result.outcome == "uncertain":
        said = f"{missing} may or may not have arrived ({result.reason})"
    else:
        said = f"{missing} {'was' if len(left) == 1 else 'were'} not sent: {result.reason}"
    return dataclasses.replace(
        result,
        reason=f"{said}; {went} went out and will not be sent again",
        parts=dict(done),
        external_id=done.get("text") or next(iter(done.values())),
    )


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


async def send_parts(
    graph: Graph,
    path: str,
    parts: list[Part],
    done: dict[str, str],
    labels: dict[str, str],
    handover: Any,
    message_id: Any,
    channel: str,
) -> DeliveryResult:
    """POST each part in turn, each handed over first with what went out so far (so a crash
    between two parts never sends a delivered one again). Stops at the first part that
    fails: the result names what failed and keeps what was delivered. `message_id(answer)`:
    the provider's id in an answer, or None."""
    done = dict(done)
    for at, part in enumerate(parts):
        left = [k for p in parts[at:] for k in p.keys]
        await handover(done or None)
        try:
            answer = await graph.call("POST", path, body=part.body)
        except GraphError as error:
            return partial(delivery_result(error), done, labels, left)
        sent = message_id(answer)
        if not sent:
            took = DeliveryResult.uncertain(f"{channel} took it but gave no message id")
            return partial(took, done, labels, left) if done else took
        for key in part.keys:
            done[key] = sent
    # The text's id is the message's (its receipts are the reply's); a reply of files alone
    # goes by its first file's.
    first = done.get("text") or next(iter(done.values()), None)
    return DeliveryResult("sent", external_id=first, parts=done)


def status_reason(errors: Any) -> str:
    """A WhatsApp status callback's `errors` list in words."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "WhatsApp could not deliver it"
    first = errors[0]
    code = first.get("code")
    title = str(first.get("title") or first.get("message") or "").strip()[:200]
    if isinstance(code, int) and code in WHATSAPP_REASONS:
        return f"{WHATSAPP_REASONS[code]} ({code}: {title})" if title else WHATSAPP_REASONS[code]
    return f"WhatsApp could not deliver it ({code}: {title})"


# ------------------------------------------------------------------------------- storing


@dataclass
class Stored:
    messages: int = 0  # new customer messages
    duplicates: int = 0
    echoes: int = 0  # replies typed in Meta's own inbox, imported
    statuses: int = 0  # messages whose delivery state changed
    rejected: int = 0  # events that did not pass the core's checks


def store(ws: Any, events: Events, links: list[tuple[str, str, str, str]] | None = None) -> Stored:
    """Write what webhooks said (on the hub's writer thread): customer messages in one
    transaction (each stored once per provider id), then echoes, receipts and statuses."""
    from ..core import commands as cmd
    from ..core.chatflow_queries import choose_chatflow
    from ..core.chatflows import Context
    from ..core.errors import UniboxError

    out = Stored()
    ready = []
    flows: dict[str, Any] = {}  # channel id -> the chatflow its customers get, or None
    now = clock.utcnow()
    for inc in events.incoming:
        if inc.channel_id not in flows:
            flows[inc.channel_id] = choose_chatflow(ws, inc.channel_id, Context())
        if flows[inc.channel_id] is not None and _answerable(inc, now):
            # The chatflow decides who gets it, not ingest.
            inc = dataclasses.replace(inc, route=False)
        try:
            ready.append(cmd.prepare(inc))
        except UniboxError:
            out.rejected += 1
    if ready:
        for prepared, result in zip(ready, cmd.ingest_many(ws, ready), strict=True):
            if result.duplicate:
                out.duplicates += 1
                continue
            out.messages += 1
            # Bots run on Messenger and WhatsApp as on the website chat (hub/chat_bots.py):
            # a new conversation starts the channel's chatflow, later messages answer it.
            # The first message starts it and answers nothing: unlike the website's widget,
            # which shows the opening before the visitor types, the customer never saw the
            # first question (their "hello" is not a wrong answer to be asked again).
            flow = flows.get(prepared.inc.channel_id)
            if result.conversation_id and flow is not None and not prepared.inc.route:
                started = result.created_conversation
                cmd.bot_turn(
                    ws,
                    result.conversation_id,
                    None if started else prepared.inc.body,
                    chatflow_id=flow.id if started else None,
                )
    if links:
        cmd.link_identities(ws, links)
    for echo in events.echoes:
        if cmd.record_echo(
            ws,
            echo.channel_id,
            echo.recipient,
            echo.external_id,
            echo.body,
            echo.created_at,
            metadata=echo.metadata,
        ):
            out.echoes += 1
    for status in events.statuses:
        if cmd.apply_status(ws, status.channel_id, status.external_id, status.state, status.reason):
            out.statuses += 1
    for mark in events.watermarks:
        out.statuses += cmd.apply_watermark(
            ws, mark.channel_id, mark.recipient, mark.state, mark.until
        )
    return out


def _answerable(inc: Any, now: datetime) -> bool:
    """Is the customer's message still inside its channel's reply window? A chatflow starts
    only on one that is: a welcome or a bot's question for a message Meta delivers late (a
    retry after the hub was down for a day) could not be sent, and would only fail."""
    from . import registry

    # Meta's identities are named as their channel kinds ("messenger", "whatsapp").
    closes = registry.rules(inc.identity_kind).window_closes_at(inc.created_at)
    return closes is None or now <= closes
