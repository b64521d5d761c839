"""A client process of the hub benchmarks: hosts several HubClients (one thread each, plus
each client's own sync and socket threads) and answers one JSON line per request read from
stdin (benchmarks/_hubbench.Worker is the other end). Not a benchmark by itself.

Instrumentation (a subclass, nothing patched in the package): after every pull the client
notes the time each watched message id reached its cache (the pull's transaction has
committed), and after every sync round its cursor and how many commands it has queued.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unibox_tui.core import changes
from unibox_tui.sync.client import HubClient

CHANGED = threading.Condition()  # any client's watched arrivals or cursor moved


class TimedClient(HubClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watched: set[str] = set()
        self.arrived: dict[str, float] = {}
        self.seq = 0  # the change number its cache holds everything up to
        self.pending = 0
        self.rounds = 0
        self.history: list[tuple[float, int, int]] = []  # (time, seq, pending) per round
        self.page_log: list[dict[str, float]] | None = None  # join: per-page apply timings
        self.call_log: list[tuple[float, int]] = []  # join: (seconds, rows) per pull call
        self.sequential = False
        self.on_page: Any = None

    def _pull(self) -> None:
        if self.sequential:
            self._sequential_pull()
        else:
            super()._pull()
        with CHANGED:
            ids = list(self.watched)
        if ids:
            assert self.replica is not None
            now = time.time()
            found = self.replica.execute(
                f"SELECT id FROM message WHERE id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
            if found:
                with CHANGED:
                    for (i,) in found:
                        self.arrived[i] = now
                        self.watched.discard(i)
                    CHANGED.notify_all()

    def _sequential_pull(self) -> None:
        """The pull loop without asking ahead (for comparison: hub_join.py --sequential)."""
        from unibox_tui.sync.client import PULL_LIMIT

        assert self.replica is not None
        while True:
            cursor = changes.replica_cursor(self.replica)
            page = self._call("pull", {"cursor": cursor, "limit": PULL_LIMIT})
            changes.apply_changes(self.replica, page, local=True)
            if not page.get("more"):
                return

    def _open_cache(self) -> None:
        super()._open_cache()
        if self.page_log is not None:
            self.replica = _TimedReplica(self.replica, self)  # type: ignore[assignment]

    def _call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.page_log is None or event != "pull":
            return super()._call(event, data)
        t0 = time.perf_counter()
        reply = super()._call(event, data)
        self.call_log.append((time.perf_counter() - t0, len(reply.get("changes", ()))))
        return reply

    def sync_once(self) -> None:
        super().sync_once()
        assert self.replica is not None
        seq = changes.cursor_seq(changes.replica_cursor(self.replica))
        pending = int(self.replica.execute("SELECT count(*) FROM pending_mutation").fetchone()[0])
        with CHANGED:
            self.seq, self.pending = seq, pending
            self.rounds += 1
            self.history.append((time.time(), seq, pending))
            CHANGED.notify_all()


class _TimedReplica:
    """The cache's connection, seen by the join: each page's write (BEGIN IMMEDIATE to
    COMMIT) is timed, and the list is checked after it."""

    def __init__(self, con: Any, client: TimedClient) -> None:
        # `con`: the name core/changes._Reader looks for to reach the sqlite3 connection.
        self.con, self._client, self._begun = con, client, 0.0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "BEGIN IMMEDIATE":
            self._begun = time.perf_counter()
        result = self.con.execute(sql, *args)
        if sql == "COMMIT" and self._begun:
            log = self._client.page_log
            assert log is not None
            log.append({"t": time.time(), "apply_s": time.perf_counter() - self._begun})
            self._begun = 0.0
            if self._client.on_page is not None:
                self._client.on_page()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


class Worker:
    def __init__(self) -> None:
        self.clients: dict[str, TimedClient] = {}  # handle -> client

    # ------------------------------------------------------------------ ops

    def op_open(self, url: str, clients: list[dict[str, str]], timeout: float = 300) -> dict:
        started = time.perf_counter()
        opened: list[TimedClient] = []

        def one(spec: dict[str, str]) -> None:
            c = TimedClient(url, spec["token"], directory=Path(spec["dir"]))
            c.open()
            opened.append(c)
            self.clients[spec["handle"]] = c

        # One after the other: a new cache runs the alembic migrations, whose context is
        # global to the process (two at once in threads of one process crash it).
        for spec in clients:
            one(spec)
        if len(opened) != len(clients):
            raise RuntimeError(f"only {len(opened)} of {len(clients)} clients opened")
        for c in opened:
            if not c.wait_synced(timeout):
                raise RuntimeError(f"@{c.agent.get('handle')} did not sync in {timeout} s")
        # What an agent's app does once it is up (unibox_tui/gc_pacing.py): start-up's
        # objects frozen, no automatic full collection while the agent works (the app runs
        # one when no key was pressed for a second). Without it these processes, five caches
        # each, paused 250-790 ms in full collections in the middle of a fan-out run and
        # their arrivals made its tail (benchmarks/hub_nodes.py, logged with gc.callbacks).
        import gc

        from unibox_tui.gc_pacing import NEVER

        gc.collect()
        gc.freeze()
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, NEVER)
        return {
            "agents": {h: c.agent["id"] for h, c in self.clients.items()},
            "seconds": round(time.perf_counter() - started, 3),
        }

    def op_watch(self, id: str) -> dict:
        with CHANGED:
            for c in self.clients.values():
                c.watched.add(id)
        return {}

    def op_send(self, handle: str, conversation_id: str, id: str, text: str) -> dict:
        c = self.clients[handle]
        with CHANGED:  # the sender's own cache has it at once (optimistic): not a receiver
            c.watched.discard(id)
        t0 = time.time()
        c.run(
            "comment",
            {"conversation_id": conversation_id, "text": text},
            actor=c.agent["id"],
            id=id,
        )
        return {"t0": t0, "t1": time.time()}

    def op_wait(self, id: str, timeout: float = 30, exclude: str | None = None) -> dict:
        deadline = time.monotonic() + timeout
        receivers = {h: c for h, c in self.clients.items() if h != exclude}
        with CHANGED:
            while True:
                missing = [h for h, c in receivers.items() if id not in c.arrived]
                if not missing or time.monotonic() > deadline:
                    break
                CHANGED.wait(0.5)
            arrivals = {h: c.arrived.pop(id) for h, c in receivers.items() if id in c.arrived}
            for c in self.clients.values():
                c.watched.discard(id)
                c.arrived.pop(id, None)
        return {"arrivals": arrivals, "missing": missing}

    def op_flood(self, seconds: float, conversations: dict[str, str], start_at: float) -> dict:
        """Every client runs comments as fast as it can from `start_at` for `seconds`."""
        ran: dict[str, int] = {}
        errors: list[str] = []

        def one(handle: str, c: TimedClient) -> None:
            n = 0
            conv = conversations[handle]
            actor = c.agent["id"]
            time.sleep(max(0.0, start_at - time.time()))
            end = start_at + seconds
            while time.time() < end:
                try:
                    c.run("comment", {"conversation_id": conv, "text": f"flood {n}"}, actor=actor)
                    n += 1
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {e}"[:200])
            ran[handle] = n

        threads = [threading.Thread(target=one, args=hc) for hc in self.clients.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"ran": ran, "errors": errors[:5], "error_count": len(errors)}

    def op_queue(self, n: int, conversations: dict[str, str]) -> dict:
        """Every client runs `n` comments now (offline: they queue)."""
        for handle, c in self.clients.items():
            for i in range(n):
                c.run(
                    "comment",
                    {"conversation_id": conversations[handle], "text": f"queued {i}"},
                    actor=c.agent["id"],
                )
        return {"queued": n * len(self.clients)}

    def op_caught_up(self, head: int, since: float, timeout: float = 120) -> dict:
        """Wait until every client is connected, has nothing queued and holds everything up
        to `head`; for each, the end time (time.time()) of its first sync round after
        `since` that got it there."""
        deadline = time.monotonic() + timeout

        def first(c: TimedClient) -> float | None:
            for t, seq, pending in c.history:
                if t >= since and seq >= head and pending == 0:
                    return t
            return None

        with CHANGED:
            while True:
                done = {h: first(c) for h, c in self.clients.items()}
                if all(done.values()) or time.monotonic() > deadline:
                    break
                CHANGED.wait(0.1)
        return {
            "done": {h: t for h, t in done.items() if t},
            # the end of each client's first round after `since`: it was connected again
            "back": {
                h: next((t for t, _, _ in c.history if t >= since), None)
                for h, c in self.clients.items()
            },
            "states": {h: c.state for h, c in self.clients.items()},
        }

    def op_rounds(self) -> dict:
        with CHANGED:
            return {"rounds": {h: c.rounds for h, c in self.clients.items()}}

    def op_join(
        self,
        url: str,
        token: str,
        dir: str,
        view: str,
        expected: list[str],
        timeout: float,
        hub_access: dict | None = None,
        sequential: bool = False,
    ) -> dict:
        """A new agent's first sync, page by page: when the first page of `view` is full
        (50 rows) in the cache, when it equals `expected` (the hub's first page for this
        agent), when the whole cache is in. With `hub_access` (the agent's access rule as
        the hub computes it) the same two marks with that rule instead of the one the cache
        derives from its own rows (which needs the agent's own row, sent when it changed)."""
        from unibox_tui.core import queries as q
        from unibox_tui.core.access import Access

        fixed = None
        if hub_access is not None:
            see, act = hub_access["see"], hub_access["act"]
            fixed = Access(
                hub_access["agent_id"],
                hub_access["role"],
                None if see is None else frozenset(see),
                None if act is None else frozenset(act),
            )

        marks: dict[str, float] = {}
        t0 = time.time()
        c = TimedClient(url, token, directory=Path(dir))
        c.page_log = []
        c.sequential = sequential
        checked = {"n": 0, "s": 0.0}

        def check(suffix: str, rule: Any) -> None:
            if f"list_equal{suffix}" in marks:
                return
            s = time.perf_counter()
            page = q.list_conversations(c.ws, q.view(view, c.agent["id"], access=rule))
            checked["n"] += 1
            checked["s"] += time.perf_counter() - s
            ids = [r.id for r in page.rows]
            if len(ids) >= 50 and f"list_full{suffix}" not in marks:
                marks[f"list_full{suffix}"] = time.time()
            if ids == expected:
                marks[f"list_equal{suffix}"] = time.time()

        def on_page() -> None:
            if c.ws is None:
                return
            check("", access())
            if fixed is not None:
                check("_hub_access", fixed)

        def access() -> Any:
            assert c.ws is not None
            return q.reader(c.ws, c.agent["id"])

        c.on_page = on_page
        c.open()
        marks["opened"] = time.time()
        if not c.wait_synced(timeout):
            raise RuntimeError(f"the join did not finish in {timeout} s")
        marks["complete"] = time.time()
        self.clients["join"] = c
        assert c.replica is not None
        counts = {
            t: c.replica.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("conversation", "message", "contact")
        }
        log = c.page_log
        return {
            "t0": t0,
            "marks": {k: round(v - t0, 3) for k, v in marks.items()},
            "pages": len(c.call_log),
            "rows": sum(n for _, n in c.call_log),
            "call_s": round(sum(s for s, _ in c.call_log), 2),
            "apply_s": round(sum(e["apply_s"] for e in log), 2),
            "list_checks": checked["n"],
            "list_check_s": round(checked["s"], 2),
            "counts": counts,
            "cache_mb": round(
                Path(c.replica.execute("PRAGMA database_list").fetchone()[2]).stat().st_size
                / 2**20,
                1,
            ),
            "rss_kb": rss(),
        }

    def op_cpu(self) -> dict:

        t = os.times()
        return {"cpu_s": time.process_time(), "user_s": t.user, "sys_s": t.system}

    def op_threads(self) -> dict:
        """CPU seconds of this process's live threads, by what they are (_stats.py)."""
        from _stats import thread_cpu_by_kind

        return {"threads": thread_cpu_by_kind()}

    def op_profile(self, path: str | None = None) -> dict:
        """yappi (`pip install yappi`, a scratch tool) over every thread of this process, in
        CPU time: started with no `path`, stopped and written to `path` with one."""
        import yappi

        if path is None:
            yappi.set_clock_type("cpu")
            yappi.start(builtins=False, profile_threads=True)
            return {}
        yappi.stop()
        stats = yappi.get_func_stats()
        with open(path, "w") as f:
            for key, title in (("ttot", "total"), ("tsub", "own")):
                f.write(f"==== by {title} CPU time\n")
                for st in list(stats.sort(key, "desc"))[:70]:
                    name = f"{st.module.split('site-packages/')[-1]}:{st.lineno} {st.name}"
                    f.write(f"{st.ttot:9.3f} {st.tsub:9.3f} {st.ncall:9d}  {name}\n")
        yappi.clear_stats()
        return {}

    def op_rss(self) -> dict:
        return {"rss_kb": rss()}

    def op_close(self) -> dict:
        for c in self.clients.values():
            c.close()
        self.clients.clear()
        return {}


def rss() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def main() -> None:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: every thread's stack to the log
    # chat_bench --clients-nice: agents that on a real team run on machines of their own.
    os.nice(int(os.environ.get("UNIBOX_BENCH_NICE", "0")))
    worker = Worker()
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            try:
                worker.op_close()
            finally:
                print(json.dumps({}), flush=True)
            return
        try:
            answer = getattr(worker, f"op_{op}")(**request)
        except Exception as e:
            traceback.print_exc()
            answer = {"error": f"{op}: {type(e).__name__}: {e}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
