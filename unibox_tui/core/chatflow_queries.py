"""Reads for chatflows and the knowledge base: the lists the CLI and the TUI show, the
chatflow a visitor gets (`choose_chatflow`), what a widget shows before the conversation
exists (`opening`), and the bot report (`bot_stats`). Plain SQL through `ws.read()`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .chatflows import MAX_STEPS_PER_TURN, Context, branch_to, fill, matches, step_after
from .db import Workspace
from .errors import NotFound


@dataclass
class ChatflowRow:
    id: str
    name: str
    channel_id: str
    channel_name: str
    kind: str
    enabled: bool
    priority: int
    source: str
    spec: dict[str, Any]

    def to_json(self, *, source: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "name": self.name,
            "channel": self.channel_name,
            "channel_id": self.channel_id,
            "type": self.kind,
            "enabled": self.enabled,
            "priority": self.priority,
            "target": self.spec.get("target", {}),
            "steps": len(self.spec.get("steps", [])),
        }
        if source:
            out["source"] = self.source
        return out


_SELECT = """SELECT f.id, f.name, f.channel_id, coalesce(ch.name, ''), f.kind, f.enabled,
                    f.priority, f.source, f.spec
             FROM chatflow f LEFT JOIN channel ch ON ch.id = f.channel_id"""


def _row(r: Any) -> ChatflowRow:
    return ChatflowRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], json.loads(r[8]))


def chatflows(ws: Workspace, channel_id: str | None = None) -> list[ChatflowRow]:
    """Every chatflow (of one channel), the ones a page would try first first."""
    where, params = ("WHERE f.channel_id = ?", (channel_id,)) if channel_id else ("", ())
    with ws.read() as conn:
        rows = conn.exec_driver_sql(
            f"{_SELECT} {where} ORDER BY f.priority DESC, f.created_at, f.name", params
        ).all()
    return [_row(r) for r in rows]


def chatflow(ws: Workspace, ref: str) -> ChatflowRow:
    """One chatflow by id or name (names match without regard to case)."""
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            f"{_SELECT} WHERE f.id = ? OR lower(f.name) = lower(?)", (ref, ref.strip())
        ).first()
    if row is None:
        raise NotFound(f"no chatflow {ref!r}; `unibox chatflow list` lists them")
    return _row(row)


def choose_chatflow(ws: Workspace, channel_id: str, context: Context) -> ChatflowRow | None:
    """The chatflow this visitor gets on this channel: of the enabled ones whose targeting
    rules match, the highest priority (then the oldest). None: no chatflow applies."""
    for row in chatflows(ws, channel_id):
        if row.enabled and matches(row.spec.get("target", {}), context):
            return row
    return None


@dataclass
class Opening:
    """What a widget shows when it opens, before the visitor writes: the bot's name and its
    messages (a welcome, then the steps up to the first question, with its quick replies)."""

    chatflow_id: str
    author: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # {"body", "meta"}


def opening(ws: Workspace, row: ChatflowRow) -> Opening:
    """The messages `bot_turn(..., chatflow_id=row.id)` will write as the opening, for the
    widget to show before a conversation exists: the welcome, then the steps as the runner
    takes them (commands/bots.py `run_from`, with no answers yet) up to the first step that
    waits for the visitor (a question, shown with its options) or ends the bot (a hand-off,
    an end). Steps that show nothing (a contact property, a ticket) are passed over here:
    they run when the conversation starts, with the visitor's first message."""
    spec = row.spec
    out = Opening(row.id, spec.get("bot_name") or row.name)
    if spec.get("welcome", "").strip():
        out.messages.append({"body": spec["welcome"], "meta": {}})
    if spec.get("type") == "live_chat":
        return out
    steps: list[dict[str, Any]] = spec.get("steps", [])
    index = {s["id"]: n for n, s in enumerate(steps)}
    i = 0
    for _ in range(MAX_STEPS_PER_TURN):
        if i >= len(steps):
            break
        step = steps[i]
        kind = step["type"]
        if kind == "branch":
            i = branch_to(index, step, {})
            continue
        if kind == "message":
            out.messages.append({"body": fill(step["text"], {}), "meta": {}})
        elif kind == "article":
            found = article(ws, step["article"])
            if found is not None:
                intro = fill(step.get("text") or "", {}).strip()
                line = f"{found.title}: {found.url}"
                out.messages.append(
                    {
                        "body": f"{intro}\n{line}" if intro else line,
                        "meta": {"card": {"title": found.title, "url": found.url}},
                    }
                )
        elif kind == "question":
            options = step.get("options") or []
            meta = {"quick_replies": options} if options else {}
            out.messages.append({"body": step["text"], "meta": meta})
            break
        elif kind in ("handoff", "end"):
            if step.get("text"):
                out.messages.append({"body": fill(step["text"], {}), "meta": {}})
            break
        i = step_after(index, step)
    return out


