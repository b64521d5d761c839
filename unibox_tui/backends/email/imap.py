"""IMAP in: connect, sync one folder in UID batches, watch it with IDLE, write to Sent.

Blocking code on imapclient; the engine runs it in worker threads. Every socket has a
timeout, so nothing here can block forever.

Sync, per folder, keyed on a small state dict stored by the core with each batch:
  {"uidvalidity", "last_uid" (highest UID stored), "uidnext", "highestmodseq"}
- Nothing changed (same UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ): one SELECT, no fetch. That
  is what keeps a no-change resync flat whatever the mailbox size.
- New mail: `UID SEARCH UID last+1:*`, then `BODY.PEEK[]` (never sets \\Seen) in UID batches.
- Flag changes and expunges: QRESYNC's SELECT reports them (FETCH / VANISHED) when the server
  has it (sent raw: imapclient lacks QRESYNC, see shared/FACTS.md), else a CONDSTORE
  `SEARCH MODSEQ`, else nothing (UID range + FLAGS fetch of the new mail only). The cache
  does not mirror IMAP flags yet, so these are counted in the report, not applied.
- UIDVALIDITY changed: the old UIDs mean nothing; fetch everything again. The core dedupes
  by Message-ID (or a hash of the raw bytes), so no message or conversation is duplicated.
"""

from __future__ import annotations

import imaplib
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from .errors import AuthError, ChannelError, ConnectError, channel_error, default_tls_context
from .imap_fetch import fetch_bodies
from .settings import DEFAULT_BATCH

# RFC 2177: servers may drop an IDLE after 30 minutes; some providers after ~10. Re-issue
# well inside both.
IDLE_RENEW_SECONDS = 8 * 60
SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "INBOX.Sent", "[Gmail]/Sent Mail")


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    security: str = "tls"  # tls | starttls | none
    folder: str = "INBOX"
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def connect(account: ImapAccount) -> IMAPClient:
    """A logged-in client, or a ChannelError with one line saying what is wrong."""
    # Loading the system CA store costs ~15 ms: only when TLS is actually spoken.
    context = None
    if account.security != "none":
        context = account.ssl_context or default_tls_context()
    try:
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=account.security == "tls",
            ssl_context=context if account.security == "tls" else None,
            timeout=SocketTimeout(connect=account.connect_timeout, read=account.read_timeout),
        )
    except Exception as error:
        raise channel_error(error, "IMAP", account.host, account.port) from None
    try:
        if account.security == "starttls":
            client.starttls(context)
        client.login(account.username, account.password)
    except LoginError as error:
        _close(client)
        reason = _text(error)
        raise AuthError(
            f"the IMAP server {account.host} refused the login for {account.username} "
            f"({reason}); check the user name and password"
        ) from None
    except Exception as error:
        _close(client)
        raise channel_error(error, "IMAP", account.host, account.port) from None
    return client


def _text(error: BaseException) -> str:
    text = str(error)
    match = re.search(r"b'(.*)'", text)
    text = match.group(1) if match else text
    text = re.sub(r"\s*\[[^\]]*\d{4}-\d\d-\d\d[^\]]*\]$", "", text)  # Dovecot's session tag
    return " ".join(text.split())[:200] or type(error).__name__


def _close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        pass


def logout(client: IMAPClient) -> None:
    """Log out politely, but never hang or raise on a dead connection."""
    try:
        client.logout()
    except Exception:
        _close(client)


