"""Facebook Messenger (a Page's inbox): webhooks in, the Send API out (research §A).

Settings: `page_id`, where its secrets come from (`page_token_source`, `app_secret_source`,
`verify_token_source`: env:VAR, file:PATH or keyring), `human_agent_tag` (the page's app
passed Meta's review for the HUMAN_AGENT tag) and `graph_url`.

Receiving: the hub (hub/meta_http.py) checks the signature, answers 200, and hands the
payload to `parse` (no network), then `enrich` (on a thread: the sender's profile name,
once per sender, and the attachments, downloaded at once because their CDN URLs expire),
then `meta.store` writes it. Every event is keyed by its `mid`.

Sending (`deliver`): `messaging_type=RESPONSE` within 24 hours of the customer's last
message; after that, a reply an agent wrote goes with the HUMAN_AGENT tag for up to 7 days
if the channel enables it; otherwise it fails with the window's reason (the reply command
refuses it already; this catches a window that closed while the reply waited). Our
message id travels as `metadata` and comes back in the echo, so the echo is never stored
as a second message.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from ..core import clock
from ..core.commands import Incoming, IncomingAttachment
from ..core.errors import InvalidRequest
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
from .meta import Echo, Events, GraphError, Watermark

SECRETS = (
    ("page_token", "page access token"),
    ("app_secret", "app secret"),
    ("verify_token", "webhook verify token"),
)
ATTACHMENT_WORDS = {"image": "an image", "video": "a video", "audio": "a voice message"}

# What connecting a Page sets up (issue 13: "creates and enables a default chatflow for the
# Page"): a live chat that welcomes whoever writes and gives the conversation to the inbox's
# routing. Below every chatflow an admin adds (priority -1), so theirs wins once enabled.
DEFAULT_CHATFLOW = """\
# The Page's default chatflow, made when the Messenger channel was connected.
# `unibox chatflow edit NAME` changes it; `unibox chatflow disable NAME` turns it off.
type = "live_chat"
priority = -1                # below the chatflows you add: an enabled one of yours wins
welcome = "Thanks for your message! Someone from the team will answer you here shortly."

