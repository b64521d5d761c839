"""What hub and client say to each other over socket.io: one place for the version, the
event names and the limits, so the two sides cannot drift.

Client -> hub (each a socket.io `call`, answered by the handler's return value):
- connect auth `{"token", "protocol", "client_id"}`: refused with one line to show when the
  token signs in no one or the protocol differs.
- `hello` -> `{"agent": {id, handle, name, role}, "head", "protocol"}`.
- `pull {"cursor", "limit"}` -> a change-log page (core/changes.Changes.to_json()).
- `push {"mutations": [{"mutation_id", "name", "args", "id"}]}` -> `{"answers": [{mutation_id,
  status: ok|rejected|gap, seq, error, value}]}`: applied in order, each once.
- `rows {"wanted": {table: [ident, ...]}}` -> `{"changes": [...]}` (changes.rows_now).
- `signal {"kind": presence|viewing|typing, ...}` -> ephemeral, never stored.

Hub -> client (emits, at most once: a client that misses one still pulls on reconnect):
- `poke {"head", "from", "page"}`: the change log grew. `page` (when present): the changes
  since the cursor `from` as this agent may see them (the `pull` reply's form, `more` false);
  a client whose cache is at `from` applies it and needs no pull; any other pulls. Without
  `page` (too long to travel with a poke, or an older hub): pull.
- `signals {...}`: presence, viewing, typing of teammates.
- `bye {"reason"}`: the hub ends this session (token revoked, agent deactivated).
Every reply to a malformed or refused call is `{"error": "one line"}`; the connection stays.

Both sides encode and decode socket.io packets with `Packet` (JSON by orjson): the wire is
the same JSON as before, so either side may still be an older one.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import socketio

# 2: rows carry conversation.customer_at and message.ord (migrations 0028, 0029); an app of
# protocol 1 would refuse pages naming them, so it is told to upgrade instead.
PROTOCOL = 2
MAX_MUTATIONS = 500  # per push
MAX_PULL = 5000  # rows per pull page
# Rows a poke may carry; a longer change is pulled. As many as a client's pull asks for
# (sync/client.PULL_LIMIT): a page left out of a poke is pulled by every agent apart, one
# read and one encoding each instead of one shared page, for the same rows. A hub seconds
# behind 100 chat messages a second (~2.5 rows each) has more than 500 rows per poke: in
# such a chat_bench.py run (hub under yappi) 38 of one agents' process's 48 rounds were
# pulls, each a read on the already busy hub.
POKE_ROWS = 2000
MAX_WANTED = 5000  # idents per rows call
MAX_PAYLOAD = 8 * 1024 * 1024  # bytes of one socket.io message (a long reply fits)


class BadPayload(ValueError):
    """A socket.io payload that is not what the protocol says: answered with its message."""


def need(data: Any, key: str, kinds: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """`data[key]`, checked to be of `kinds`; BadPayload names what is wrong."""
    if not isinstance(data, dict):
        raise BadPayload("the payload must be an object")
    if key not in data or data[key] is None:
        if optional:
            return None
        raise BadPayload(f"missing {key!r}")
    value = data[key]
    if isinstance(value, bool) and kinds in (int, (int,)):
        raise BadPayload(f"{key!r} must be a whole number")
    if not isinstance(value, kinds):
        raise BadPayload(f"{key!r} has the wrong type")
    return value


class _Json:
    """The JSON codec of every packet (socket.io calls `dumps(data, separators=...)` and
    `loads(text)`). orjson, not the standard library: a first sync moves ~1.2M rows as
    JSON at 100k conversations, and encoding plus decoding a 5,000-row pull page took
    24 ms with `json`, 7 ms with orjson (benchmarks/changes_bench.py: ~5 s of a replay's
    CPU). What orjson refuses and `json` takes (integers beyond 64 bits, non-string keys,
    lone surrogates; NaN on the way in) goes through `json` as before."""

    @staticmethod
    def dumps(data: Any, **_options: Any) -> str:
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # orjson.JSONEncodeError
            return json.dumps(data, separators=(",", ":"))

    @staticmethod
    def loads(text: str | bytes) -> Any:
        try:
            return orjson.loads(text)
        except ValueError:  # orjson.JSONDecodeError
            return json.loads(text)


def dumps(data: Any) -> str:
    """`data` as the JSON a packet carries (what travels: benchmarks measure with this)."""
    return _Json.dumps(data)


def loads(text: str | bytes) -> Any:
    return _Json.loads(text)


class Packet(socketio.packet.Packet):
    """The socket.io packet of both sides (`serializer=Packet`): JSON by `_Json`."""

    json = _Json
