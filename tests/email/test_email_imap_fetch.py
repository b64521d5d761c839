"""The raw FETCH reader against a real Dovecot: bytes exactly as stored, never \\Seen."""

from __future__ import annotations

from datetime import UTC, datetime

from servers.fixtures import Mailbox
from servers.mail import make_mail

from unibox_tui.backends.email.imap_fetch import fetch_bodies, internaldate, sequence_set


def test_bodies_come_back_byte_for_byte_and_unseen(mailbox: Mailbox) -> None:
    tricky = make_mail(
        subject='Quotes " and {braces}',
        body='A line that ends like a literal {12}\r\nand ")" and BODY[] {3}\r\n',
        message_id="<tricky@x>",
    )
    plain = make_mail(message_id="<plain@x>")
    gone = make_mail(message_id="<gone@x>")
    for raw in (tricky, gone, plain):
        mailbox.server.append(mailbox.user, raw)
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search(["ALL"]))
        client.delete_messages([uids[1]])
        client.expunge()
        client.unselect_folder()
        client.select_folder("INBOX", readonly=True)
        found = fetch_bodies(client, uids)
        assert sorted(found) == [uids[0], uids[2]]  # the expunged UID is simply absent
        stored = client.fetch([uids[0], uids[2]], ["BODY.PEEK[]", "FLAGS"])
        for uid in (uids[0], uids[2]):
            raw, when = found[uid]
            assert raw == stored[uid][b"BODY[]"]
            assert when is not None and when.tzinfo is not None
            assert b"\\Seen" not in stored[uid][b"FLAGS"]
        # The connection is still in step: a normal command works after ours.
        assert sorted(client.search(["ALL"])) == [uids[0], uids[2]]


def test_sequence_sets_are_compact() -> None:
    assert sequence_set([5, 1, 2, 3, 7, 9, 10, 3]) == b"1:3,5,7,9:10"
    assert sequence_set([42]) == b"42"


def test_internaldate_reads_the_imap_form() -> None:
    assert internaldate(b"21-Nov-2026 09:05:00 +0100") == datetime(2026, 11, 21, 8, 5, tzinfo=UTC)
    assert internaldate(b" 1-Jan-2026 00:00:00 -0230") == datetime(2026, 1, 1, 2, 30, tzinfo=UTC)
    assert internaldate(b"not a date") is None