[routing]
to = "inbox"                 # "inbox" (the inbox's routing), "team:NAME", "agent:HANDLE"
"""


def add_default_chatflow(ws: Any, channel_id: str, channel_name: str, actor: str | None) -> str:
    """Create and enable the Page's default chatflow (DEFAULT_CHATFLOW); returns its name
    (`<channel name> live chat`, with the channel id when that name is taken)."""
    from ..core import chatflow_queries as fq
    from ..core import commands as cmd

    taken = {row.name.lower() for row in fq.chatflows(ws)}
    name = f"{channel_name} live chat"
    if name.lower() in taken:
        name = f"{channel_name} live chat ({channel_id})"
    cmd.save_chatflow(ws, name, DEFAULT_CHATFLOW, channel=channel_id, enabled=True, actor=actor)
    return name


class MessengerChannel(ChannelAdapter):
    kind = "messenger"
    rules = registry.rules("messenger")
    delivers = True

    def __init__(
        self,
        channel_id: str,
        name: str,
        settings: dict[str, Any],
        secrets: dict[str, str],
    ) -> None:
        self.channel_id = channel_id
        self.name = name
        self.page_id = str(settings["page_id"])
        self.human_agent_tag = bool(settings.get("human_agent_tag"))
        self.app_secret = secrets["app_secret"]
        self.verify_token = secrets["verify_token"]
        self.graph = meta.Graph(
            meta.check_graph_url(settings.get("graph_url")), secrets["page_token"], bearer=False
        )
        self.channel_rules = registry.channel_rules("messenger", settings)
        self._names: dict[str, str] = {}  # PSID -> profile name, fetched once per sender

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        settings = super().check_settings(settings, address)
        page_id = str(settings.get("page_id") or "").strip()
        if not page_id.isdigit():
            raise InvalidRequest(f"--page-id must be the page's numeric id (got {page_id!r})")
        settings["page_id"] = page_id
        for key, label in SECRETS:
            if not settings.get(f"{key}_source"):
                raise InvalidRequest(f"a Messenger channel needs its {label}")
        settings["graph_url"] = meta.check_graph_url(settings.get("graph_url"))
        settings["human_agent_tag"] = bool(settings.get("human_agent_tag"))
        return settings

    @classmethod
    def from_channel(
        cls, channel: ChannelConfig, context: AdapterContext | None = None
    ) -> MessengerChannel:
        settings = channel.settings
        secrets = {key: meta.secret(settings, key, label, channel.name) for key, label in SECRETS}
        return cls(channel.id, channel.name, settings, secrets)

    # --- receiving -------------------------------------------------------------------------
    def parse(self, payload: Any) -> Events:
        """A webhook body (already verified) -> events. Raises InvalidRequest when it is not
        a page webhook at all."""
        if not isinstance(payload, dict) or payload.get("object") != "page":
            raise InvalidRequest("not a Messenger webhook (object is not 'page')")
        events = Events()
        for entry in _dicts(payload.get("entry")):
            if str(entry.get("id")) != self.page_id:
                events.skipped += 1  # another page's event sent to this callback
                continue
            for event in _dicts(entry.get("messaging")):
                try:
                    self._event(event, events)
                except (InvalidRequest, KeyError, TypeError, ValueError):
                    events.skipped += 1  # one malformed event does not lose the others
            events.skipped += len(_dicts(entry.get("standby")))  # another app's thread
        return events

    def _event(self, event: dict[str, Any], events: Events) -> None:
        sender = str(event["sender"]["id"])
        recipient = str(event["recipient"]["id"])
        message = event.get("message")
        if isinstance(message, dict) or isinstance(event.get("postback"), dict):
            at = meta.from_epoch(event.get("timestamp"), millis=True)  # receipts have none
        if isinstance(message, dict):
            mid = str(message["mid"])
            body = _body(message)
            if message.get("is_echo"):
                events.echoes.append(
                    Echo(
                        self.channel_id,
                        recipient,
                        mid,
                        _str(message.get("metadata")),
                        body,
                        at,
                        app_id=_str(message.get("app_id")),
                    )
                )
                return
            extra: dict[str, Any] = {}
            quick = message.get("quick_reply")
            if isinstance(quick, dict) and quick.get("payload"):
                extra["quick_reply"] = str(quick["payload"])[:1000]
            media = [
                {"type": str(a.get("type") or "file"), "url": str((a.get("payload") or {})["url"])}
                for a in _dicts(message.get("attachments"))
                if isinstance(a.get("payload"), dict) and a["payload"].get("url")
            ]
            if media:
                extra["media"] = media
            reply_to = message.get("reply_to")
            refs = (
                (str(reply_to["mid"]),) if isinstance(reply_to, dict) and "mid" in reply_to else ()
            )
            events.incoming.append(self._incoming(sender, body, at, mid, extra, refs))
        elif isinstance(event.get("postback"), dict):
            postback = event["postback"]
            mid = _str(postback.get("mid")) or f"postback:{sender}:{event.get('timestamp')}"
            title = str(postback.get("title") or postback.get("payload") or "")[:1000]
            extra = {"postback": str(postback.get("payload") or "")[:1000]}
            events.incoming.append(self._incoming(sender, title, at, mid, extra, ()))
        elif isinstance(event.get("delivery"), dict):
            delivery = event["delivery"]
            for mid in delivery.get("mids") or []:
                events.statuses.append(StatusUpdate(self.channel_id, str(mid), "delivered"))
            if delivery.get("watermark"):
                until = meta.from_epoch(delivery["watermark"], millis=True)
                events.watermarks.append(Watermark(self.channel_id, sender, "delivered", until))
        elif isinstance(event.get("read"), dict):
            until = meta.from_epoch(event["read"]["watermark"], millis=True)
            events.watermarks.append(Watermark(self.channel_id, sender, "read", until))
        else:
            events.skipped += 1  # optins, referrals, reactions, edits: not stored (yet)

    def _incoming(
        self,
        sender: str,
        body: str,
        at: datetime,
        mid: str,
        extra: dict[str, Any],
        refs: tuple[str, ...],
    ) -> Incoming:
        return Incoming(
            channel_id=self.channel_id,
            identity_kind="messenger",
            identity_value=sender,
            contact_name="",  # enrich() fills it in
            body=body,
            created_at=at,
            external_id=mid,
            references=refs,
            meta={"messenger": extra} if extra else {},
        )

    def enrich(self, events: Events, known: Callable[[str], bool]) -> None:
        """Blocking (network): each new sender's profile name, once per sender (a fallback
        name when Meta has none to give), and the attachments' bytes. `known(psid)`: the
        workspace has this sender already (their name is kept, not fetched again)."""
        for inc in events.incoming:
            psid = inc.identity_value
            name = self._names.get(psid)
            if name is None and not known(psid):
                name = self._names[psid] = self._profile_name(psid)
            inc.contact_name = name or ""
            media = inc.meta.get("messenger", {}).pop("media", None)
            if media:
                inc.attachments = tuple(self._download(m) for m in media)

    def _profile_name(self, psid: str) -> str:
        try:
            profile = self.graph.request(
                "GET", urllib.parse.quote(psid, safe=""), params={"fields": "first_name,last_name"}
            )
            name = " ".join(
                str(profile.get(k) or "").strip() for k in ("first_name", "last_name")
            ).strip()
        except GraphError:  # 2018218 "no profile available", a restricted user, ...
            name = ""
        return name or f"Messenger user {psid[-4:]}"

    def _download(self, media: dict[str, str]) -> IncomingAttachment:
        url = media["url"]
        filename = posixpath.basename(urllib.parse.urlsplit(url).path) or media["type"]
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        try:
            data = self.graph.download(url)
        except GraphError as error:
            return IncomingAttachment(filename, content_type, 0, None, f"not downloaded: {error}")
        return IncomingAttachment(filename, content_type, len(data), data)

    # --- sending ---------------------------------------------------------------------------
    def messaging_type(self, item: Any, now: datetime) -> tuple[dict[str, str] | None, str | None]:
        """({messaging_type[, tag]}, None) for a reply that may go now, else (None, why)."""
        last = item.last_inbound_at
        if last is not None and now - last <= registry.MESSENGER_WINDOW:
            return {"messaging_type": "RESPONSE"}, None
        if (
            last is not None
            and self.human_agent_tag
            and item.by_agent
            and now - last <= registry.HUMAN_AGENT_WINDOW
        ):
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}, None
        return None, self.channel_rules.reply_problem("", last, now) or (
            "the customer has not written on Messenger yet; a page cannot write first"
        )

    async def deliver(self, item: Any, handover: Handover) -> DeliveryResult:
        # Parts an earlier try delivered are not sent again (item.parts; outbox.py).
        done, labels = dict(item.parts), meta.part_labels(item)
        undone = [k for k in labels if k not in done]
        if not item.recipient:
            return DeliveryResult.failed("the contact has no Messenger id to reply to")
        problem = self.rules.reply_problem(item.body, None, clock.utcnow())
        if problem:
            return DeliveryResult.failed(problem)
        kind, problem = self.messaging_type(item, clock.utcnow())
        if kind is None:
            failed = DeliveryResult.failed(problem or "the reply window closed")
            return meta.partial(failed, done, labels, undone)
        message: dict[str, Any] = {
            "text": item.body,
            "metadata": f"{meta.METADATA_PREFIX}{item.idempotency_key}",
        }
        options = (item.message_meta or {}).get("quick_replies")
        if isinstance(options, list) and options:
            # A bot's question with options (chatflows): Messenger's quick replies, at most
            # 13, titles up to 20 characters; the answer comes back as the option's text.
            message["quick_replies"] = [
                {"content_type": "text", "title": str(o)[:20], "payload": str(o)[:1000]}
                for o in options[:13]
            ]
        # Files: uploaded first (nothing reaches the customer yet, so a failure here is an
        # ordinary one), then sent after the text, one message each: a Messenger message
        # holds text or one attachment, not both.
        pending = [f for f in item.file_parts() if f[0] not in done]
        uploaded: list[tuple[str, dict[str, Any]]] = []
        for at, (key, name, content_type, data) in enumerate(pending):
            left = [k for k in ("text",) if k in labels and k not in done]
            left += [f[0] for f in pending[at:]]
            problem = self.rules.file_problem(name, content_type, len(data))
            if problem:
                return meta.partial(DeliveryResult.failed(problem), done, labels, left)
            try:
                attachment = await in_thread(
                    partial(self._upload, (name, content_type, data)), "upload"
                )
            except GraphError as error:
                return meta.partial(meta.upload_result(error), done, labels, left)
            uploaded.append((key, attachment))
        recipient = {"recipient": {"id": item.recipient}, **kind}
        parts = []
        if "text" in labels and "text" not in done:  # a reply of files alone has no text
            parts.append(meta.Part(("text",), {**recipient, "message": message}))
        for key, attachment in uploaded:
            body = {"attachment": attachment, "metadata": message["metadata"]}
            parts.append(meta.Part((key,), {**recipient, "message": body}))
        return await meta.send_parts(
            self.graph,
            f"{self.page_id}/messages",
            parts,
            done,
            labels,
            handover,
            _message_id,
            "Messenger",
        )

    def _upload(self, file: tuple[str, str, bytes]) -> dict[str, Any]:
        """Blocking: one file through the Attachment Upload API; the attachment the Send API
        then takes (`{"type", "payload": {"attachment_id"}}`)."""
        rule = self.rules.file_rule(file[1])
        kind = rule.sends_as if rule is not None else "file"
        message = {"attachment": {"type": kind, "payload": {"is_reusable": False}}}
        answer = self.graph.upload(
            f"{self.page_id}/message_attachments",
            {"message": json.dumps(message)},
            "filedata",
            file,
        )
        attachment_id = answer.get("attachment_id")
        if not isinstance(attachment_id, str | int) or not str(attachment_id):
            raise GraphError(f"Messenger took {file[0]} but gave no attachment id")
        return {"type": kind, "payload": {"attachment_id": str(attachment_id)}}

    async def check(self) -> None:
        try:
            await self.graph.call("GET", self.page_id, params={"fields": "id,name"})
        except GraphError as error:
            raise ChannelError(meta.reason_of(error), transient=False) from error


def _message_id(answer: dict[str, Any]) -> str | None:
    mid = answer.get("message_id")
    return mid if isinstance(mid, str) and mid else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _body(message: dict[str, Any]) -> str:
    text = message.get("text")
    if isinstance(text, str) and text:
        return text
    kinds = [str(a.get("type") or "file") for a in _dicts(message.get("attachments"))]
    if kinds:
        words = [ATTACHMENT_WORDS.get(k, f"a {k}") for k in kinds]
        return f"(sent {', '.join(words)})"
    return ""
