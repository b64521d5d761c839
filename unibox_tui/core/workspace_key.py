"""The workspace's secret key: ids only we can mint (e-mail Message-ID tokens) and the keys
the chat channel derives from it (visitor tokens, identity verification). Kept in the
`setting` table under a name the change log never sends to clients (changes.PRIVATE_SETTINGS);
the setting keeps the name it had when e-mail was the only channel."""

from __future__ import annotations

import hashlib
import hmac
import json
from secrets import token_hex

from . import clock
from .db import Workspace

WORKSPACE_KEY_SETTING = "email.thread_key"


def workspace_key(ws: Workspace) -> str:
    """The key, made on first use. The first writer's key wins (insert if missing, then
    read), so the engine, the hub's SMTP receiver and the chat routes starting together
    agree."""
    key = ws.setting(WORKSPACE_KEY_SETTING)
    if not key:
        with ws.write() as tx:
            tx.session.connection().exec_driver_sql(
                "INSERT INTO setting(key, value, updated_at, seq) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO NOTHING",
                (WORKSPACE_KEY_SETTING, json.dumps(token_hex(32)), clock.to_db(tx.now), tx.seq),
            )
        key = ws.setting(WORKSPACE_KEY_SETTING)
    return str(key)


def derived_key(workspace_secret: str, purpose: str) -> bytes:
    """A key for one purpose (e.g. "chat-visitor", "chat-identity:<channel id>"): knowing
    one derived key tells nothing about the workspace key or another purpose's key."""
    return hmac.new(workspace_secret.encode(), purpose.encode(), hashlib.sha256).digest()
