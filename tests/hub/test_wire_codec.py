"""The socket.io packet codec both sides use (hub/protocol.Packet: JSON by orjson)."""

from __future__ import annotations

import json

from socketio.packet import EVENT

from unibox_tui.hub import protocol


def round_trip(data: object) -> object:
    encoded = protocol.Packet(EVENT, data=["pull", data], id=7).encode()
    assert isinstance(encoded, str)
    decoded = protocol.Packet(encoded_packet=encoded)
    assert decoded.id == 7
    return decoded.data[1]


def test_a_page_travels_as_the_same_json() -> None:
    page = {
        "columns": {"message": ["id", "body", "seq", "meta"]},
        "runs": [{"table": "message", "rows": [["m1", 'Grüße, 東京 \u2028 "q"', 3, None]]}],
        "cursor": '[3,"message",12]',
        "more": True,
        "head": 3,
    }
    assert round_trip(page) == page
    # What travels is JSON any peer's json module reads (an older client or hub).
    assert json.loads(protocol.dumps(page)) == page


def test_what_orjson_refuses_still_travels_as_before() -> None:
    """Integers beyond 64 bits and lone surrogates: orjson refuses them, the standard
    library's json takes them (as the packets did before orjson)."""
    data = {"big": 2**70, "text": "half a pair \ud800"}
    assert round_trip(data) == data
    assert protocol.loads('{"x": NaN}')["x"] != protocol.loads('{"x": NaN}')["x"]  # NaN
