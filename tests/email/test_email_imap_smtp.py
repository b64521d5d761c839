"""IMAP sync, IDLE and SMTP send against a real Dovecot and a real aiosmtpd (no core)."""

from __future__ import annotations

import ssl
import threading
from datetime import UTC, datetime

import pytest
from servers.dovecot import Dovecot, free_port
from servers.fixtures import Mailbox
from servers.mail import make_mail
from servers.smtp import SmtpServer
from waiting import wait_for

from unibox_tui.backends.email.errors import (
    AuthError,
    CertificateError,
    ChannelError,
    ConnectError,
    PermanentSendError,
)
from unibox_tui.backends.email.imap import (
    FolderState,
    FolderSync,
    IdleWatcher,
    ImapAccount,
    append_to_folder,
    connect,
    find_sent_folder,
    folder_has_message_id,
    logout,
)
from unibox_tui.backends.email.smtp import (
    OutgoingMail,
    Sender,
    SmtpAccount,
    build_message,
    send,
)


def account(box: Mailbox, **over: object) -> ImapAccount:
    base = dict(host=box.host, port=box.port, username=box.user, password=box.password)
    base["security"] = "none"
    base.update(over)
    return ImapAccount(**base)  # type: ignore[arg-type]


def sync_all(box: Mailbox, state: FolderState, batch_size: int = 3):
    client = connect(account(box))
    try:
        sync = FolderSync(client, "INBOX", state, batch_size=batch_size)
        batches = list(sync.batches())
        return batches, sync.report
    finally:
        logout(client)


def test_initial_then_incremental_sync_never_sets_seen(mailbox: Mailbox) -> None:
    mailbox.server.seed_maildir(mailbox.user, [make_mail(message_id=f"<s{i}@x>") for i in range(7)])
    batches, report = sync_all(mailbox, FolderState())
    assert [len(b.messages) for b in batches] == [3, 3, 1]
    assert [b.done for b in batches] == [3, 6, 7] and batches[-1].total == 7
    assert report.new == 7 and not report.resynced
    state = batches[-1].state
    assert state.last_uid == 7 and state.uidvalidity and state.highestmodseq
    assert b"Message-ID: <s0@x>" in batches[0].messages[0].raw
    assert batches[0].messages[0].internaldate is not None

    # Nothing new: one SELECT, nothing fetched, nothing to store.
    again, report = sync_all(mailbox, state)
    assert again == [] and report.new == 0 and not report.state_changed

    mailbox.append(make_mail(message_id="<s7@x>"))
    mailbox.append(make_mail(message_id="<s8@x>"))
    more, report = sync_all(mailbox, state)
    assert [m.uid for b in more for m in b.messages] == [8, 9]
    assert report.new == 2

    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search())
    assert all(b"\\Seen" not in f for f in flags.values())  # BODY.PEEK[] only


def test_qresync_reports_flag_changes_and_expunges(mailbox: Mailbox) -> None:
    mailbox.server.seed_maildir(mailbox.user, [make_mail(message_id=f"<q{i}@x>") for i in range(4)])
    batches, _ = sync_all(mailbox, FolderState())
    state = batches[-1].state
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        client.add_flags([1], [b"\\Flagged"])
        client.delete_messages([2])
        client.expunge()
    changed, report = sync_all(mailbox, state)
    assert report.vanished == 1
    assert report.flag_changes == 1
    assert changed and changed[-1].state.highestmodseq > state.highestmodseq
    assert all(not b.messages for b in changed)
    # Mail that arrived meanwhile is new mail, not a flag change: only the UIDs we already
    # have are asked about (the server used to send a FETCH for each new one too, all held
    # in memory during a large catch-up).
    for i in range(3):
        mailbox.append(make_mail(message_id=f"<q-new{i}@x>"))
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        client.add_flags([3], [b"\\Flagged"])
    later, report = sync_all(mailbox, changed[-1].state)
    assert [len(b.messages) for b in later] == [3] and report.new == 3
    assert report.flag_changes == 1 and report.vanished == 0


def test_uidvalidity_change_refetches_everything(mailbox: Mailbox) -> None:
    mailbox.server.seed_maildir(mailbox.user, [make_mail(message_id=f"<v{i}@x>") for i in range(3)])
    batches, _ = sync_all(mailbox, FolderState())
    state = batches[-1].state
    mailbox.server.reset_uidvalidity(mailbox.user)
    again, report = sync_all(mailbox, state)
    assert report.resynced
    assert again[-1].state.uidvalidity != state.uidvalidity
    assert sorted(m.raw.split(b"Message-ID: ")[1][:6] for b in again for m in b.messages) == [
        b"<v0@x>",
        b"<v1@x>",
        b"<v2@x>",
    ]


