"""Chatflows and the knowledge base: what admins set up for the chat channels' bots and what
agents insert into replies.

A chatflow is stored as the TOML its author wrote (`source`) and its checked form (`spec`,
JSON), so the hub and every agent's cache hold the same text and the runner never parses
TOML. Saving checks everything, names included (teams, agents, articles), and refuses with
the line of the first problem (core/chatflows.py); nothing is stored then.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlmodel import select

from ..chatflows import ChatflowError, parse
from ..db import Tx, Workspace
from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..models import Agent, Channel, Chatflow, KbArticle, Team
from ._base import active_agent, require_admin, require_text

# Channel kinds a chatflow can run on: the conversational ones (not e-mail, not forms).
FLOW_CHANNELS = ("chat", "messenger", "whatsapp")
MAX_SOURCE = 200_000


def _resolver(tx: Tx):  # type: ignore[no-untyped-def]
    def resolve(what: str, ref: str) -> str | None:
        if what == "team":
            teams = tx.session.exec(select(Team)).all()
            if not any(t.id == ref or t.name.lower() == ref.lower() for t in teams):
                return f"no team {ref!r} (`unibox team list` lists them)"
        elif what == "agent":
            handle = ref.lstrip("@").lower()
            if tx.find(Agent, id=ref) is None and tx.find(Agent, handle=handle) is None:
                return f"no agent {ref!r} (`unibox agent list` lists handles)"
        elif what == "article":
            if article_ref(tx, ref) is None:
                return f"no knowledge article {ref!r} (`unibox kb list` lists them)"
        return None

    return resolve


def save_chatflow(
    ws: Workspace,
    name: str,
    source: str,
    *,
    channel: str | None = None,
    enabled: bool | None = None,
    actor: str | None = None,
    id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Create a chatflow (on `channel`, a chat channel's name or id), or replace the text of
    the one with that name (admins only). Refused, with the line, when the text is wrong.
    `enabled`: None keeps it as it is (a new one starts enabled)."""
    name = require_text(name, "chatflow name").strip()
    if len(source) > MAX_SOURCE:
        raise InvalidRequest(f"a chatflow is at most {MAX_SOURCE:,} characters")
    with ws.write(now) as tx:
        require_admin(tx, actor, "change chatflows")
        found = chatflow_ref(tx, name, missing_ok=True) or (
            tx.find(Chatflow, id=id) if id else None
        )
        spec = parse(source, _resolver(tx))
        if found is None:
            if channel is None:
                raise InvalidRequest("a new chatflow needs its channel: --channel NAME")
            row = Chatflow(id=id or new_id(tx.now), name=name, channel_id="", created_at=tx.now)
        else:
            row = found
        if channel is not None:
            row.channel_id = _flow_channel(tx, channel).id
        if enabled is not None:
            row.enabled = enabled
        row.kind = spec["type"]
        row.priority = spec["priority"]
        row.source = source
        row.spec = json.dumps(spec)
        tx.stamp(row)
        return row.id


def set_chatflow_enabled(
    ws: Workspace, name: str, enabled: bool, *, actor: str | None = None
) -> bool:
    """Enable or disable a chatflow (by name or id); False when it already was."""
    with ws.write() as tx:
        require_admin(tx, actor, "change chatflows")
        row = chatflow_ref(tx, name)
        assert row is not None
        if row.enabled == enabled:
            return False
        row.enabled = enabled
        tx.stamp(row)
        return True


def chatflow_ref(tx: Tx, ref: str, *, missing_ok: bool = False) -> Chatflow | None:
    found = tx.find(Chatflow, id=ref) or tx.find(Chatflow, name=ref)
    if found is None:
        rows = tx.session.exec(select(Chatflow)).all()
        found = next((r for r in rows if r.name.lower() == ref.strip().lower()), None)
    if found is None and not missing_ok:
        raise NotFound(f"no chatflow {ref!r}; `unibox chatflow list` lists them")
    return found


def _flow_channel(tx: Tx, ref: str) -> Channel:
    found = tx.find(Channel, id=ref)
    if found is None:
        rows = tx.session.exec(select(Channel)).all()
        found = next((c for c in rows if c.name.lower() == ref.strip().lower()), None)
    if found is None:
        raise NotFound(f"no channel {ref!r}; `unibox channel list` lists them")
    if found.kind not in FLOW_CHANNELS:
        raise InvalidRequest(
            f"channel {found.name!r} is {found.kind}: chatflows run on "
            f"{', '.join(FLOW_CHANNELS)} channels"
        )
    return found


# ------------------------------------------------------------------------- knowledge base


def _check_url(url: str, what: str) -> str:
    url = url.strip()
    if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
        raise InvalidRequest(f"{what} must be an http(s) URL, not {url[:80]!r}")
    return url


def article_ref(tx: Tx, ref: str) -> KbArticle | None:
    found = tx.find(KbArticle, id=ref)
    if found is None:
        rows = tx.session.exec(select(KbArticle)).all()
        found = next((a for a in rows if a.title.lower() == ref.strip().lower()), None)
    return found


def save_article(
    ws: Workspace,
    title: str,
    url: str,
    *,
    body: str = "",
    actor: str | None = None,
    id: str | None = None,
) -> str:
    """Add a knowledge article, or replace the URL and text of the one with that title
    (any agent may, like snippets)."""
    title = require_text(title, "article title").strip()
    url = _check_url(url, "an article's URL")
    with ws.write() as tx:
        if actor is not None:
            active_agent(tx, actor)
        row = article_ref(tx, title) or KbArticle(
            id=id or new_id(tx.now), title=title, url=url, created_at=tx.now
        )
        row.url, row.body = url, body
        tx.stamp(row)
        return row.id


def remove_article(ws: Workspace, title: str, *, actor: str | None = None) -> None:
    """Remove a knowledge article (by title or id). Bots that offer it are refused on their
    next save; a running bot skips it."""
    with ws.write() as tx:
        if actor is not None:
            active_agent(tx, actor)
        row = article_ref(tx, title)
        if row is None:
            raise NotFound(f"no knowledge article {title!r}; `unibox kb list` lists them")
        tx.delete(row)


URL = re.compile(r"https?://[^\s<>\"']+")


def link_card(tx: Tx, text: str) -> dict[str, str] | None:
    """The card a chat shows for a reply that holds a knowledge article's URL or an agent's
    meeting link (the first one in the text): `{"title", "url"}`, or None."""
    urls = [u.rstrip(".,;:!?)") for u in URL.findall(text)]
    if not urls:
        return None
    conn = tx.session.connection()
    for url in urls:
        row = conn.exec_driver_sql(
            "SELECT title FROM kb_article WHERE url = ? LIMIT 1", (url,)
        ).first()
        if row:
            return {"title": row[0], "url": url}
        row = conn.exec_driver_sql(
            "SELECT name FROM agent WHERE meeting_link = ? LIMIT 1", (url,)
        ).first()
        if row:
            return {"title": f"Book a meeting with {row[0]}", "url": url}
    return None


def meeting_link(url: str) -> str | None:
    """An agent's meeting link as stored: an http(s) URL, or None for "" (clears it)."""
    if not url.strip():
        return None
    return _check_url(url, "a meeting link")


__all__ = [
    "ChatflowError",
    "article_ref",
    "chatflow_ref",
    "meeting_link",
    "remove_article",
    "save_article",
    "save_chatflow",
    "set_chatflow_enabled",
]
