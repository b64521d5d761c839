"""The demo workspace: a realistic, deterministic team inbox built in seconds.

`build_demo` makes a fresh workspace (migrated schema, then bulk inserts straight through
sqlite3 into a temporary file with the journal off; the FTS index is filled once at the end
and the file renamed into place, so an interrupted build leaves nothing half-made).
Same seed and size -> the same ids and counts: ids take their time bits from a counter, not
the clock; only timestamps follow `now`.

`simulate_step` is the live customer stream `unibox demo` runs: one customer message per
step, through the same ingest command a real channel uses. `deliver_replies` is the local
"delivery" of replies queued on demo channels; it runs with or without the stream.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from . import clock, search_index
from . import demo_text as T
from .db import Workspace, open_workspace
from .errors import WorkspaceError
from .kinds import REPLY_IDENTITY

DEMO_EPOCH_MS = 1_767_225_600_000  # 2026-01-01: the time bits of demo ids
KIND_WEIGHTS = [("email", 45), ("chat", 20), ("messenger", 12), ("whatsapp", 13), ("form", 10)]
SALES_KINDS = ("email", "chat", "form")
# Ticket pipelines and their stages, in order ("Support" is every workspace's default).
PIPELINES = {
    "Support": ("New", "Waiting on contact", "Waiting on us", "Closed"),
    "Sales": ("New", "Qualified", "Proposal", "Won", "Lost"),
}
# A demo ticket's stage: one of four drawn (open) or the last (closed).
STAGES_NOW = {
    "Support": ("New", "Waiting on contact", "Waiting on us", "Closed"),
    "Sales": ("New", "Qualified", "Proposal", "Won"),
}

# ANALYZE sees the demo as built: every message without an external id, every row at change
# number 1. Those statistics tell SQLite the external-id and change-number indexes select
# nothing, and it then scans 1M messages for each incoming message's duplicate check (~200 ms)
# and for "what changed since N". Without a statistic an index counts as selective, which
# is what it is in use.
FORGET_UNIFORM_STATS = (
    "DELETE FROM sqlite_stat1 WHERE idx = 'ix_message_external' OR idx LIKE 'ix_%_seq'"
)


CLOSED_EVENT = json.dumps({"event": "closed"})  # what commands.closing writes (reports)


class _Ids:
    """Deterministic UUIDv7-shaped ids: counter for the time bits, the seeded RNG for the rest."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        value = ((DEMO_EPOCH_MS + self.n) << 80) | (0x7 << 76) | (0b10 << 62)
        value |= self.rng.getrandbits(12) << 64 | self.rng.getrandbits(62)
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Stamp:
    """Epoch seconds -> the stored timestamp text, fast (a date string per day is cached)."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, t: float) -> str:
        day, rest = divmod(t, 86400)
        d = int(day)
        prefix = self.days.get(d)
        if prefix is None:
            prefix = self.days[d] = datetime.fromtimestamp(d * 86400, UTC).strftime("%Y-%m-%d")
        secs = int(rest)
        us = int((rest - secs) * 1_000_000)
        return f"{prefix} {secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}.{us:06d}"


class _Thread:
    """One demo conversation's text: a story (demo_text.STORIES) in one language, told in
    the channel's manner. E-mail has greetings, sign-offs and the quoted message it answers,
    and some customers' mail comes as HTML; a form reads field by field; chats are short
    lines without ceremony."""

    def __init__(self, rng: random.Random, kind: str, name: str, email: str) -> None:
        story = rng.choice(T.STORIES)
        self.lang = rng.choice(sorted(story))
        self.told = [story]  # the stories this conversation has gone through
        self.rng, self.kind, self.name, self.email = rng, kind, name, email
        self.first_name = name.split()[0]
        self.mail = kind in ("email", "form")
        self.last: tuple[str, str, str] | None = None  # (who, when, text) to quote
        self.rich = kind == "email" and rng.random() < 0.3  # sends HTML mail
        self._tell(story)
        self.subject = self._subject

    def _tell(self, story: dict[str, dict[str, object]]) -> None:
        """Start on a story: its question, the agent's answers, the customer's follow-ups."""
        number = self.rng.randrange(10000, 99999)
        text = story[self.lang]

        def fill(value: object) -> str:
            return str(value).replace("{n}", str(number))

        self._subject = fill(text["subject"])
        self.ask = fill(text["ask"])
        self.answers = [fill(a) for a in text["answers"]]  # type: ignore[attr-defined]
        self.follows = [fill(f) for f in text["follows"]]  # type: ignore[attr-defined]
        self.thanks = fill(text["thanks"])
        self.said = 0  # agent answers so far
        self.asked = 0  # customer follow-ups so far
        self.thanked = self.wrapped_up = False

    @property
    def over(self) -> bool:
        """The story is told to its end and no other story in this language is left: the
        conversation ends here rather than repeat itself."""
        return self.wrapped_up and self._next_story() is None

    def _next_story(self) -> dict[str, dict[str, object]] | None:
        for story in T.STORIES:
            if self.lang in story and story not in self.told:
                return story
        return None

    def first(self) -> str:
        if self.kind == "form":
            body = (
                f"Name: {self.name}\nEmail: {self.email}\nSubject: {self.subject}\n"
                f"Message:\n{self.ask}\n"
            )
        elif self.mail:
            body = f"{self.ask}\n\n{self.first_name}"
        else:
            body = self.rng.choice(T.CHAT_ASKS.get(self.lang, T.CHAT_ASKS["en"]))
            self.follows.insert(0, self.ask)  # the question itself comes next
            self.answers.insert(0, T.CHAT_HELLO[self.lang])
        return body

    def opened(self, at: str) -> None:
        """The first message went out at `at` (what the first answer quotes)."""
        if self.mail:
            self.last = (self.name, at, self.ask)

    def answer(self, agent_name: str, at: str) -> str:
        """The agent's next turn: the story's next answer; once they are told, the customer
        has thanked them, and what is left is to wrap up (said once per story)."""
        if self.said < len(self.answers):
            text = self.answers[self.said]
        else:
            text = T.MORE_HELP[self.lang]
            self.wrapped_up = True
        self.said += 1
        if not self.mail:
            body = text
        else:
            hello, bye = T.GREETING[self.lang]
            body = (
                f"{hello.format(first=self.first_name)}\n\n{text}\n\n{bye.format(agent=agent_name)}"
            )
            body += self._quote()
        self.last = (agent_name, at, text)
        return body

    def follow(self, at: str, *, last: bool) -> str:
        """The customer's next turn: the story's follow-ups, then thanks; after the agent's
        wrap-up, another question (a story of the same language: long threads are a customer
        coming back with something new)."""
        if self.wrapped_up and (story := self._next_story()) is not None:
            self.told.append(story)
            self._tell(story)
            text = self.ask
        elif not last and self.asked < len(self.follows):
            text = self.follows[self.asked]
            self.asked += 1
        else:
            text = self.thanks
            self.thanked = True
        body = f"{text}\n\n{self.first_name}" if self.mail else text
        if self.kind == "email":
            body += self._quote()
        self.last = (self.name, at, text)
        return body

    def next_speaker(self, previous: str) -> str:
        """Who writes next: the agent answers the customer; the customer writes again
        without an answer only when the answers are told and they still have something
        to say (an acknowledgement, then their thanks)."""
        if previous == "outgoing":
            return "incoming"
        told = self.said >= len(self.answers)
        return "incoming" if told and not self.thanked and not self.wrapped_up else "outgoing"

    def _quote(self) -> str:
        if self.last is None:
            return ""
        who, when, text = self.last
        intro = T.WROTE[self.lang].format(date=when[:16], name=who)
        return "\n\n" + intro + "\n" + "\n".join(f"> {line}" for line in text.split("\n"))

    def html(self, body: str) -> str | None:
        """The HTML part of a customer's rich mail (its text part is `body`)."""
        if not self.rich:
            return None
        import html as h

        parts: list[str] = []
        quoted: list[str] = []
        for block in body.split("\n\n"):
            lines = block.split("\n")
            text = [line for line in lines if not line.startswith("> ")]
            quoted = [line[2:] for line in lines if line.startswith("> ")]
            if text:
                parts.append("<p>" + "<br>".join(h.escape(x) for x in text) + "</p>")
            if quoted:
                inner = "<br>".join(h.escape(x) for x in quoted)
                parts.append(f"<blockquote>{inner}</blockquote>")
        return "<html><body>" + "".join(parts) + "</body></html>"


