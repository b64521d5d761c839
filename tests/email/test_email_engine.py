"""The e-mail channel end to end: real Dovecot + real SMTP server -> engine -> core workspace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servers.dovecot import Dovecot
from servers.fixtures import Mailbox
from servers.mail import make_mail, nested
from servers.smtp import SmtpServer
from waiting import until, wait_for

from unibox_tui.backends.email import tokens
from unibox_tui.core import commands as cmd
from unibox_tui.core import outbox
from unibox_tui.core import queries as q
from unibox_tui.core.access import EVERYTHING
from unibox_tui.core.db import Workspace, open_workspace
from unibox_tui.engine import Engine, EngineBusy, OnceReport

PASSWORD_ENV = "UNIBOX_TEST_MAIL_PASSWORD"


@dataclass
class Desk:
    """A workspace with one agent, a Support inbox and an e-mail channel on `box`."""

    ws: Workspace
    path: Path
    box: Mailbox
    smtp: SmtpServer
    channel: str
    agent: str

    def engine(self, **options: object) -> Engine:
        return Engine(self.ws, **options)  # type: ignore[arg-type]

    def once(self, **options: object) -> OnceReport:
        with self.engine(**options) as engine:
            return asyncio.run(engine.run_once())

    def conversations(self) -> list[tuple[str, str, int, str]]:
        with self.ws.read() as conn:
            return conn.exec_driver_sql(
                "SELECT id, subject, message_count, status FROM conversation ORDER BY rid"
            ).all()

    def messages(self) -> list[tuple[str, str, str, str, str]]:
        with self.ws.read() as conn:
            return conn.exec_driver_sql(
                "SELECT conversation_id, kind, external_id, flags, body FROM message "
                "WHERE kind IN ('incoming', 'outgoing') ORDER BY rid"
            ).all()

    def reopen(self) -> None:
        self.ws.close()
        self.ws = open_workspace(self.path)


def make_desk(tmp_path: Path, box: Mailbox, smtp: SmtpServer, **settings: object) -> Desk:
    path = tmp_path / "ws.db"
    ws = open_workspace(path)
    agent = cmd.create_agent(ws, "Ana Lima", "ana", "ana@example.com", role="admin")  # sets it up
    cmd.create_inbox(ws, "Support")
    base: dict[str, object] = {
        "imap_host": box.host,
        "imap_port": box.port,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "security": "none",
        "username": box.user,
        "password_source": f"env:{PASSWORD_ENV}",
        "company": "Acme",
        "signature": "Regards,\n{{agent.name}}",
        "batch_size": 2,
    }
    base.update(settings)
    channel = cmd.add_channel(
        ws, "Support", "email", "Support mail", "support@example.com", settings=base
    )
    return Desk(ws, path, box, smtp, channel, agent)


@pytest.fixture
def desk(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server)
    yield d
    d.ws.close()


CUSTOMER = "Jane Customer <jane@customer.example>"


def test_initial_and_incremental_sync_into_the_cache(desk: Desk) -> None:
    desk.box.server.seed_maildir(
        desk.box.user,
        [
            make_mail(message_id="<a1@customer.example>", subject="Order 1"),
            make_mail(
                message_id="<b1@other.example>",
                sender="Bob <bob@other.example>",
                subject="Invoice",
                html="<p>Invoice <b>please</b></p>",
                attachments=[("scan.pdf", "application/pdf", b"%PDF-1.4 scan")],
            ),
            make_mail(message_id=None, subject="No id at all", sender="c@x.example"),
        ],
    )
    progress: list[tuple[str, int, int]] = []
    report = desk.once(progress=lambda *a: progress.append(a))
    assert report.ok and report.channels[0].new == 3
    assert progress[-1] == ("Support mail", 3, 3)
    assert len(desk.conversations()) == 3
    ids = [m[2] for m in desk.messages()]
    assert ids[:2] == ["a1@customer.example", "b1@other.example"]
    assert ids[2].startswith("sha256:")  # stable id for mail without a Message-ID
    [channel] = q.channels(desk.ws)
    assert channel.status == "ok"
    state = q.sync_state(desk.ws, desk.channel, "imap:INBOX")
    assert state["last_uid"] == 3 and state["uidvalidity"]

    # A second pass with nothing new changes nothing.
    seq = desk.ws.change_seq()
    assert desk.once().channels[0].new == 0
    assert desk.ws.change_seq() == seq

    desk.box.append(
        make_mail(
            message_id="<a2@customer.example>",
            subject="Re: Order 1",
            in_reply_to="<a1@customer.example>",
            references="<a1@customer.example>",
        )
    )
    assert desk.once().channels[0].new == 1
    convs = desk.conversations()
    assert len(convs) == 3 and convs[0][2] == 2  # threaded onto Order 1

    with desk.ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT filename, size, data FROM attachment ORDER BY filename"
        ).first()
    assert row == ("scan.pdf", 13, b"%PDF-1.4 scan")


def test_reply_goes_out_threaded_and_customer_reply_threads_back(desk: Desk) -> None:
    desk.box.append(
        make_mail(
            message_id="<q1@customer.example>",
            cc="Boss <boss@customer.example>",
            subject="Broken blender",
        )
    )
    desk.once()
    [(conv_id, *_rest)] = desk.conversations()
    cmd.reply(desk.ws, conv_id, "Hi Jane,\n\nwe send a new one.", actor="ana")
    report = desk.once()
    assert report.delivery.sent == 1

    [sent] = desk.smtp.messages
    msg = sent.message
    assert msg["In-Reply-To"] == "<q1@customer.example>"
    assert msg["References"] == "<q1@customer.example>"
    assert msg["From"] == "Ana Lima from Acme <support@example.com>"
    assert msg["Subject"] == "Re: Broken blender"
    assert sorted(sent.rcpt_tos) == ["boss@customer.example", "jane@customer.example"]
    assert desk.smtp.logins == [desk.box.user]  # logged in with the channel's credentials
    assert "Regards,\nAna Lima" in msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    our_id = msg["Message-ID"].strip("<>")
    assert tokens.verify(desk.ws.setting(tokens.SETTING_KEY), our_id).conversation_id == conv_id

    # The copy is in Sent; the stored message carries its Message-ID.
    with desk.box.server.client(desk.box.user) as client:
        client.select_folder("Sent", readonly=True)
        assert client.search(["HEADER", "Message-ID", our_id])
    outgoing = [m for m in desk.messages() if m[1] == "outgoing"]
    assert outgoing[0][2] == our_id

    # The customer's client answers our reply: threads by header onto the same conversation.
    desk.box.append(
        make_mail(
            message_id="<q2@customer.example>",
            subject="Re: Re: Broken blender",
            in_reply_to=f"<{our_id}>",
            references=f"<q1@customer.example> <{our_id}>",
        )
    )
    desk.once()
    convs = desk.conversations()
    assert len(convs) == 1 and convs[0][2] == 3


def test_token_threads_a_reply_even_when_the_send_was_never_recorded(desk: Desk) -> None:
    desk.box.append(make_mail(message_id="<t1@customer.example>", subject="Lost update"))
    desk.once()
    [(conv_id, *_r)] = desk.conversations()
    key = desk.ws.setting(tokens.SETTING_KEY)
    # A Message-ID of ours that the database never stored (e.g. another install's).
    unknown = tokens.make_message_id(key, "m-unknown", conv_id, "example.com")
    desk.box.append(
        make_mail(
            message_id="<t2@customer.example>",
            subject="a different subject",
            in_reply_to=f"<{unknown}>",
        )
    )
    desk.once()
    assert [c[0] for c in desk.conversations()] == [conv_id]
    forged = unknown.replace(unknown.split(".")[2], "0" * 16)
    desk.box.append(
        make_mail(message_id="<t3@customer.example>", subject="other", in_reply_to=f"<{forged}>")
    )
    desk.once()
    assert len(desk.conversations()) == 2  # a forged token does not join the conversation


def test_subject_match_is_conservative(desk: Desk) -> None:
    now = datetime.now(UTC)
    desk.box.append(make_mail(message_id="<s1@c.example>", subject="Refund", date=now))
    desk.once()
    # The same customer, same subject, no headers, days later: same conversation.
    desk.box.append(make_mail(message_id="<s2@c.example>", subject="Re: Refund", date=now))
    # Another customer with the same subject: a new conversation.
    desk.box.append(
        make_mail(message_id="<s3@o.example>", subject="Refund", sender="Olga <olga@o.example>")
    )
    desk.once()
    convs = desk.conversations()
    assert [c[2] for c in convs] == [2, 1]


def test_forwarded_mail_is_attributed_to_the_original_sender(desk: Desk) -> None:
    body = (
        "Please help this customer\n\n---------- Forwarded message ---------\n"
        "From: Olga Original <olga@original.example>\nSubject: Where is my parcel\n\n"
        "Hello, where is my parcel?"
    )
    desk.box.append(
        make_mail(
            message_id="<f1@colleague.example>",
            sender="Colleague <colleague@acme.example>",
            subject="Fwd: Where is my parcel",
            body=body,
        )
    )
    desk.once()
    with desk.ws.read() as conn:
        value, flags, meta = conn.exec_driver_sql(
            "SELECT ci.value, m.flags, m.meta FROM message m JOIN contact_identity ci "
            "ON ci.contact_id = m.author_contact_id WHERE m.kind = 'incoming'"
        ).one()
    assert value == "olga@original.example"
    assert "forwarded" in flags
    assert json.loads(meta)["forwarded_by"] == "colleague@acme.example"


def test_forwarder_attribution_when_the_channel_says_so(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server, forwarded="forwarder")
    body = "---------- Forwarded message ---------\nFrom: Olga <olga@original.example>\n\nhi"
    mailbox.append(
        make_mail(sender="Colleague <colleague@acme.example>", subject="Fwd: x", body=body)
    )
    d.once()
    with d.ws.read() as conn:
        value = conn.exec_driver_sql(
            "SELECT ci.value FROM message m JOIN contact_identity ci "
            "ON ci.contact_id = m.author_contact_id WHERE m.kind = 'incoming'"
        ).scalar()
    assert value == "colleague@acme.example"
    d.ws.close()


def test_deny_list_and_machine_mail_are_recorded_but_quiet_and_never_answered(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server, deny=["spam.example"])
    mailbox.append(make_mail(message_id="<d1@spam.example>", sender="x@spam.example"))
    mailbox.append(
        make_mail(
            message_id="<ooo@customer.example>",
            subject="Automatic reply: Order",
            headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
        )
    )
    mailbox.append(
        make_mail(
            message_id="<news@list.example>",
            sender="news@list.example",
            headers={"List-Id": "<news.list.example>", "Precedence": "bulk"},
        )
    )
    report = d.once()
    assert report.channels[0].new == 3
    with d.ws.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT m.external_id, m.flags, c.status, c.waiting FROM message m "
            "JOIN conversation c ON c.id = m.conversation_id ORDER BY m.rid"
        ).all()
    by_id = {r[0]: r for r in rows}
    assert "denied" in by_id["d1@spam.example"][1]
    assert by_id["d1@spam.example"][2] == "closed"  # recorded, kept out of the open views
    assert "auto_reply" in by_id["ooo@customer.example"][1]
    assert not by_id["ooo@customer.example"][3]  # not waiting for an answer
    assert "bulk" in by_id["news@list.example"][1]
    assert smtp_server.messages == [] and report.delivery.sent == 0  # nothing answered them
    d.ws.close()


def test_a_third_party_replying_to_the_customer_is_copied_not_answered(desk: Desk) -> None:
    desk.box.append(make_mail(message_id="<c1@customer.example>", subject="Refund"))
    desk.once()
    desk.box.append(
        make_mail(
            message_id="<x1@evil.example>",
            sender="Mallory <mallory@evil.example>",
            to=CUSTOMER,
            cc="support@example.com",
            subject="Re: Refund",
            references="<c1@customer.example>",
            in_reply_to="<c1@customer.example>",
        )
    )
    desk.once()
    [(conv_id, _subject, count, _status)] = desk.conversations()
    row = q.conversation(desk.ws, conv_id, access=EVERYTHING)
    assert count == 2 and row.identity == "jane@customer.example"
    assert row.cc == ["mallory@evil.example"]
    cmd.reply(desk.ws, conv_id, "Your refund is on its way.", actor="ana")
    assert desk.once().delivery.sent == 1
    [sent] = desk.smtp.messages
    assert sent.message["To"] == "Jane Customer <jane@customer.example>"
    assert sent.message["Cc"] == "mallory@evil.example"
    assert sorted(sent.rcpt_tos) == ["jane@customer.example", "mallory@evil.example"]


def test_a_message_nested_200_levels_deep_is_stored_with_its_text_flagged_and_whole(
    desk: Desk,
) -> None:
    raw = nested(200, "the text at the bottom")
    desk.box.append(raw)
    assert desk.once().channels[0].new == 1
    [(conv_id, _kind, _id, flags, body)] = desk.messages()
    assert body == "the text at the bottom" and flags == "partial"
    [message] = [m for m in q.thread(desk.ws, conv_id, access=EVERYTHING) if m.kind == "incoming"]
    assert [a.filename for a in message.attachments] == ["original.eml"]
    with desk.ws.read() as conn:
        stored = conn.exec_driver_sql("SELECT data FROM attachment").scalar()
    assert stored.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_our_own_mail_coming_back_is_not_ingested(desk: Desk) -> None:
    desk.box.append(make_mail(message_id="<o1@customer.example>"))
    desk.once()
    [(conv_id, *_r)] = desk.conversations()
    cmd.reply(desk.ws, conv_id, "Answer", actor="ana")
    desk.once()
    [sent] = desk.smtp.messages
    desk.box.append(sent.data)  # e.g. we were in CC, or Sent and INBOX are one folder
    report = desk.once()
    assert report.channels[0].new == 0
    assert [m[1] for m in desk.messages()] == ["incoming", "outgoing"]


def test_uidvalidity_reset_resyncs_without_duplicates(
    tmp_path: Path, fresh_dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    monkeypatch.setenv(PASSWORD_ENV, box.password)
    d = make_desk(tmp_path, box, smtp_server)
    fresh_dovecot.seed_maildir(
        box.user,
        [make_mail(message_id=f"<u{i}@c.example>", subject=f"Case {i}") for i in range(5)]
        + [make_mail(message_id=None, subject="anonymous", sender="anon@c.example")],
    )
    d.once()
    before = (d.conversations(), d.messages())
    old = q.sync_state(d.ws, d.channel, "imap:INBOX")["uidvalidity"]
    fresh_dovecot.stop()
    fresh_dovecot.reset_uidvalidity(box.user)
    fresh_dovecot.start()
    box.append(make_mail(message_id="<u-new@c.example>", subject="Case new"))
    report = d.once()
    assert report.channels[0].new == 1  # 7 fetched again; only the new one was stored
    state = q.sync_state(d.ws, d.channel, "imap:INBOX")
    assert state["uidvalidity"] != old
    assert len(d.messages()) == len(before[1]) + 1
    assert len(d.conversations()) == len(before[0]) + 1
    assert d.messages()[: len(before[1])] == before[1]
    d.ws.close()


def test_server_killed_mid_sync_then_restarted_gives_the_same_state(
    tmp_path: Path, fresh_dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    monkeypatch.setenv(PASSWORD_ENV, box.password)
    mails = [
        make_mail(
            message_id=f"<k{i}@c.example>",
            subject=f"Case {i % 7}",
            sender=f"c{i % 5}@c.example",
            body=f"body {i} " + "x" * 3000,
        )
        for i in range(120)
    ]
    fresh_dovecot.seed_maildir(box.user, mails)
    d = make_desk(tmp_path, box, smtp_server, batch_size=10)

    killed = []

    def kill_after_some(name: str, done: int, total: int) -> None:
        if done >= 30 and not killed:
            killed.append(done)
            fresh_dovecot.kill()

    first = d.once(progress=kill_after_some)
    assert killed and first.channels[0].error is not None
    assert "\n" not in first.channels[0].error
    [channel] = q.channels(d.ws)
    assert channel.status == first.channels[0].error  # the agent sees why
    partial = len(d.messages())
    assert 30 <= partial < 120

    fresh_dovecot.start()
    second = d.once()
    assert second.ok
    assert len(d.messages()) == 120
    assert len({m[2] for m in d.messages()}) == 120  # no duplicates

    # The same mailbox synced cleanly from scratch gives the same threads.
    clean = make_desk(tmp_path / "clean", box, smtp_server, batch_size=50)
    clean.once()

    def shape(desk: Desk) -> list[tuple[str, ...]]:
        with desk.ws.read() as conn:
            return sorted(
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT group_concat(m.external_id, ' ') FROM message m "
                    "WHERE m.kind = 'incoming' GROUP BY m.conversation_id"
                ).all()
            )

    assert shape(d) == shape(clean)
    assert q.channels(d.ws)[0].status == "ok"
    d.ws.close()
    clean.ws.close()


def _queue_reply(desk: Desk) -> str:
    desk.box.append(make_mail(message_id="<r1@customer.example>", subject="Need help"))
    desk.once()
    [(conv_id, *_r)] = desk.conversations()
    return cmd.reply(desk.ws, conv_id, "Here is the help.", actor="ana")


def _delivery(desk: Desk, message_id: str) -> tuple[str, str | None]:
    with desk.ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT delivery_state, delivery_error FROM message WHERE id = ?", (message_id,)
        ).one()


def test_smtp_451_then_250_sends_exactly_once_across_a_restart(desk: Desk) -> None:
    message_id = _queue_reply(desk)
    desk.smtp.script(["451 4.7.1 Greylisted, try again later"])
    first = desk.once()
    assert first.delivery.retrying == 1 and desk.smtp.messages == []
    state, error = _delivery(desk, message_id)
    assert state == "queued" and "451" in (error or "")

    # unibox stops and starts again: the retry is still owed, and not due yet.
    desk.reopen()
    assert desk.once().delivery.sent == 0
    later = datetime.now(UTC) + timedelta(minutes=5)
    second = desk.once(now=lambda: later)
    assert second.delivery.sent == 1
    assert len(desk.smtp.messages) == 1
    assert _delivery(desk, message_id) == ("sent", None)
    # And never again, however often the engine runs.
    desk.once(now=lambda: later + timedelta(hours=2))
    assert len(desk.smtp.messages) == 1
    assert desk.smtp.handler.attempts == 2  # one 451, one 250


def test_smtp_550_marks_failed_with_the_reason(desk: Desk) -> None:
    message_id = _queue_reply(desk)
    desk.smtp.script(["550 5.1.1 <jane@customer.example>: Recipient address rejected"])
    report = desk.once()
    assert report.delivery.failed == 1
    state, error = _delivery(desk, message_id)
    assert state == "failed"
    assert "550 5.1.1" in (error or "") and "Recipient address rejected" in (error or "")
    later = datetime.now(UTC) + timedelta(days=1)
    desk.once(now=lambda: later)
    assert desk.smtp.messages == [] and desk.smtp.handler.attempts == 1


def test_smtp_server_down_retries_later(desk: Desk) -> None:
    message_id = _queue_reply(desk)
    desk.smtp.stop()
    report = desk.once()
    assert report.delivery.retrying == 1
    assert _delivery(desk, message_id)[0] == "queued"
    desk.smtp.start()
    desk.once(now=lambda: datetime.now(UTC) + timedelta(minutes=5))
    assert len(desk.smtp.messages) == 1


def test_crash_after_sending_is_not_sent_again(desk: Desk) -> None:
    """The engine sent the reply, saved the copy to Sent, then died before recording it."""
    message_id = _queue_reply(desk)
    with desk.engine() as engine:
        [item] = outbox.due(desk.ws, datetime.now(UTC), kinds=("email",))
        [row] = engine.channels()
        adapter = engine.adapter(row)
        _external_id, msg = adapter.build(item)
        assert outbox.claim(desk.ws, item.entry_id)
        asyncio.run(adapter.send(msg))
        adapter.save_sent_copy(msg)
        # ... crash: mark_sent never ran.
    assert len(desk.smtp.messages) == 1
    desk.reopen()
    assert desk.once().delivery.sent == 0  # still leased to the engine that died
    report = desk.once(now=lambda: datetime.now(UTC) + timedelta(minutes=6))  # lease over
    assert report.delivery.sent == 1
    assert len(desk.smtp.messages) == 1  # found in Sent: not sent again
    assert _delivery(desk, message_id) == ("sent", None)


def test_disabled_channel_sends_and_ingests_nothing(desk: Desk) -> None:
    _queue_reply(desk)
    cmd.set_channel_enabled(desk.ws, desk.channel, False)
    desk.box.append(make_mail(message_id="<late@customer.example>"))
    report = desk.once()
    assert report.channels == [] and report.delivery.sent == 0
    assert desk.smtp.messages == []
    assert len(desk.messages()) == 2  # the first mail and the queued reply only
    cmd.set_channel_enabled(desk.ws, desk.channel, True)
    assert desk.once().delivery.sent == 1


def test_only_one_engine_per_workspace(desk: Desk) -> None:
    with desk.engine(), pytest.raises(EngineBusy), desk.engine():
        pass


def test_wrong_password_shows_in_the_channel_status(
    tmp_path: Path, fresh_dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Mailbox(fresh_dovecot, fresh_dovecot.add_user())
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    d = make_desk(tmp_path, box, smtp_server)
    report = d.once()
    error = report.channels[0].error or ""
    assert "refused the login" in error and "not-the-password" not in error
    assert q.channels(d.ws)[0].status == error
    monkeypatch.delenv(PASSWORD_ENV)
    report = d.once()
    assert "environment variable" in (report.channels[0].error or "")
    d.ws.close()


async def test_continuous_engine_pushes_new_mail(desk: Desk) -> None:
    """With polling set to a minute, new mail still arrives: IDLE pushes it (how fast:
    benchmarks/email_sync.py, push latency)."""
    stop = asyncio.Event()
    with desk.engine(poll_seconds=60) as engine:
        task = asyncio.create_task(engine.run(stop))
        try:
            await until(
                lambda: engine._watchers and all(w.idle_started for w in engine._watchers),
                what="the engine's IDLE is in place",
            )
            for n in range(3):
                await asyncio.to_thread(
                    desk.box.append, make_mail(message_id=f"<live{n}@customer.example>")
                )
                await until(lambda n=n: len(desk.messages()) > n, what=f"message {n} pushed")
            assert len(desk.messages()) == 3

            # A reply queued meanwhile (e.g. by the CLI) is delivered by the running engine.
            [(conv_id, *_r)] = desk.conversations()[:1]
            cmd.reply(desk.ws, conv_id, "On it", actor="ana")
            await until(lambda: desk.smtp.messages, what="the running engine sent the reply")
            assert len(desk.smtp.messages) == 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


def test_corpus_and_malformed_mail_are_all_ingested_never_dropped(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.mail import CORPUS, MALFORMED

    from unibox_tui.backends.email.mime import parse_email

    corpus = sorted(CORPUS.glob("msg_*.txt"))
    if not corpus:
        pytest.skip(f"CPython's e-mail test corpus is not installed here (looked in {CORPUS})")
    raws = [p.read_bytes() for p in corpus] + [raw for raw in MALFORMED.values() if raw]
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server, batch_size=25)
    mailbox.server.seed_maildir(mailbox.user, raws)
    report = d.once()
    assert report.ok, report.channels
    # Every distinct message is stored (mail repeating a Message-ID is one message). Mail
    # without one is known by a hash of its bytes, which the server may normalise (bare CR,
    # NUL), so those are counted rather than matched.
    expected = {parse_email(raw).external_id for raw in raws}
    stored = d.messages()
    named = {i for i in expected if not i.startswith("sha256:")}
    assert {m[2] for m in stored if not m[2].startswith("sha256:")} == named
    assert len(stored) == len(expected)
    assert any("unparsed" in m[3] for m in stored)  # kept raw and flagged
    d.ws.close()


def test_background_engine_for_the_app(desk: Desk) -> None:
    from unibox_tui.engine import BackgroundEngine

    engine = BackgroundEngine(desk.ws, poll_seconds=60)
    engine.start()
    try:
        assert engine.running and engine.error is None
        desk.box.append(make_mail(message_id="<bg@customer.example>"))
        wait_for(desk.messages, what="the background engine stored the mail")
        assert len(desk.messages()) == 1
        second = BackgroundEngine(desk.ws)
        second.start()
        second.stop()
        assert isinstance(second.error, EngineBusy)  # one engine per workspace
    finally:
        engine.stop()
    assert not engine.running


def test_backends_and_engine_do_not_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, unibox_tui.engine, unibox_tui.cli_channels, "
        "unibox_tui.backends.email.channel; "
        "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) "
        "else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def test_without_a_sent_folder_the_reply_still_goes_out(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Dovecot(sent_folder=False)
    server.start()
    try:
        box = Mailbox(server, server.add_user())
        monkeypatch.setenv(PASSWORD_ENV, box.password)
        d = make_desk(tmp_path, box, smtp_server)
        box.append(make_mail(message_id="<ns@customer.example>"))
        d.once()
        [(conv_id, *_r)] = d.conversations()
        cmd.reply(d.ws, conv_id, "Sent without a Sent folder", actor="ana")
        assert d.once().delivery.sent == 1
        assert len(smtp_server.messages) == 1
        with server.client(box.user) as client:
            assert [f[2] for f in client.list_folders()] == ["INBOX"]  # nothing created
        d.ws.close()
    finally:
        server.close()


def test_a_large_sync_parses_in_the_worker_and_threads_the_same(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unibox_tui.backends.email import parse_worker

    monkeypatch.setattr(parse_worker, "MIN_MESSAGES", 1)  # a test-sized sync uses the worker
    mails = []
    for t in range(10):
        ids = [f"<t{t}m{n}@customer.example>" for n in range(3)]
        for n, mid in enumerate(ids):
            mails.append(
                make_mail(
                    message_id=mid,
                    subject=("Re: " if n else "") + f"Case {t}",
                    in_reply_to=ids[n - 1] if n else None,
                    references=" ".join(ids[:n]) or None,
                    sender=f"Customer {t} <c{t}@customer.example>",
                )
            )
    desk.box.server.seed_maildir(desk.box.user, mails)
    progress: list[tuple[str, int, int]] = []
    report = desk.once(progress=lambda *a: progress.append(a))
    assert report.ok and report.channels[0].new == 30
    assert progress[-1] == ("Support mail", 30, 30)
    convs = desk.conversations()
    assert sorted((subject, count) for _, subject, count, _ in convs) == sorted(
        (f"Case {t}", 3) for t in range(10)
    )
    assert len({m[2] for m in desk.messages()}) == 30
    assert q.sync_state(desk.ws, desk.channel, "imap:INBOX")["last_uid"] == 30
    assert desk.once().channels[0].new == 0