def _watch(box: Mailbox, **options: float) -> tuple[IdleWatcher, threading.Thread, list[float]]:
    changes: list[float] = []
    watcher = IdleWatcher(account(box), lambda: changes.append(1.0), **options)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    wait_for(lambda: changes, what="the catch-up signal once IDLE is in place")
    assert watcher.idle_started >= 1
    assert len(changes) == 1
    changes.clear()
    return watcher, thread, changes


def test_idle_pushes_each_new_message(mailbox: Mailbox) -> None:
    """Each APPEND is reported while IDLE waits (how fast: benchmarks/email_sync.py, push
    latency)."""
    watcher, thread, changes = _watch(mailbox)
    try:
        for n in range(3):
            mailbox.append(make_mail(message_id=f"<push{n}@x>"))
            wait_for(lambda n=n: len(changes) > n, what=f"IDLE reported message {n}")
    finally:
        watcher.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_idle_is_reissued_and_still_reports(mailbox: Mailbox) -> None:
    watcher, thread, changes = _watch(mailbox, renew_seconds=0.4)
    try:
        # Renewed on schedule, and the connection is still good.
        wait_for(lambda: watcher.idle_started >= 3, what="IDLE issued three times")
        mailbox.append(make_mail(message_id="<after-renew@x>"))
        wait_for(lambda: changes, what="IDLE reported the message after renewals")
    finally:
        watcher.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_idle_raises_when_the_server_dies(fresh_dovecot: Dovecot) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    errors: list[BaseException] = []
    watcher = IdleWatcher(account(box), lambda: None, check_seconds=0.3)

    def run() -> None:
        try:
            watcher.run()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: watcher.idle_started >= 1, what="IDLE in place")
    fresh_dovecot.kill()
    thread.join(10)
    watcher.stop()
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], ChannelError)
    assert errors[0].transient


def test_connection_errors_are_one_clear_line(fresh_dovecot: Dovecot) -> None:
    mailbox = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    with pytest.raises(AuthError) as wrong:
        connect(account(mailbox, password="wrong"))
    message = str(wrong.value)
    assert "refused the login" in message and "\n" not in message and "wrong" not in message
    assert not wrong.value.transient

    closed_port = free_port()
    with pytest.raises(ConnectError) as unreachable:
        connect(account(mailbox, port=closed_port, connect_timeout=3))
    assert "refused the connection" in str(unreachable.value)

    with pytest.raises(CertificateError) as untrusted:
        connect(account(mailbox, port=mailbox.server.tls_port, security="tls"))
    assert "not trusted" in str(untrusted.value) and "\n" not in str(untrusted.value)

    with pytest.raises(CertificateError) as plain_port:
        connect(account(mailbox, security="tls"))  # TLS spoken to the plain-text port
    assert "TLS with" in str(plain_port.value)


def test_tls_with_a_trusted_certificate_works(mailbox: Mailbox) -> None:
    context = ssl.create_default_context(cafile=str(mailbox.server.root / "cert.pem"))
    context.check_hostname = False  # the throw-away cert names unibox-test.invalid
    client = connect(
        account(mailbox, port=mailbox.server.tls_port, security="tls", ssl_context=context)
    )
    assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    logout(client)


def test_sent_folder_append_and_lookup(mailbox: Mailbox) -> None:
    client = connect(account(mailbox))
    try:
        folder = find_sent_folder(client)
        assert folder == "Sent"
        assert not folder_has_message_id(client, folder, "abc@unibox.invalid")
        append_to_folder(client, folder, make_mail(message_id="<abc@unibox.invalid>"))
        assert folder_has_message_id(client, folder, "abc@unibox.invalid")
    finally:
        logout(client)


# --- SMTP ---------------------------------------------------------------------------------

SENDER = Sender(
    address="support@example.com",
    company="Acme",
    signature="Best regards,\n{{agent.name}}\nAcme Support",
)


def outgoing(**over: object) -> OutgoingMail:
    base: dict[str, object] = dict(
        message_id="m1.c1.0123456789abcdef@example.com",
        to="jane@customer.example",
        to_name="Jane Customer",
        subject="Order 1234 has not arrived",
        body="Hi Jane,\n\nit ships today.",
        agent_name="Ana Agent",
        date=datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
        cc=("boss@customer.example", "support@example.com"),
        in_reply_to="m1@customer.example",
        references=("m0@customer.example", "m1@customer.example"),
        attachments=(("label.pdf", "application/pdf", b"%PDF-1.4"),),
    )
    base.update(over)
    return OutgoingMail(**base)  # type: ignore[arg-type]


def smtp_account(server: SmtpServer) -> SmtpAccount:
    return SmtpAccount(server.host, server.port, None, None, security="none", timeout=5)


