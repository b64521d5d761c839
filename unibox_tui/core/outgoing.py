"""An outgoing message as the core hands it to a channel adapter: the same for every kind.

Kept apart from outbox.py (which needs the ORM) so channel adapters and their worker
processes can import it for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class OutboxItem:
    """One outgoing message, the same for every channel kind (core/outbox.py fills it).

    `recipient` is the contact's identity of the kind this channel answers
    (kinds.REPLY_IDENTITY): an e-mail address, a PSID, a WhatsApp number, a visitor id.
    `thread` lists the provider ids of the conversation's earlier messages on channels of
    this kind, oldest first, as (kind, external_id) with kind "incoming" or "outgoing":
    e-mail threads on them,
    Messenger and WhatsApp can quote the last one. `conversation_meta` is what the channel
    stored on the conversation when the customer wrote (e-mail: the CC list); only the
    channel's own adapter reads it."""

    entry_id: str
    message_id: str
    channel_id: str
    channel_kind: str
    conversation_id: str
    attempts: int
    body: str
    body_html: str | None
    subject: str
    recipient: str | None
    recipient_name: str
    author_name: str
    created_at: datetime
    external_id: str | None
    handed_over: bool = False  # an earlier try reached the point of no return
    thread: list[tuple[str, str]] = field(default_factory=list)
    conversation_meta: dict[str, Any] = field(default_factory=dict)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    # What the agent (or a bot) set on this message that its channel reads when sending:
    # e-mail to / cc / bcc and "forward", a WhatsApp template, a bot's quick replies or card.
    message_meta: dict[str, Any] = field(default_factory=dict)
    # The customer's last message on this channel's kind (reply windows: Messenger, WhatsApp).
    last_inbound_at: datetime | None = None
    by_agent: bool = True  # written by a person (Messenger's HUMAN_AGENT tag is for people)
    # The stored attachments' ids, in the order of `attachments` (a file's part is
    # "file:<id>"), and the parts an earlier try delivered: part -> the provider's id. A
    # channel that sends a reply as several messages (Messenger, WhatsApp: the text, then one
    # per file) sends only the parts not in `parts` (outbox.py: "parts").
    attachment_ids: list[str] = field(default_factory=list)
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        """Stable across every try of this message: our message id."""
        return self.message_id

    def file_parts(self) -> list[tuple[str, str, str, bytes]]:
        """(part, file name, MIME type, bytes) of every file, in order."""
        ids = self.attachment_ids
        return [
            (f"file:{ids[i] if i < len(ids) else i}", name, content_type, data)
            for i, (name, content_type, data) in enumerate(self.attachments)
        ]
