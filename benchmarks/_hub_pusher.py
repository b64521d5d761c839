"""A pushing process of benchmarks/hub_push.py: several agents, each on its own socket.io
connection (the real protocol: token, hello, push), pushing batches of comments as fast as
the hub answers, for a while. No cache and no pulls: it measures what the HUB can apply,
not what a client can replay. Not a benchmark by itself.

Each connection still receives every poke the hub sends (pages included) and decodes it, as
an agent's app does: the hub does all its work for 50 agents. The socket is opened as
sync/client.py opens it (no pure-Python UTF-8 check of each frame, orjson packets); opened
with python-socketio's defaults the pushers spent ~7 ms of CPU per command on that check and
held the run at ~200/s while the hub idled.
`PUSHER_PROFILE=FILE` (needs yappi): each process writes its profile to FILE.PID.txt.

    _hub_pusher.py URL SECONDS BATCH JSON  (JSON: [{"token", "client_id", "conversations"}])
Prints one JSON line: {"pushed": N, "ok": N, "rejected": N, "calls": [seconds...]}.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import socketio

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from unibox_tui.hub.protocol import PROTOCOL, Packet


def agent(
    url: str, spec: dict[str, Any], seconds: float, batch: int, out: dict, gates: Any
) -> None:
    ready, start = gates
    # The socket as an agent's app opens it (sync/client.py HubClient.open): websocket-client
    # checking each received frame's UTF-8 in pure Python took ~90% of these processes' CPU
    # (the pokes' pages reach all 50 agents), which left the hub waiting on its pushers.
    sio = socketio.Client(
        reconnection=False,
        websocket_extra_options={"skip_utf8_validation": True},
        serializer=Packet,
    )
    sio.connect(
        url,
        auth={"token": spec["token"], "protocol": PROTOCOL, "client_id": spec["client_id"]},
        transports=["websocket"],
        wait_timeout=30,
    )
    sio.call("hello", {}, timeout=30)
    convs = spec["conversations"]
    # One comment before the clock starts: the hub imports and prepares what a comment needs
    # on the first one (~0.3 s of its CPU), which is no part of its steady rate.
    number = 1
    warm = {"mutation_id": 1, "name": "comment", "args": {"conversation_id": convs[0], "text": "w"}}
    sio.call("push", {"mutations": [warm]}, timeout=120)
    ready.wait()
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        mutations = []
        for _ in range(batch):
            number += 1
            mutations.append(
                {
                    "mutation_id": number,
                    "name": "comment",
                    "args": {"conversation_id": convs[number % len(convs)], "text": f"p{number}"},
                }
            )
        t0 = time.perf_counter()
        reply = sio.call("push", {"mutations": mutations}, timeout=120)
        out["calls"].append(time.perf_counter() - t0)
        for answer in reply["answers"]:
            out["ok" if answer["status"] == "ok" else "rejected"] += 1
        out["pushed"] += len(mutations)
    sio.disconnect()


def main() -> None:
    url, seconds, batch, specs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    out: dict[str, Any] = {"pushed": 0, "ok": 0, "rejected": 0, "calls": []}
    ready = threading.Barrier(len(json.loads(specs)) + 1)  # all connected and warmed up
    start = threading.Barrier(len(json.loads(specs)) + 1)
    profile: Any = None
    if os.environ.get("PUSHER_PROFILE"):  # yappi over every thread, to FILE.PID.txt
        import yappi

        profile = yappi
        yappi.set_clock_type("cpu")
        yappi.start(builtins=True, profile_threads=True)
    threads = [
        threading.Thread(target=agent, args=(url, s, seconds, batch, out, (ready, start)))
        for s in json.loads(specs)
    ]
    for t in threads:
        t.start()
    ready.wait()
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # go
    start.wait()
    for t in threads:
        t.join()
    if profile:
        profile.stop()
        with open(f"{os.environ['PUSHER_PROFILE']}.{os.getpid()}.txt", "w") as f:
            columns = {0: ("name", 90), 1: ("ncall", 10), 3: ("ttot", 8), 4: ("tsub", 8)}
            profile.get_func_stats().sort("ttot").print_all(out=f, columns=columns)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
