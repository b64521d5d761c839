"""The e-mail channel adapter (backends/base.py): IMAP mail -> `cmd.Incoming`, outbox items
-> SMTP.

It holds no SQL and changes no state: the engine gives it sync state and outbox items from
the core and stores what it returns through core commands. Everything e-mail about a reply
is decided here: the Message-ID (derived from the message's id, so every try sends the same
one), In-Reply-To and References from the conversation's provider ids, the CC list the
customer wrote to, the sender name and signature, and the copy in the Sent folder.
"""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage
from typing import Any

from imapclient import IMAPClient

from ...core.commands import Incoming, IncomingAttachment, Prepared
from ...core.errors import InvalidRequest, UniboxError
from .. import registry
from ..base import (
    AdapterContext,
    ChannelAdapter,
    ChannelConfig,
    DeliveryResult,
    DeliveryUncertain,
    Handover,
    OutboxItem,
    ReceiveReport,
    Store,
    in_thread,
)
from . import tokens
from .errors import ChannelError, channel_error, default_tls_context
from .filters import DENIED, FORWARDED, PARTIAL, UNPARSED, SenderFilter, machine_flags
from .imap import (
    Batch,
    FetchedMessage,
    FolderState,
    FolderSync,
    IdleWatcher,
    ImapAccount,
    SyncReport,
    append_to_folder,
    connect,
    find_sent_folder,
    folder_has_message_id,
    logout,
)
from .mime import ParsedEmail, parse_email
from .parse_worker import parsed_batches
from .settings import SECURITY, EmailSettings
from .smtp import OutgoingMail, Sender, SmtpAccount, build_message, send

UNKNOWN_SENDER = "unknown-sender@unibox.invalid"


