"""Sign-in tokens for the team hub (issue 10): an admin issues one per agent; the hub keeps
only its SHA-256. Issuing a new token replaces the agent's previous one (one token per agent:
"which token is this?" never needs an answer); revoking ends it. The hub notices either
within a second and disconnects the agent's sessions (hub/server.py).

A token is 32 random bytes (`secrets.token_urlsafe`): a plain SHA-256 is the right store for
a secret with that much entropy (a slow password hash protects guessable secrets only)."""

from __future__ import annotations

from ..db import Workspace
from ..ids import new_id
from ..models import AgentToken
from ..tokens import PREFIX, token_hash
from ._base import agent_ref, require_admin


def issue_token(ws: Workspace, handle: str, actor: str | None = None) -> str:
    """Issue a new hub sign-in token for @HANDLE (replacing theirs); returns it, shown once."""
    import secrets

    token = PREFIX + secrets.token_urlsafe(32)
    with ws.write() as tx:
        require_admin(tx, actor, "issue sign-in tokens")
        agent = agent_ref(tx, handle)
        _revoke(tx, agent.id)
        tx.session.add(
            AgentToken(
                id=new_id(), agent_id=agent.id, token_hash=token_hash(token), created_at=tx.now
            )
        )
    return token


def revoke_tokens(ws: Workspace, handle: str, actor: str | None = None) -> int:
    """Revoke @HANDLE's hub sign-in token; returns how many were live (0 or 1)."""
    with ws.write() as tx:
        require_admin(tx, actor, "revoke sign-in tokens")
        return _revoke(tx, agent_ref(tx, handle).id)


def _revoke(tx, agent_id: str) -> int:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    live = tx.session.exec(
        select(AgentToken).where(AgentToken.agent_id == agent_id, AgentToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ).all()
    for row in live:
        row.revoked_at = tx.now
        tx.session.add(row)
    tx.session.flush()
    return len(live)
