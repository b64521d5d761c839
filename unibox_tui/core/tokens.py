"""Checking a hub sign-in token (issued by core/commands/tokens.py): the one place that says
which agent a token signs in, or why it signs in no one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .errors import NoAccess

PREFIX = "ubx_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    agent_id: str
    handle: str
    role: str
    token_id: str


def verify(conn: Any, token: str) -> SignedIn:
    """The agent `token` signs in; NoAccess with what to do when it signs in no one."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
        raise NoAccess(
            "that is not a unibox sign-in token; ask an admin for one (`unibox agent token HANDLE`)"
        )
    row = conn.exec_driver_sql(
        "SELECT t.id, t.revoked_at, a.id, a.handle, a.role, a.active FROM agent_token t "
        "JOIN agent a ON a.id = t.agent_id WHERE t.token_hash = ?",
        (token_hash(token),),
    ).first()
    if row is None:
        raise NoAccess(
            "unknown sign-in token; ask an admin for a new one (`unibox agent token HANDLE`)"
        )
    token_id, revoked, agent_id, handle, role, active = row
    if revoked is not None:
        raise NoAccess("this sign-in token was revoked; ask an admin for a new one")
    if not active:
        raise NoAccess(f"@{handle} is deactivated; ask an admin to reactivate the account")
    return SignedIn(agent_id, handle, role, token_id)


def still_valid(conn: Any, token_ids: list[str]) -> set[str]:
    """Which of these tokens still sign someone in (not revoked, agent active)."""
    if not token_ids:
        return set()
    marks = ",".join("?" * len(token_ids))
    rows = conn.exec_driver_sql(
        f"SELECT t.id FROM agent_token t JOIN agent a ON a.id = t.agent_id "
        f"WHERE t.id IN ({marks}) AND t.revoked_at IS NULL AND a.active = 1",
        tuple(token_ids),
    ).all()
    return {r[0] for r in rows}
