"""Our outgoing Message-IDs: deterministic, and proof of the conversation they belong to.

Format: `<{message_id}.{conversation_id}.{mac}@{domain}>` where `mac` is the first 16 hex
digits of HMAC-SHA256(workspace key, "{message_id}.{conversation_id}").

- Deterministic: the same stored message always gets the same Message-ID, so a retry after a
  crash re-sends the *same* message (a receiving server or client can dedupe it, and the
  Sent-folder check in the engine finds it), never a second one.
- Verifiable: when a customer replies, their In-Reply-To/References carry this id back. Even
  when our database does not know the id (the send was never recorded, the message was
  imported elsewhere), a valid MAC proves which conversation the reply belongs to; an id
  someone made up to inject mail into a conversation fails the check.

The conversation id rides in the id itself (the brief's `<{message_id}.{hmac16}@domain>`
could only be checked by looking the message up first, which fails in exactly the cases the
token exists for).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SETTING_KEY = "email.thread_key"
_ID_PART = r"[A-Za-z0-9_-]{1,64}"
_TOKEN = re.compile(rf"^({_ID_PART})\.({_ID_PART})\.([0-9a-f]{{16}})@(.+)$")


def new_key() -> str:
    return secrets.token_hex(32)


def _mac(key: str, message_id: str, conversation_id: str) -> str:
    payload = f"{message_id}.{conversation_id}".encode()
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()[:16]


def make_message_id(key: str, message_id: str, conversation_id: str, domain: str) -> str:
    """The Message-ID (without <>) for our stored message `message_id`."""
    if not re.fullmatch(_ID_PART, message_id) or not re.fullmatch(_ID_PART, conversation_id):
        raise ValueError("message and conversation ids must be short [A-Za-z0-9_-] strings")
    domain = (domain or "unibox.invalid").strip().lower() or "unibox.invalid"
    return f"{message_id}.{conversation_id}.{_mac(key, message_id, conversation_id)}@{domain}"


@dataclass(frozen=True)
class Token:
    message_id: str
    conversation_id: str


def verify(key: str, external_id: str) -> Token | None:
    """The (message, conversation) a Message-ID of ours names, or None if it is not ours."""
    match = _TOKEN.match(external_id.strip().strip("<>"))
    if not match:
        return None
    message_id, conversation_id, mac, _domain = match.groups()
    if not hmac.compare_digest(mac, _mac(key, message_id, conversation_id)):
        return None
    return Token(message_id, conversation_id)


def conversation_hint(key: str, ids: tuple[str, ...] | list[str]) -> str | None:
    """The conversation proven by the first of `ids` that is one of our tokens."""
    for external_id in ids:
        token = verify(key, external_id)
        if token is not None:
            return token.conversation_id
    return None