def _language_of(ws: Workspace, conversation_id: str) -> str:
    """The language a demo conversation is in, from its first customer message."""
    with ws.read() as conn:
        first = conn.exec_driver_sql(
            "SELECT body FROM message WHERE conversation_id = ? AND kind = 'incoming' "
            "ORDER BY created_at LIMIT 1",
            (conversation_id,),
        ).scalar()
    for lang, marker in _MARKERS:
        if first and marker in first:
            return lang
    return "en"


# A piece of each story's question (before any number in it) and each chat opener.
_MARKERS = [
    (lang, str(text["ask"]).split("{n}")[0][:24])
    for story in T.STORIES
    for lang, text in story.items()
] + [(lang, ask) for lang, asks in T.CHAT_ASKS.items() for ask in asks]


def _person(rng: random.Random) -> str:
    first, last = rng.choice(T.FIRST), rng.choice(T.LAST)
    # Japanese and Chinese names are written without a space; mixed names keep one.
    cjk = not first.isascii() and not last.isascii() and len(first) <= 2 and len(last) <= 2
    return first + last if cjk else f"{first} {last}"


def _slug(name: str, n: int) -> str:
    base = "".join(ch for ch in name.lower() if ch.isascii() and (ch.isalnum() or ch == " "))
    return (".".join(base.split()) or "customer") + str(n)