class EmailChannel(ChannelAdapter):
    kind = "email"
    rules = registry.rules("email")
    pulls = True
    delivers = True

    def __init__(
        self,
        channel_id: str,
        settings: EmailSettings,
        password: str,
        thread_key: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.channel_id = channel_id
        self.settings = settings
        self._password = password
        self.thread_key = thread_key
        self.ssl_context = ssl_context
        self.filter = SenderFilter.from_lists(settings.allow, settings.deny)
        self.sender = Sender(
            address=settings.from_address,
            company=settings.company,
            name_mode=settings.sender_name,
            signature=settings.signature,
        )
        self._client: IMAPClient | None = None
        self._lock = threading.Lock()  # one IMAP command stream per connection
        # Sent-folder work has its own connection, so a reply is not held up by a long
        # initial sync on the main one.
        self._sent_client: IMAPClient | None = None
        self._sent_lock = threading.Lock()
        self._sent_folder: str | bool | None = False  # False: not looked up yet

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        settings = super().check_settings(settings, address)
        if not address or "@" not in address:
            raise InvalidRequest(f"the address {address!r} is not an e-mail address")
        for key in ("imap_host", "username"):
            if not str(settings.get(key) or "").strip():
                raise InvalidRequest(f"an e-mail channel needs {key.replace('_', ' ')}")
        for key in ("security", "smtp_security"):
            value = settings.get(key) or ""
            if value and value not in SECURITY:
                raise InvalidRequest(f"{key} must be one of {', '.join(SECURITY)}")
        try:
            EmailSettings.from_dict(settings, address)
        except TypeError as error:
            raise InvalidRequest(f"the e-mail settings do not fit: {error}") from None
        return settings

    @classmethod
    def from_channel(cls, channel: ChannelConfig, context: AdapterContext) -> EmailChannel:
        from ...secrets import resolve_secret

        settings = EmailSettings.from_dict(channel.settings, channel.address)
        password = resolve_secret(settings.secret_name(), settings.password_source)
        return cls(
            channel.id, settings, password, context.workspace_key, ssl_context=context.ssl_context
        )

    # --- connections -----------------------------------------------------------------------
    def imap_account(self) -> ImapAccount:
        s = self.settings
        return ImapAccount(
            host=s.imap_host,
            port=s.imap_port_value,
            username=s.username,
            password=self._password,
            security=s.security,
            folder=s.folder,
            ssl_context=self.ssl_context,
        )

    def smtp_account(self) -> SmtpAccount:
        s = self.settings
        return SmtpAccount(
            host=s.smtp_host_value,
            port=s.smtp_port_value,
            username=s.smtp_username or s.username,
            password=self._password,
            security=s.smtp_security_value,
            ssl_context=self.ssl_context,
        )

    def _imap(self) -> IMAPClient:
        if self._client is None:
            self._client = connect(self.imap_account())
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                logout(self._client)
                self._client = None
        with self._sent_lock:
            self._drop_sent_connection()

    def _sent_imap(self) -> IMAPClient:
        if self._sent_client is None:
            self._sent_client = connect(self.imap_account())
        return self._sent_client

    def _drop_sent_connection(self) -> None:
        if self._sent_client is not None:
            logout(self._sent_client)
            self._sent_client = None

    def _drop_connection(self) -> None:
        if self._client is not None:
            logout(self._client)
            self._client = None

    async def check(self) -> None:
        """Log in to IMAP and open the folder, then to SMTP; ChannelError with one clear line."""
        await in_thread(self.check_imap, "imap-check")
        await self.check_smtp()

    def check_imap(self) -> None:
        """Log in to IMAP and open the folder; raises ChannelError with one clear line."""
        client = connect(self.imap_account())
        try:
            client.select_folder(self.settings.folder, readonly=True)
        except Exception as error:
            raise ChannelError(
                f"cannot open folder {self.settings.folder!r} on {self.settings.imap_host}: "
                f"{channel_error(error, 'IMAP', self.settings.imap_host, 0)}"
            ) from None
        finally:
            logout(client)

    async def check_smtp(self) -> None:
        """Connect (and log in) to the SMTP server without sending anything."""
        import aiosmtplib

        account = self.smtp_account()
        smtp = aiosmtplib.SMTP(
            hostname=account.host,
            port=account.port,
            use_tls=account.security == "tls",
            start_tls=account.security == "starttls",
            tls_context=(account.ssl_context or default_tls_context())
            if account.security != "none"
            else None,
            timeout=account.timeout,
        )
        try:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
            if account.username and account.password and smtp.supports_extension("auth"):
                await smtp.login(account.username, account.password)
        except aiosmtplib.SMTPAuthenticationError as error:
            raise ChannelError(
                f"the SMTP server {account.host} refused the login for {account.username} "
                f"({error.code}); check the user name and password",
                transient=False,
            ) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as error:
            raise channel_error(
                error.__cause__ or error, "SMTP", account.host, account.port
            ) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise channel_error(error, "SMTP", account.host, account.port) from None
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except Exception:
                    smtp.close()

    # --- receiving -------------------------------------------------------------------------
    def sync(
        self,
        state: dict[str, Any],
        store: Callable[[Sequence[Incoming | Prepared], dict[str, Any]], None],
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncReport:
        """Fetch what is new since `state` and hand it to `store(items, new_state)` batch by
        batch (the caller stores both in one transaction). Blocking; reuses one connection.
        A connection that fails is dropped, so the next call reconnects.

        The next batches are fetched in a thread while this one is stored; a large sync
        parses in a worker process meanwhile (parse_worker.py says why)."""
        with self._lock:
            try:
                client = self._imap()
                folder = FolderSync(
                    client,
                    self.settings.folder,
                    FolderState.from_dict(state),
                    batch_size=self.settings.batch_size,
                )
                worker_args = (self.channel_id, self.settings, "", self.thread_key)
                batches = _prefetch(folder.batches())
                for items, batch in parsed_batches(batches, self._incoming_batch, worker_args):
                    store(items, batch.state.to_dict())
                    if progress is not None and batch.total:
                        progress(batch.done, batch.total)
                return folder.report
            except ChannelError as error:
                if error.transient:
                    self._drop_connection()
                raise
            except UniboxError:
                raise
            except Exception as error:
                self._drop_connection()
                raise channel_error(error, "IMAP", self.settings.imap_host, 0) from None

    def sync_key(self) -> str:
        return self.settings.sync_key()

    def receive(
        self, state: dict[str, Any], store: Store, progress: Callable[[int, int], None] | None
    ) -> ReceiveReport:
        report = self.sync(state, store, progress)
        return ReceiveReport(report.flag_changes, report.vanished)

    def _incoming_batch(self, messages: list[FetchedMessage]) -> list[Incoming]:
        items = (self._incoming(self.parse(m), m.uid) for m in messages)
        return [item for item in items if item is not None]

    def watcher(self, on_change: Callable[[], object], **options: float) -> IdleWatcher:
        return IdleWatcher(self.imap_account(), on_change, **options)

    def parse(self, fetched: FetchedMessage) -> ParsedEmail:
        return parse_email(
            fetched.raw,
            attachment_limit=self.settings.attachment_limit,
            received_at=fetched.internaldate,
        )

    def to_incoming(self, fetched: FetchedMessage) -> Incoming | None:
        """The core's view of one fetched message; None for our own outgoing mail."""
        return self._incoming(self.parse(fetched), fetched.uid)

    def _incoming(self, parsed: ParsedEmail, uid: int | None) -> Incoming | None:
        if parsed.message_id and tokens.verify(self.thread_key, parsed.message_id):
            return None  # our own reply came back (CC'd to us, or a shared Sent/INBOX)
        return self.incoming_from(parsed, uid=uid)

    def incoming_from(self, parsed: ParsedEmail, uid: int | None = None) -> Incoming:
        flags = set(machine_flags(parsed)) if not parsed.unparsed else {UNPARSED}
        if parsed.partial:
            flags.add(PARTIAL)
        name, address = parsed.from_name, parsed.from_address
        meta: dict[str, Any] = {}
        if parsed.forwarded_from and self.settings.forwarded == "original":
            flags.add(FORWARDED)
            meta["forwarded_by"] = address
            name, address = parsed.forwarded_from
        if address and self.filter.denied(address):
            flags.add(DENIED)
        ours = {self.settings.address.lower(), self.settings.from_address}
        # Everyone else the customer wrote to stays on the conversation and on our replies.
        cc = [
            a
            for a in dict.fromkeys([*parsed.to, *parsed.cc])
            if a not in ours and a != parsed.from_address and a != address
        ]
        if cc:
            meta["cc"] = cc
        if parsed.to:
            meta["to"] = parsed.to
        if uid is not None:
            meta["imap_uid"] = uid
        if parsed.defects:
            meta["defects"] = parsed.defects
        if "list-id" in parsed.headers:
            meta["list_id"] = parsed.headers["list-id"][:200]
        return Incoming(
            channel_id=self.channel_id,
            identity_kind="email",
            identity_value=address or UNKNOWN_SENDER,
            contact_name=name or "",
            body=parsed.text,
            created_at=parsed.date,
            subject=parsed.subject,
            body_html=parsed.html,
            external_id=parsed.external_id,
            references=parsed.thread_ids,
            conversation_hint=tokens.conversation_hint(self.thread_key, parsed.thread_ids),
            flags=frozenset(flags),
            meta=meta,
            attachments=tuple(
                IncomingAttachment(a.filename, a.content_type, a.size, a.data, a.note)
                for a in parsed.attachments
            ),
        )

    # --- sending ---------------------------------------------------------------------------
    def message_id_for(self, message_id: str, conversation_id: str) -> str:
        domain = self.settings.from_address.rpartition("@")[2] or "unibox.invalid"
        return tokens.make_message_id(self.thread_key, message_id, conversation_id, domain)

    def build(self, item: OutboxItem) -> tuple[str, EmailMessage]:
        """(Message-ID, message) for an outbox item; the same item always gives the same id."""
        external_id = self.message_id_for(item.idempotency_key, item.conversation_id)
        meta = item.message_meta
        to = [a for a in meta.get("to") or [item.recipient] if a]
        if not to:
            raise ChannelError("the contact has no e-mail address to reply to", transient=False)
        incoming = [ref for kind, ref in item.thread if kind == "incoming"]
        # The agent's own To / Cc (the composer's fields) replace the defaults: the
        # customer, and everyone the customer wrote to.
        cc = meta["cc"] if "cc" in meta else item.conversation_meta.get("cc")
        mail = OutgoingMail(
            message_id=external_id,
            to=to[0],
            to_name=(item.recipient_name or "") if to[0] == item.recipient else "",
            subject=item.subject,
            body=item.body,
            body_html=item.body_html,
            agent_name=item.author_name or "",
            date=item.created_at,
            cc=tuple(cc or ()),
            in_reply_to=incoming[-1] if incoming else None,
            references=tuple(ref for _kind, ref in item.thread if ref != external_id),
            attachments=tuple(item.attachments or ()),
            also_to=tuple(to[1:]),
            bcc=tuple(meta.get("bcc") or ()),
            forward="forward" in meta,
        )
        return external_id, build_message(mail, self.sender)

    async def send(self, msg: EmailMessage, handover: Handover | None = None) -> None:
        await send(self.smtp_account(), msg, self.settings.from_address, before_data=handover)

    async def deliver(self, item: OutboxItem, handover: Handover) -> DeliveryResult:
        try:
            external_id, msg = self.build(item)
        except ChannelError as error:
            return DeliveryResult.failed(str(error))
        try:
            await self.send(msg, handover)
        except DeliveryUncertain as error:
            return DeliveryResult.uncertain(str(error), external_id)
        except ChannelError as error:
            if error.transient:
                return DeliveryResult.retry(str(error))
            return DeliveryResult.failed(str(error))
        return DeliveryResult.sent(external_id)

    async def after_delivery(self, item: OutboxItem, result: DeliveryResult) -> None:
        """The copy in the Sent folder, once the send is recorded (so saving it never holds
        up the reply's state). Best effort."""
        _external_id, msg = self.build(item)
        await in_thread(lambda: self.save_sent_copy(msg), "sent-copy")

    async def delivered_before(self, item: OutboxItem) -> str | None:
        external_id = self.message_id_for(item.idempotency_key, item.conversation_id)
        found = await in_thread(lambda: self.already_sent(external_id), "sent-check")
        return external_id if found else None

    def sent_folder(self) -> str | None:
        with self._sent_lock:
            return self._find_sent()

    def _find_sent(self) -> str | None:
        if self._sent_folder is False:
            try:
                self._sent_folder = find_sent_folder(self._sent_imap())
            except ChannelError:
                raise
            except Exception as error:
                self._drop_sent_connection()
                raise channel_error(error, "IMAP", self.settings.imap_host, 0) from None
        return self._sent_folder  # type: ignore[return-value]

    def already_sent(self, external_id: str) -> bool:
        """Is a copy with this Message-ID in the Sent folder? (A crash after sending.)"""
        with self._sent_lock:
            folder = self._find_sent()
            if not folder:
                return False
            try:
                return folder_has_message_id(self._sent_imap(), folder, external_id)
            except ChannelError:
                self._drop_sent_connection()
                raise
            except Exception as error:
                self._drop_sent_connection()
                raise channel_error(error, "IMAP", self.settings.imap_host, 0) from None

    def save_sent_copy(self, msg: EmailMessage) -> bool:
        """APPEND to the Sent folder when there is one. Best effort: True when saved."""
        with self._sent_lock:
            try:
                folder = self._find_sent()
                if not folder:
                    return False
                append_to_folder(self._sent_imap(), folder, msg.as_bytes())
                return True
            except Exception:
                self._drop_sent_connection()
                return False


_DONE = object()


def _prefetch(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Fetch the next batches in a thread while the caller parses and stores this one."""
    pipe: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        pipe.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pipe.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            pipe.put(error)

    thread = threading.Thread(target=produce, name="imap-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = pipe.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=120)
        if not thread.is_alive():
            batches.close()  # type: ignore[attr-defined]
