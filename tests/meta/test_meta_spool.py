"""A webhook answered 200 is stored even when the hub stops before storing it: the body is
in the webhook spool (hub/meta_spool.py) before the answer, and a hub that starts again
stores it, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from waiting import wait_for

from unibox_tui.hub.meta_spool import HEADER, Spool

from . import test_whatsapp as wa


def test_an_answered_webhook_survives_a_killed_hub(make_world) -> None:  # type: ignore[no-untyped-def]
    w = make_world()
    wa.customer_writes(w)
    # The test holds the workspace's write lock: the hub can answer, not store.
    lock = sqlite3.connect(w.db, timeout=30, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        assert w.post("whatsapp", wa.text(w, "wamid.KILLED1", "Did you get this?")) == 200
        spool = w.db.with_name(w.db.name + ".webhooks")
        wait_for(lambda: spool.stat().st_size > 0, what="the body is in the spool")
        w.hub.kill()  # SIGKILL: nothing runs after this
    finally:
        lock.rollback()
        lock.close()
    assert w.rows("SELECT count(*) FROM message WHERE external_id = 'wamid.KILLED1'") == [(0,)]
    w.hub.start()
    wait_for(
        lambda: (
            w.rows("SELECT count(*) FROM message WHERE external_id = 'wamid.KILLED1'") == [(1,)]
        ),
        what="the spooled webhook was stored after the restart",
    )
    # Meta's own retry of it, and a marker after it: still one, and the spool is emptied.
    assert w.post("whatsapp", wa.text(w, "wamid.KILLED1", "Did you get this?")) == 200
    assert w.post("whatsapp", wa.text(w, "wamid.AFTER", "Hello again")) == 200
    wait_for(lambda: len(w.messages(w.whatsapp)) == 3, what="the marker was stored")
    wait_for(lambda: spool.stat().st_size == 0, what="the spool was emptied")
    assert [m[2] for m in w.messages(w.whatsapp)] == ["wamid.IN1", "wamid.KILLED1", "wamid.AFTER"]
    # A stop by SIGTERM stores first: nothing is left behind.
    assert w.post("whatsapp", wa.text(w, "wamid.BEFORE_STOP", "Bye")) == 200
    assert w.hub.stop() == 0
    assert w.rows("SELECT count(*) FROM message WHERE external_id = 'wamid.BEFORE_STOP'") == [(1,)]


def test_spool_marks_what_is_stored_and_drops_a_torn_tail(tmp_path: Path) -> None:
    spool = Spool.beside(tmp_path / "ws.db")
    first = spool.append("whatsapp", "ch1", b'{"n": 1}')
    second = spool.append("messenger", "ch2", b'{"n": 2}\n\x00binary')
    spool.append("whatsapp", "ch1", b'{"n": 3}')
    spool.stored(first)  # the first batch is in; the rest are not
    spool.close()
    # The machine lost power in the middle of a fourth append: half a record at the end.
    path = tmp_path / "ws.db.webhooks"
    with path.open("ab") as f:
        f.write(HEADER.pack(b"UBW1", 100, 0) + b"whatsapp\0ch1\0{")
    again = Spool.beside(tmp_path / "ws.db")
    pending = list(again.pending())
    assert [(r.kind, r.channel_id, r.raw) for r in pending] == [
        ("messenger", "ch2", b'{"n": 2}\n\x00binary'),
        ("whatsapp", "ch1", b'{"n": 3}'),
    ]
    assert pending[0].end == second
    assert path.stat().st_size == pending[-1].end  # the torn record is gone
    # New bodies go after the good ones; once all is stored the spool is emptied.
    last = again.append("whatsapp", "ch1", b'{"n": 4}')
    again.stored(last)
    assert path.stat().st_size == 0 and list(again.pending()) == []
    again.close()
