"""Threading that does not depend on arrival order, against a real Dovecot: a mailbox whose
replies come before their parents (appended newest first, so UIDs run against the dates),
synced by the engine in small batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servers.fixtures import Mailbox
from servers.mail import make_mail
from servers.smtp import SmtpServer

from tests.core.test_view_counts import assert_counts_right
from tests.email.test_email_engine import PASSWORD_ENV, Desk, make_desk

T = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PEOPLE = {
    "customer": "Jane Customer <jane{t}@customer.example>",
    "colleague": "Kim Colleague <kim{t}@customer.example>",
    "partner": "Pat Partner <pat{t}@partner.example>",
}
# Each thread: (key, parent keys newest first, who). b answers a; c answers b with the
# whole chain; d answers a with In-Reply-To only; e answers d.
SHAPE = [
    ("a", (), "customer"),
    ("b", ("a",), "colleague"),
    ("c", ("b", "a"), "customer"),
    ("d", ("a",), "partner"),
    ("e", ("d",), "colleague"),
]
THREADS = 6


def thread_mail(t: int) -> list[bytes]:
    mails = []
    for n, (key, parents, who) in enumerate(SHAPE):
        ids = [f"<{p}{t}@mail.example>" for p in parents]
        mails.append(
            make_mail(
                message_id=f"<{key}{t}@mail.example>",
                sender=PEOPLE[who].format(t=t),
                subject=("Re: " if parents else "") + f"Case {t}",
                body=f"{key} of case {t}",
                in_reply_to=ids[0] if ids else None,
                references=" ".join(reversed(ids)) or None,
                date=T + timedelta(hours=t, minutes=10 * n),
            )
        )
    return mails


@pytest.fixture
def desk(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    d = make_desk(tmp_path, mailbox, smtp_server)  # batches of 2: many transactions
    yield d
    d.ws.close()


@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "parse-worker"])
def test_replies_fetched_before_their_parents_thread_into_one_conversation(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, worker: bool
) -> None:
    if worker:
        from unibox_tui.backends.email import parse_worker

        monkeypatch.setattr(parse_worker, "MIN_MESSAGES", 1)
    every = [mail for t in range(THREADS) for mail in thread_mail(t)]
    for mail in reversed(every):  # the newest mail gets the lowest UID
        desk.box.append(mail)
    report = desk.once()
    assert report.ok and report.channels[0].new == THREADS * len(SHAPE)
    convs = desk.conversations()
    # One conversation per thread, all of it there, under the thread's first subject.
    assert sorted((subject, count) for _, subject, count, _ in convs) == sorted(
        (f"Case {t}", len(SHAPE)) for t in range(THREADS)
    )
    with desk.ws.read() as conn:
        per_conv = conn.exec_driver_sql(
            "SELECT conversation_id, group_concat(body, '|') FROM "
            "(SELECT conversation_id, trim(body, char(13, 10)) AS body FROM message "
            "WHERE kind = 'incoming' ORDER BY created_at) "
            "GROUP BY conversation_id"
        ).all()
        # No orphan: every conversation row holds messages, and no thread is split.
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM conversation c WHERE NOT EXISTS "
                "(SELECT 1 FROM message m WHERE m.conversation_id = c.id)"
            ).scalar()
            == 0
        )
        started = conn.exec_driver_sql(
            "SELECT subject, created_at FROM conversation ORDER BY subject"
        ).all()
    assert sorted(bodies for _, bodies in per_conv) == sorted(
        "|".join(f"{key} of case {t}" for key, _, _ in SHAPE) for t in range(THREADS)
    )
    assert [s for s, _ in started] == sorted(f"Case {t}" for t in range(THREADS))
    assert_counts_right(desk.ws, [None, desk.agent])
    # The next sync has nothing to do, and a late reply joins its thread.
    assert desk.once().channels[0].new == 0
    desk.box.append(
        make_mail(
            message_id="<late0@mail.example>",
            sender="Someone New <new@elsewhere.example>",
            subject="Re: Case 0",
            in_reply_to="<e0@mail.example>",
            date=T + timedelta(days=1),
        )
    )
    assert desk.once().channels[0].new == 1
    assert len(desk.conversations()) == THREADS