DEFAULT_CONVERSATIONS = 2000


def build_demo(
    path: str | os.PathLike[str],
    *,
    conversations: int = DEFAULT_CONVERSATIONS,
    seed: int = 1,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Build the demo workspace at `path` (which must not exist). Returns a summary."""
    started = time.perf_counter()
    target = Path(path)
    if target.exists():
        raise WorkspaceError(f"{target} exists; the demo builds only into a new file")
    now = (now or clock.utcnow()).replace(microsecond=0)
    building = target.with_name(target.name + ".building")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    open_workspace(building).close()  # the schema, through the migrations

    con = sqlite3.connect(building, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-400000")
        con.execute("PRAGMA foreign_keys=OFF")
        triggers = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND name LIKE '%fts%'"
        ).fetchall()
        con.execute("BEGIN")
        for name, _ in triggers:
            con.execute(f"DROP TRIGGER {name}")
        counts = _generate(con, random.Random(seed), conversations, now)
        # Fill the search index once, in bulk, then put the edit/delete triggers back.
        search_index.index_new(con.execute, (0, 0))
        for _, sql in triggers:
            con.execute(sql)
        con.execute("UPDATE sequence SET value = 1 WHERE name = 'seq'")
        settings = {
            "default_agent": "ana",
            "workspace_name": "Acme (demo)",
            "demo": {"seed": seed, "conversations": conversations, "built_at": clock.iso(now)},
        }
        built = clock.to_db(now)
        con.executemany(
            "INSERT INTO setting(key, value, updated_at, seq) VALUES (?, ?, ?, 1)",
            [(k, json.dumps(v), built) for k, v in settings.items()],
        )
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute(FORGET_UNIFORM_STATS)
        con.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        con.close()
        building.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(building, target)
    seconds = time.perf_counter() - started
    return {
        "path": str(target),
        "seed": seed,
        "seconds": round(seconds, 2),
        "bytes": target.stat().st_size,
        **counts,
    }


def _generate(
    con: sqlite3.Connection, rng: random.Random, n_conv: int, now: datetime
) -> dict[str, int]:
    ids, stamp = _Ids(rng), _Stamp()
    now_ts = now.timestamp()
    now_s = stamp(now_ts)

    def message(
        mid: str,
        conv: str,
        kind: str,
        body: str,
        at: str,
        *,
        agent: str | None = None,
        contact: str | None = None,
        channel: str | None = None,
        delivery: str | None = None,
        meta: str = "{}",
        html: str | None = None,
    ) -> tuple:
        """A message row in MESSAGE_COLUMNS order."""
        return (
            None,
            mid,
            conv,
            kind,
            agent,
            contact,
            channel,
            body,
            html,
            None,
            delivery,
            None,
            "",
            meta,
            at,
            at,
            1,
        )

    def ins(table: str, rows: list[tuple], columns: tuple[str, ...] | None = None) -> None:
        if rows:
            names = f"({', '.join(columns)})" if columns else ""
            marks = ",".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {table}{names} VALUES ({marks})", rows)

    # Agents, teams, inboxes, channels, snippets.
    agents = [(ids(), name, handle) for name, handle in T.AGENTS]
    ins(
        "agent",
        [
            (
                now_s,
                1,
                a,
                name,
                h,
                f"{h}@acme.example",
                "available" if i % 4 else "away",
                role,
                1,
                None,
            )
            for i, (a, name, h) in enumerate(agents)
            for role in ["admin" if i == 0 else "agent"]
        ],
    )
    teams = [(ids(), "Tier 1"), (ids(), "Sales team")]
    ins("team", [(now_s, 1, t, name) for t, name in teams])
    ins(
        "team_member",
        [(teams[0][0], a[0], now_s, 1) for a in agents[:5]]
        + [(teams[1][0], a[0], now_s, 1) for a in agents[4:]],
    )
    support, sales = ids(), ids()
    # Pipelines replace the migration's default one; their ids come from a generator of their
    # own, so the ids of everything else stay what they were before pipelines existed.
    pids = _Ids(random.Random("unibox demo pipelines"))
    con.execute("DELETE FROM pipeline_stage")
    con.execute("DELETE FROM pipeline")
    first_stage: dict[str, tuple[str, str]] = {}
    for position, (pname, stages) in enumerate(PIPELINES.items()):
        pid = pids()
        ins("pipeline", [(now_s, 1, pid, pname, position)])
        stage_rows = [(now_s, 1, pids(), pid, stage, i) for i, stage in enumerate(stages)]
        ins("pipeline_stage", stage_rows)
        first_stage[pname] = (pid, stage_rows[0][2])
    ins(
        "inbox",
        [
            (now_s, 1, support, "Support", "everyone", *first_stage["Support"]),
            (now_s, 1, sales, "Sales", "listed", *first_stage["Sales"]),
        ],
    )
    ins(
        "inbox_access",
        [(ids(), sales, None, teams[1][0], now_s, 1), (ids(), sales, agents[0][0], None, now_s, 1)],
    )
    demo = json.dumps({"demo": True})
    channels: dict[tuple[str, str], str] = {}
    rows: list[tuple[Any, ...]] = []
    for inbox, iname, kinds in (
        (support, "support", [k for k, _ in KIND_WEIGHTS]),
        (sales, "sales", SALES_KINDS),
    ):
        for kind in kinds:
            cid = channels[(inbox, kind)] = ids()
            address = {
                "email": f"{iname}@acme.example",
                "whatsapp": "+15550100" + str(len(rows)),
            }.get(kind)
            rows.append(
                (now_s, 1, cid, inbox, kind, f"{iname.title()} {kind}", address, 1, demo, "ok")
            )
    ins("channel", rows)
    ins("snippet", [(now_s, 1, ids(), name, body) for name, body in T.SNIPPETS])
    sales_agents = [a for a in agents if a[2] in ("ana", "emeka", "fatima", "jonas", "yuki")]

    # Contacts: about one per three conversations, so most have history.
    n_contacts = max(10, n_conv // 3)
    contacts: list[tuple[str, str, str]] = []  # id, name, email
    contact_rows, ident_rows = [], []
    by_kind: dict[str, list[int]] = {"email": [], "chat": [], "messenger": [], "whatsapp": []}
    for i in range(n_contacts):
        cid, name = ids(), _person(rng)
        email = _slug(name, i) + "@" + rng.choice(["mail.example", "corp.example", "post.example"])
        company = rng.choice(T.COMPANIES)
        owner = rng.choice(agents)[0] if rng.random() < 0.2 else None
        contact_rows.append((now_s, 1, cid, name, company, owner, "", now_s, None))
        contacts.append((cid, name, email))
        ident_rows.append((now_s, 1, ids(), cid, "email", email))
        by_kind["email"].append(i)
        if rng.random() < 0.45:
            ident_rows.append(
                (now_s, 1, ids(), cid, "whatsapp", f"+{rng.randrange(10**10, 10**11)}{i}")
            )
            by_kind["whatsapp"].append(i)
        if rng.random() < 0.35:
            ident_rows.append((now_s, 1, ids(), cid, "messenger", f"psid{rng.getrandbits(48)}{i}"))
            by_kind["messenger"].append(i)
        if rng.random() < 0.5:
            ident_rows.append((now_s, 1, ids(), cid, "chat", f"visitor-{rng.getrandbits(40):x}{i}"))
            by_kind["chat"].append(i)
    ins("contact", contact_rows)
    ins("contact_identity", ident_rows)
    identity_of = {(row[3], row[4]): row[5] for row in ident_rows}  # (contact, kind) -> value
    del contact_rows, ident_rows

    kinds = [k for k, _ in KIND_WEIGHTS]
    weights = [w for _, w in KIND_WEIGHTS]
    totals = {"conversations": 0, "messages": 0, "tickets": 0, "notifications": 0}
    conv_rows: list[tuple] = []
    msg_rows: list[tuple] = []
    ticket_rows: list[tuple] = []
    note_rows: list[tuple] = []
    ticket_no = 0
    rand, choice = rng.random, rng.choice
    handles = [a[2] for a in agents]
    agent_by_handle = {a[2]: a for a in agents}

    for i in range(n_conv):
        inbox = sales if rand() < 0.2 else support
        kind = rng.choices(kinds, weights)[0]
        if inbox == sales and kind not in SALES_KINDS:
            kind = "email"
        channel = channels[(inbox, kind)]
        pool = by_kind["email" if kind == "form" else kind]
        ci = pool[rng.randrange(len(pool))]
        contact_id, contact_name, _ = contacts[ci]
        team = teams[1] if inbox == sales else teams[0]
        staff = sales_agents if inbox == sales else agents

        # Most recent conversations are most likely still open.
        end_age = 180 * 86400 * rand() ** 2.2
        n = 2 + min(38, int(rng.expovariate(1 / 8)))
        gap = (30, 900) if kind in ("chat", "messenger", "whatsapp") else (600, 30000)
        deltas = [rng.uniform(*gap) for _ in range(n - 1)]
        end = now_ts - end_age
        t = end - sum(deltas)
        if end_age < 3 * 86400:
            status = "open" if rand() < 0.75 else ("snoozed" if rand() < 0.5 else "closed")
        else:
            status = "closed" if rand() < 0.85 else ("open" if rand() < 0.7 else "snoozed")
        assignee = choice(staff) if (status != "open" or rand() < 0.6) else None
        conv_id = ids()
        thread = _Thread(rng, kind, contact_name, contacts[ci][2])
        replier = assignee or choice(staff)  # one agent answers the whole thread
        if i < len(T.HOSTILE) and n_conv >= 20:
            subject, first_body = T.HOSTILE[i]
        else:
            subject = thread.subject if kind in ("email", "form") or rand() < 0.2 else ""
            first_body = thread.first()

        last_at = first_response = customer_at = None
        speaker = "incoming"
        preview = ""
        count = 0
        for j in range(n):
            mid = ids()
            ts = stamp(t)
            html = None
            if j == 0:
                body, kind_j = first_body, "incoming"
                html = thread.html(body) if i >= len(T.HOSTILE) else None
                thread.opened(ts)
            elif thread.over:
                break  # told to its end: the thread stops rather than repeat itself
            else:
                speaker = kind_j = thread.next_speaker(speaker)
            if kind_j == "outgoing":
                author = replier
                body = thread.answer(author[1], ts)
                msg_rows.append(
                    message(
                        mid,
                        conv_id,
                        "outgoing",
                        body,
                        ts,
                        agent=author[0],
                        channel=channel,
                        delivery="sent",
                    )
                )
                if first_response is None:
                    first_response = ts
            else:
                if j > 0:
                    body = thread.follow(ts, last=j == n - 1)
                    html = thread.html(body)
                msg_rows.append(
                    message(
                        mid,
                        conv_id,
                        "incoming",
                        body,
                        ts,
                        contact=contact_id,
                        channel=channel,
                        html=html,
                    )
                )
                customer_at = ts
            count += 1
            last_at, preview = ts, body
            if j == 0 and assignee:
                took = f"{assignee[1]} took this"
                msg_rows.append(message(ids(), conv_id, "activity", took, ts, agent=assignee[0]))
            if j < n - 1 and rand() < 0.06:
                h = choice(handles)
                author = assignee or choice(staff)
                body_c = choice(T.COMMENTS).format(h=h)
                cmid = ids()
                mentions = json.dumps({"mentions": [h]})
                msg_rows.append(
                    message(cmid, conv_id, "comment", body_c, ts, agent=author[0], meta=mentions)
                )
                count += 1
                if h != author[2]:
                    note_rows.append(
                        (
                            ts,
                            1,
                            ids(),
                            agent_by_handle[h][0],
                            "mention",
                            conv_id,
                            cmid,
                            author[0],
                            f"{author[1]} mentioned you: {subject or body[:60]}",
                            ts,
                            None if end_age < 7 * 86400 else ts,
                        )
                    )
            if j < n - 1:
                t += deltas[j]
        ticket_id = None
        if rand() < 0.08:
            ticket_no += 1
            ticket_id = ids()
            closed = status == "closed"
            pipeline = "Sales" if inbox == sales else "Support"
            ticket_rows.append(
                (
                    last_at,
                    1,
                    ticket_id,
                    ticket_no,
                    subject or preview[:80],
                    pipeline,
                    STAGES_NOW[pipeline][choice(range(4)) if not closed else 3],
                    choice(["low", "normal", "normal", "high", "urgent"]),
                    (assignee or choice(staff))[0],
                    "closed" if closed else "open",
                    last_at,
                    last_at if closed else None,
                )
            )
        closed_at = snoozed_until = None
        if status == "closed":
            closed_at = last_at
            closer = assignee or choice(staff)
            text = f"{closer[1]} closed this"
            msg_rows.append(
                message(
                    ids(),
                    conv_id,
                    "activity",
                    text,
                    cast(str, last_at),
                    agent=closer[0],
                    meta=CLOSED_EVENT,
                )
            )
        elif status == "snoozed":
            snoozed_until = stamp(now_ts + rng.uniform(3600, 5 * 86400))
        waiting = speaker == "incoming" and status != "closed"
        unread = waiting and rand() < 0.6
        conv_rows.append(
            (
                None,
                conv_id,
                inbox,
                channel,
                kind,
                contact_id,
                identity_of[(contact_id, REPLY_IDENTITY[kind])],
                subject,
                preview.split("\n")[0][:200],
                status,
                snoozed_until,
                assignee[0] if assignee else None,
                team[0] if rand() < 0.5 else None,
                int(unread),
                int(waiting),
                count,
                stamp(end - sum(deltas)),
                last_at,
                customer_at,
                first_response,
                closed_at,
                ticket_id,
                "{}",
                last_at,
                1,
            )
        )
        if len(msg_rows) > 50000:
            _flush(ins, conv_rows, msg_rows, ticket_rows, note_rows, totals)
    _flush(ins, conv_rows, msg_rows, ticket_rows, note_rows, totals)
    con.execute("INSERT OR REPLACE INTO sequence(name, value) VALUES ('ticket', ?)", (ticket_no,))
    totals["contacts"] = n_contacts
    totals["agents"] = len(agents)
    return totals


def _flush(ins: Any, convs: list, msgs: list, tickets: list, notes: list, totals: dict) -> None:
    # Order matters only for readability of ids; foreign keys are off during the build.
    ins("ticket", tickets)
    ins("conversation", convs, CONVERSATION_COLUMNS)
    ins("message", msgs, MESSAGE_COLUMNS)
    ins("notification", notes)
    totals["conversations"] += len(convs)
    totals["messages"] += sum(1 for m in msgs if m[3] != "activity")
    totals["tickets"] += len(tickets)
    totals["notifications"] += len(notes)
    for batch in (convs, msgs, tickets, notes):
        batch.clear()


# The tuple layouts _generate builds for the two big tables (other tables use schema order).
CONVERSATION_COLUMNS = (
    "rid",
    "id",
    "inbox_id",
    "channel_id",
    "channel_kind",
    "contact_id",
    "reply_to",
    "subject",
    "preview",
    "status",
    "snoozed_until",
    "assignee_id",
    "team_id",
    "unread",
    "waiting",
    "message_count",
    "created_at",
    "last_message_at",
    "customer_at",
    "first_response_at",
    "closed_at",
    "ticket_id",
    "meta",
    "updated_at",
    "seq",
)
MESSAGE_COLUMNS = (
    "rid",
    "id",
    "conversation_id",
    "kind",
    "author_agent_id",
    "author_contact_id",
    "channel_id",
    "body",
    "body_html",
    "external_id",
    "delivery_state",
    "delivery_error",
    "flags",
    "meta",
    "created_at",
    "updated_at",
    "seq",
)


def default_demo_path(conversations: int = DEFAULT_CONVERSATIONS, seed: int = 1) -> Path:
    """The demo lives apart from a real workspace, so `unibox demo` never touches real data;
    each size (and seed) has its own file, so asking for another size builds it beside the
    first instead of replacing it: `demo.db`, `demo-100000.db`, `demo-2000-seed7.db`."""
    import platformdirs

    name = "demo" if conversations == DEFAULT_CONVERSATIONS else f"demo-{conversations}"
    if seed != 1:
        name += f"-seed{seed}"
    return platformdirs.user_data_path("unibox") / f"{name}.db"


def _demo_channels(ws: Workspace) -> list[Any]:
    from . import queries as q

    return [c for c in q.channels(ws) if c.settings.get("demo") and c.enabled]


def deliver_replies(
    ws: Workspace, now: datetime | None = None, channels: list[Any] | None = None
) -> list[str]:
    """Replies queued on demo channels are "delivered" (marked sent), as a real channel would
    after SMTP; returns the conversations they belong to. Demo channels have no server, so
    this is their delivery: the app runs it on a demo workspace whether or not the simulated
    customers write (`unibox demo --quiet` stops only those)."""
    from . import outbox  # the ORM (~0.5 s to import): `unibox demo` starts without it

    now = now or clock.utcnow()
    ids = {c.id for c in (_demo_channels(ws) if channels is None else channels)}
    changed: list[str] = []
    if not ids:
        return changed
    for item in outbox.due(ws, now):
        if item.channel_id in ids and outbox.claim(ws, item.entry_id, now):
            outbox.mark_sent(ws, item.entry_id, f"{item.message_id}@demo.unibox", now)
            changed.append(item.conversation_id)
    return changed


def simulate_step(ws: Workspace, rng: random.Random, now: datetime | None = None) -> list[str]:
    """One beat of the demo's live customer stream; returns the conversations it changed.

    A customer writes (a follow-up on a recent open conversation, or a new one from a known
    or new contact) through the same ingest command a real channel uses, and replies queued
    on demo channels are "delivered" (marked sent), as a real channel would after SMTP.
    """
    from . import commands as cmd

    now = now or clock.utcnow()
    demo_channels = _demo_channels(ws)
    if not demo_channels:
        return []
    changed = deliver_replies(ws, now, demo_channels)
    channel = rng.choice(demo_channels)
    identity_kind = "email" if channel.kind == "form" else channel.kind
    with ws.read() as conn:
        recent = conn.exec_driver_sql(
            "SELECT c.id, ci.value, ct.name, c.subject FROM conversation c "
            "JOIN contact ct ON ct.id = c.contact_id "
            "JOIN contact_identity ci ON ci.contact_id = c.contact_id AND ci.kind = ? "
            "WHERE c.channel_id = ? AND c.status = 'open' ORDER BY c.last_message_at DESC LIMIT 20",
            (identity_kind, channel.id),
        ).all()
    if recent and rng.random() < 0.45:
        conv_id, value, name, subject = rng.choice(recent)
        body = rng.choice(T.FOLLOW_UPS[_language_of(ws, conv_id)])
        subject = f"Re: {subject}" if subject else ""
    else:
        name = _person(rng)
        value = {
            "email": f"{_slug(name, rng.randrange(10**6))}@mail.example",
            "whatsapp": f"+{rng.randrange(10**10, 10**11)}",
            "messenger": f"psid{rng.getrandbits(48)}",
            "chat": f"visitor-{rng.getrandbits(40):x}",
        }[identity_kind]
        thread = _Thread(rng, channel.kind, name, value)
        body = thread.first() if channel.kind != "form" else thread.ask
        subject = thread.subject if channel.kind in ("email", "form") else ""
    result = cmd.ingest(
        ws,
        cmd.Incoming(
            channel_id=channel.id,
            identity_kind=identity_kind,
            identity_value=value,
            contact_name=name,
            body=body,
            created_at=now,
            subject=subject,
            external_id=f"sim-{rng.getrandbits(64):x}@demo.unibox",
        ),
    )
    changed.append(result.conversation_id)
    return changed
