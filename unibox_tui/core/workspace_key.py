"""The workspace's secret key: ids only we can mint (e-mail Message-ID tokens) and the keys
the chat channel derives from it (visitor tokens, identity verification). Kept in the
`setting` table under a name the change log never sends to clients (changes.PRIVATE_SETTINGS);
the setting keeps the name it had when e-mail was the only channel."""

from __future__ import annotations

import hashlib
import hmac
from secrets import token_hex

from .db import Workspace

WORKSPACE_KEY_SETTING = "email.thread_key"


def workspace_key(ws: Workspace) -> str:
    """The key, made on first use."""
    key = ws.setting(WORKSPACE_KEY_SETTING)
    if not key:
        key = token_hex(32)
        ws.set_setting(WORKSPACE_KEY_SETTING, key)
    return str(key)


def derived_key(workspace_secret: str, purpose: str) -> bytes:
    """A key for one purpose (e.g. "chat-visitor", "chat-identity:<channel id>"): knowing
    one derived key tells nothing about the workspace key or another purpose's key."""
    return hmac.new(workspace_secret.encode(), purpose.encode(), hashlib.sha256).digest()