def test_built_reply_has_threading_headers_sender_and_parts() -> None:
    msg = build_message(outgoing(), SENDER)
    assert msg["From"] == "Ana Agent from Acme <support@example.com>"
    assert msg["To"] == "Jane Customer <jane@customer.example>"
    assert msg["Cc"] == "boss@customer.example"  # our own address is not CC'd
    assert msg["Subject"] == "Re: Order 1234 has not arrived"
    assert msg["Message-ID"] == "<m1.c1.0123456789abcdef@example.com>"
    assert msg["In-Reply-To"] == "<m1@customer.example>"
    assert msg["References"] == "<m0@customer.example> <m1@customer.example>"
    text = msg.get_body(("plain",)).get_content()
    assert "it ships today." in text and "-- \nBest regards,\nAna Agent\nAcme Support" in text
    html = msg.get_body(("html",)).get_content()
    assert "<p>Hi Jane,</p>" in html and "Ana Agent" in html
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == ["label.pdf"]
    company_only = Sender("support@example.com", "Acme", name_mode="company")
    assert build_message(outgoing(), company_only)["From"] == "Acme <support@example.com>"


async def test_smtp_send_delivers_to_to_and_cc(smtp_server: SmtpServer) -> None:
    msg = build_message(outgoing(), SENDER)
    await send(smtp_account(smtp_server), msg, "support@example.com")
    [received] = smtp_server.messages
    assert received.mail_from == "support@example.com"
    assert sorted(received.rcpt_tos) == ["boss@customer.example", "jane@customer.example"]
    assert received.message["Message-ID"] == "<m1.c1.0123456789abcdef@example.com>"


async def test_smtp_4xx_is_transient_and_5xx_permanent(smtp_server: SmtpServer) -> None:
    msg = build_message(outgoing(), SENDER)
    smtp_server.script(["451 4.3.0 Mailbox busy, try later", "550 5.1.1 No such user here"])
    with pytest.raises(ChannelError) as soft:
        await send(smtp_account(smtp_server), msg, "support@example.com")
    assert soft.value.transient and "451" in str(soft.value)
    with pytest.raises(PermanentSendError) as hard:
        await send(smtp_account(smtp_server), msg, "support@example.com")
    assert not hard.value.transient and "550 5.1.1 No such user here" in str(hard.value)
    assert smtp_server.messages == []


async def test_smtp_unreachable_and_dropped_are_transient(smtp_server: SmtpServer) -> None:
    msg = build_message(outgoing(), SENDER)
    smtp_server.script(["drop"])
    with pytest.raises(ChannelError) as dropped:
        await send(smtp_account(smtp_server), msg, "support@example.com")
    assert dropped.value.transient
    smtp_server.stop()
    with pytest.raises(ChannelError) as down:
        await send(smtp_account(smtp_server), msg, "support@example.com")
    assert down.value.transient and "\n" not in str(down.value)


@pytest.mark.parametrize(
    ("capabilities", "mode"),
    [
        ("IMAP4rev1 LITERAL+ ENABLE CONDSTORE IDLE UIDPLUS", "condstore"),
        ("IMAP4rev1 LITERAL+ UIDPLUS", "plain"),
    ],
)
def test_older_servers_sync_with_the_fallbacks(capabilities: str, mode: str) -> None:
    server = Dovecot(extra_config=f"imap_capability = {capabilities}")
    server.start()
    try:
        box = Mailbox(server, server.add_user())
        server.seed_maildir(box.user, [make_mail(message_id=f"<o{i}@x>") for i in range(5)])
        client = connect(account(box))
        try:
            first = FolderSync(client, "INBOX", FolderState(), batch_size=2)
            batches = list(first.batches())
            assert client._unibox_mode == mode  # type: ignore[attr-defined]
            assert first.report.new == 5
            state = batches[-1].state
            with server.client(box.user) as other:
                other.select_folder("INBOX")
                other.add_flags([1], [b"\\Flagged"])
                other.append("INBOX", make_mail(message_id="<o-new@x>"))
            again = FolderSync(client, "INBOX", state)
            new = [m.uid for b in again.batches() for m in b.messages]
            assert new == [6]
            if mode == "condstore":
                assert again.report.flag_changes == 1  # SEARCH MODSEQ: not the new mail
        finally:
            logout(client)
    finally:
        server.close()


def test_without_idle_the_watcher_polls() -> None:
    server = Dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS")
    server.start()
    try:
        box = Mailbox(server, server.add_user())
        changes: list[float] = []
        watcher = IdleWatcher(account(box), lambda: changes.append(1.0), poll_seconds=0.2)
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        wait_for(lambda: len(changes) >= 2, what="two polls reported")
        watcher.stop()
        thread.join(5)
        assert not thread.is_alive()
        assert watcher.idle_started == 0 and len(changes) >= 2
    finally:
        server.close()


def test_sequence_sets_expand() -> None:
    from unibox_tui.backends.email.imap import expand_sequence_set

    assert expand_sequence_set("1:3,7,10:9") == [1, 2, 3, 7, 9, 10]
    assert expand_sequence_set("") == []