@dataclass
class BotStats:
    """A bot's report (HubSpot's bot analytics): sessions started and how they ended, and
    per step how many sessions got through it (in the chatflow's step order)."""

    chatflow_id: str
    name: str
    started: int = 0
    completed: int = 0
    handed_off: int = 0
    abandoned: int = 0
    steps: list[tuple[str, int]] = field(default_factory=list)

    @property
    def active(self) -> int:
        return self.started - self.completed - self.handed_off - self.abandoned

    def to_json(self) -> dict[str, Any]:
        return {
            "chatflow_id": self.chatflow_id,
            "name": self.name,
            "started": self.started,
            "completed": self.completed,
            "handed_off": self.handed_off,
            "abandoned": self.abandoned,
            "active": self.active,
            "steps": [{"id": s, "completed": n} for s, n in self.steps],
        }


def bot_stats(ws: Workspace, ref: str) -> BotStats:
    row = chatflow(ws, ref)
    stats = BotStats(row.id, row.name)
    with ws.read() as conn:
        counts = conn.exec_driver_sql(
            "SELECT kind, step_id, count(DISTINCT conversation_id) FROM chatflow_event "
            "WHERE chatflow_id = ? GROUP BY kind, step_id",
            (row.id,),
        ).all()
    per_step: dict[str, int] = {}
    for kind, step_id, n in counts:
        if kind == "step":
            per_step[step_id] = n
        elif kind in ("started", "completed", "handed_off", "abandoned"):
            setattr(stats, kind, getattr(stats, kind) + n)
    stats.steps = [(s["id"], per_step.get(s["id"], 0)) for s in row.spec.get("steps", [])]
    return stats


# ------------------------------------------------------------------------- knowledge base


@dataclass
class ArticleRow:
    id: str
    title: str
    url: str
    body: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "url": self.url, "body": self.body}


def articles(ws: Workspace, search: str = "") -> list[ArticleRow]:
    """Knowledge articles by title; with `search`, those whose title, URL or text holds
    every word (a few hundred articles at most: a scan is fine)."""
    with ws.read() as conn:
        rows = [
            ArticleRow(*r)
            for r in conn.exec_driver_sql(
                "SELECT id, title, url, body FROM kb_article ORDER BY lower(title)"
            )
        ]
    words = search.lower().split()
    if not words:
        return rows
    return [r for r in rows if all(w in f"{r.title} {r.url} {r.body}".lower() for w in words)]


def article(ws: Workspace, ref: str) -> ArticleRow | None:
    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT id, title, url, body FROM kb_article WHERE id = ? OR lower(title) = lower(?)",
            (ref, ref.strip()),
        ).first()
    return ArticleRow(*row) if row else None


def meeting_link(ws: Workspace, agent_id: str) -> str | None:
    with ws.read() as conn:
        return conn.exec_driver_sql(
            "SELECT meeting_link FROM agent WHERE id = ?", (agent_id,)
        ).scalar()