@dataclass
class FolderState:
    uidvalidity: int = 0
    last_uid: int = 0
    uidnext: int = 0
    highestmodseq: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FolderState:
        data = data or {}
        return cls(**{k: int(data.get(k) or 0) for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class FetchedMessage:
    uid: int
    raw: bytes
    internaldate: datetime | None


@dataclass
class Batch:
    messages: list[FetchedMessage]
    state: FolderState  # store this with the batch: the sync resumes after it
    done: int  # messages fetched so far in this sync
    total: int  # messages this sync will fetch


@dataclass
class SyncReport:
    new: int = 0
    flag_changes: int = 0
    vanished: int = 0
    resynced: bool = False  # UIDVALIDITY changed: everything fetched again
    state_changed: bool = False


class FolderSync:
    """One sync pass over one folder on an open connection.

    `for batch in sync.batches(): store(batch)`; `sync.report` afterwards. The generator
    yields at least once when the stored state must change (even with no messages).
    """

    def __init__(
        self, client: IMAPClient, folder: str, state: FolderState, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self.client = client
        self.folder = folder
        self.old = state
        self.batch_size = batch_size
        self.report = SyncReport()

    def _capabilities(self) -> set[bytes]:
        return {c.upper() for c in self.client.capabilities()}

    def _enable(self, caps: set[bytes]) -> str:
        """Turn on QRESYNC (or CONDSTORE) once per connection; returns the mode in use."""
        mode = getattr(self.client, "_unibox_mode", None)
        if mode is not None:
            return mode
        mode = "plain"
        if b"ENABLE" in caps and b"QRESYNC" in caps:
            if b"QRESYNC" in {c.upper() for c in self.client.enable("QRESYNC")}:
                mode = "qresync"
        if mode == "plain" and b"CONDSTORE" in caps:
            if b"ENABLE" in caps:
                self.client.enable("CONDSTORE")
            mode = "condstore"
        self.client._unibox_mode = mode  # type: ignore[attr-defined]
        return mode

    def _select(self, mode: str) -> dict[bytes, Any]:
        imap = self.client._imap
        if mode == "qresync" and self.old.uidvalidity and self.old.highestmodseq:
            imap.untagged_responses.clear()
            # Known UIDs only (RFC 7162 3.2.5): without them the server also sends a FETCH
            # for every message that arrived since, which a large catch-up held in memory
            # (+120 MB at 180k) and counted as flag changes.
            known = f" 1:{self.old.last_uid}" if self.old.last_uid else ""
            typ, data = imap._simple_command(
                "EXAMINE",
                self.client._normalise_folder(self.folder),
                f"(QRESYNC ({self.old.uidvalidity} {self.old.highestmodseq}{known}))",
            )
            if typ != "OK":
                raise ChannelError(f"cannot open folder {self.folder}: {_text(Exception(data))}")
            imap.state = "SELECTED"  # imaplib only tracks this for its own select()
            info = self.client._process_select_response(imap.untagged_responses)
        else:
            info = self.client.select_folder(self.folder, readonly=True)
        # Changes since our modseq (QRESYNC sends them with the SELECT).
        self.report.flag_changes = len(info.get(b"FETCH", []))
        self.report.vanished = sum(_count_uids(v) for v in info.get(b"VANISHED", []))
        imap.untagged_responses.clear()  # do not let them pile up on a long-lived connection
        return info

    def batches(self) -> Iterator[Batch]:
        try:
            yield from self._batches()
        except (ChannelError, GeneratorExit):
            raise
        except (IMAPClientError, OSError, ssl.SSLError) as error:
            raise _connection_error(error) from None

    def _batches(self) -> Iterator[Batch]:
        caps = self._capabilities()
        mode = self._enable(caps)
        info = self._select(mode)
        uidvalidity = int(info.get(b"UIDVALIDITY", 0))
        uidnext = int(info.get(b"UIDNEXT", 0))
        modseq = int(info.get(b"HIGHESTMODSEQ", 0) or 0)
        exists = int(info.get(b"EXISTS", 0))

        old = self.old
        if uidvalidity != old.uidvalidity:
            self.report.resynced = old.uidvalidity != 0
            old = FolderState(uidvalidity=uidvalidity)
        elif mode == "condstore" and old.highestmodseq and modseq > old.highestmodseq:
            known = ["UID", f"1:{old.last_uid}"] if old.last_uid else []
            self.report.flag_changes = len(
                [
                    uid
                    for uid in self.client.search([*known, "MODSEQ", str(old.highestmodseq + 1)])
                    if uid <= old.last_uid
                ]
            )

        state = FolderState(uidvalidity, old.last_uid, uidnext, modseq)
        nothing_new = exists == 0 or (uidnext and uidnext <= old.last_uid + 1)
        uids = [] if nothing_new else self._new_uids(old.last_uid)
        self.report.state_changed = state != self.old or bool(uids)
        if not uids:
            if self.report.state_changed:
                yield Batch([], state, 0, 0)
            return
        done = 0
        for start in range(0, len(uids), self.batch_size):
            chunk = uids[start : start + self.batch_size]
            messages = self._fetch(chunk)
            done += len(chunk)
            self.report.new += len(messages)
            state = FolderState(uidvalidity, chunk[-1], uidnext, modseq)
            yield Batch(messages, state, done, len(uids))

    def _new_uids(self, last_uid: int) -> list[int]:
        # `n:*` always matches the highest UID even when it is below n: filter.
        if b"ESEARCH" in self._capabilities():
            found = self._esearch(f"{last_uid + 1}:*")
        else:
            # One line per SEARCH answer: let imaplib read big mailboxes' (~7 bytes a UID).
            imaplib._MAXLINE = max(imaplib._MAXLINE, 64 * 1024 * 1024)  # type: ignore[attr-defined]
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    def _esearch(self, uid_range: str) -> list[int]:
        """UID SEARCH RETURN (ALL): the answer is a compact set (`1:200000`), where a plain
        SEARCH lists every UID on one line, which imaplib refuses past 1 MB (~150k UIDs).
        Sent raw: imapclient does not parse ESEARCH."""
        imap = self.client._imap
        imap.untagged_responses.pop("ESEARCH", None)
        typ, data = imap.uid("SEARCH", "RETURN", "(ALL)", "UID", uid_range)
        if typ != "OK":
            raise ChannelError(f"IMAP search failed: {_text(Exception(data))}")
        lines = imap.untagged_responses.pop("ESEARCH", [])
        uids: list[int] = []
        for line in lines:
            text = line.decode() if isinstance(line, bytes) else str(line)
            match = re.search(r"\bALL\s+([0-9:,]+)", text)
            if match:
                uids.extend(expand_sequence_set(match.group(1)))
        return uids

    def _fetch(self, uids: list[int]) -> list[FetchedMessage]:
        found = fetch_bodies(self.client, uids)
        # In UID order; a UID expunged meanwhile is simply absent.
        return [FetchedMessage(uid, *found[uid]) for uid in uids if uid in found]


def expand_sequence_set(text: str) -> list[int]:
    """`1:3,7,9:10` -> [1, 2, 3, 7, 9, 10]."""
    out: list[int] = []
    for part in text.split(","):
        if ":" in part:
            low, high = sorted(int(x) for x in part.split(":"))
            out.extend(range(low, high + 1))
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def _count_uids(vanished: bytes | str) -> int:
    text = vanished.decode() if isinstance(vanished, bytes) else str(vanished)
    text = text.replace("(EARLIER)", "").strip()
    total = 0
    for part in text.split(","):
        if ":" in part:
            low, high = (int(x) for x in part.split(":"))
            total += abs(high - low) + 1
        elif part.strip().isdigit():
            total += 1
    return total


def _connection_error(error: BaseException) -> ChannelError:
    if isinstance(error, IMAPClientError) and not isinstance(error, IMAPClient.AbortError):
        return ChannelError(f"IMAP error: {_text(error)}")
    return ConnectError(f"the IMAP connection was lost ({_text(error)}); will reconnect")


# --- IDLE --------------------------------------------------------------------------------


class IdleWatcher:
    """Push: IDLE on a dedicated connection; `on_change()` whenever the folder changes.

    `run()` blocks until `stop()`; it raises ChannelError when the connection fails (the
    caller reconnects with backoff). IDLE is re-issued every `renew_seconds`. Servers
    without IDLE are polled every `poll_seconds` instead.
    """

    def __init__(
        self,
        account: ImapAccount,
        on_change: Callable[[], object],
        *,
        renew_seconds: float = IDLE_RENEW_SECONDS,
        poll_seconds: float = 60.0,
        check_seconds: float = 0.5,
    ) -> None:
        self.account = account
        self.on_change = on_change
        self.renew_seconds = renew_seconds
        self.poll_seconds = poll_seconds
        self.check_seconds = check_seconds
        self.stopped = threading.Event()
        self.idle_started = 0  # count of IDLE commands issued (tests watch the renewals)

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        client = connect(self.account)
        try:
            client.select_folder(self.account.folder, readonly=True)
            if b"IDLE" not in {c.upper() for c in client.capabilities()}:
                self._poll(client)
            else:
                self._idle(client)
        except ChannelError:
            raise
        except (IMAPClientError, OSError, ssl.SSLError) as error:
            raise _connection_error(error) from None
        finally:
            logout(client)

    def _poll(self, client: IMAPClient) -> None:
        while not self.stopped.wait(self.poll_seconds):
            client.noop()
            self.on_change()

    def _idle(self, client: IMAPClient) -> None:
        early_empty = 0
        first = True
        while not self.stopped.is_set():
            client.idle()
            self.idle_started += 1
            if first:
                # Mail that arrived between the caller's last sync and this IDLE raises no
                # event: ask for one sync now that nothing can slip through any more.
                first = False
                self.on_change()
            started = time.monotonic()
            while not self.stopped.is_set():
                wait = min(self.check_seconds, started + self.renew_seconds - time.monotonic())
                if wait <= 0:
                    break
                before = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if responses:
                    early_empty = 0
                    if any(_is_change(r) for r in responses):
                        self.on_change()
                elif time.monotonic() - before < wait / 2:
                    # imapclient swallows EOF and returns []: a readable socket with nothing
                    # to read, twice in a row, is a closed connection.
                    early_empty += 1
                    if early_empty >= 2:
                        raise ConnectError("the IMAP server closed the IDLE connection")
            _, leftover = client.idle_done()  # responses that raced the DONE count too
            if any(_is_change(r) for r in leftover):
                self.on_change()


def _is_change(response: Any) -> bool:
    if not isinstance(response, tuple) or len(response) < 2:
        return False
    kind = response[1]
    if isinstance(kind, bytes) and kind.upper() in (b"EXISTS", b"EXPUNGE", b"FETCH", b"RECENT"):
        return True
    return isinstance(response[0], bytes) and response[0].upper() == b"VANISHED"


# --- Sent folder -------------------------------------------------------------------------


def find_sent_folder(client: IMAPClient) -> str | None:
    """The folder flagged \\Sent (RFC 6154), else a conventionally named one, else None."""
    folders = client.list_folders()
    for flags, _delim, name in folders:
        if b"\\Sent" in flags or b"\\sent" in {f.lower() for f in flags}:
            return name
    names = {name.lower(): name for _f, _d, name in folders}
    for candidate in SENT_NAMES:
        if candidate.lower() in names:
            return names[candidate.lower()]
    return None


def append_to_folder(client: IMAPClient, folder: str, raw: bytes) -> None:
    client.append(folder, raw, flags=(b"\\Seen",))


def folder_has_message_id(client: IMAPClient, folder: str, message_id: str) -> bool:
    client.select_folder(folder, readonly=True)
    return bool(client.search(["HEADER", "Message-ID", f"<{message_id}>"]))
