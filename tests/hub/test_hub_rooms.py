"""The hub's socket.io manager keeps which rooms each socket is in (hub/server.py _Manager),
so a disconnect looks only there: its rooms must stay exactly what python-socketio's own
manager, which looks in every room, holds after the same steps."""

from __future__ import annotations

import socketio

from unibox_tui.hub.server import _Manager

NS = ("/", "/visitor")


def steps(manager: socketio.AsyncManager) -> list[list[str]]:
    """Sockets joining, leaving, a room closed and sockets gone; each socket's rooms after."""
    sids = [f"s{n}" for n in range(8)]
    for n, sid in enumerate(sids):
        ns = NS[n % 2]
        manager.basic_enter_room(sid, ns, None, eio_sid=f"e{n}")
        manager.basic_enter_room(sid, ns, sid, eio_sid=f"e{n}")
        manager.basic_enter_room(sid, ns, "agents" if ns == "/" else f"id:{n % 3}")
    manager.basic_enter_room("s0", "/", "agent:a")
    manager.basic_leave_room("s2", "/", "agents")
    manager.basic_leave_room("s2", "/", "never-entered")
    manager.basic_close_room("id:1", "/visitor")
    manager.callbacks["s3"] = {1: print}
    manager.pending_disconnect["/visitor"] = ["s3"]
    for sid, ns in (("s3", "/visitor"), ("s4", "/"), ("s5", "/visitor"), ("s9", "/")):
        manager.basic_disconnect(sid, ns)
    assert "s3" not in manager.callbacks and "/visitor" not in manager.pending_disconnect
    return [sorted(manager.get_rooms(sid, NS[n % 2])) for n, sid in enumerate(sids)]


def test_rooms_kept_per_socket_match_the_librarys() -> None:
    ours, theirs = _Manager(), socketio.AsyncManager()
    assert steps(ours) == steps(theirs)
    assert ours.rooms == theirs.rooms
    # Everyone gone: nothing left behind in either.
    for n in range(8):
        for manager in (ours, theirs):
            manager.basic_disconnect(f"s{n}", NS[n % 2])
    assert ours.rooms == theirs.rooms == {}
    assert ours._rooms_of == {}
