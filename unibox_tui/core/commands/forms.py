"""A form submission arrives: the entry point the hub's form endpoint calls.

`submit_form` checks the fields against the form channel's definition (backends/form.py),
then in ONE transaction: the contact (found or created by the submitted e-mail address), a
new conversation in the channel's inbox whose first message shows every field, and a ticket
in the inbox's default pipeline and stage. Idempotent on the submission id: posting the same
submission again changes nothing and returns what the first post made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Workspace
from ..errors import InvalidRequest
from ..models import Channel, Conversation
from .incoming import _Batch, _ingest_one, prepare
from .tickets import open_ticket


@dataclass
class FormSubmission:
    conversation_id: str
    message_id: str
    contact_id: str
    ticket_id: str | None
    duplicate: bool  # this submission id was stored before: nothing new was made

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "contact_id": self.contact_id,
            "ticket_id": self.ticket_id,
            "duplicate": self.duplicate,
        }


def submit_form(
    ws: Workspace,
    channel_id: str,
    fields: dict[str, Any],
    submission_id: str,
    *,
    now: datetime | None = None,
) -> FormSubmission:
    """Store one submission of the form channel `channel_id` (raises InvalidSubmission with
    every problem, or InvalidRequest / NotFound)."""
    from ...backends.form import FormChannel

    with ws.write(now) as tx:
        channel = tx.get(Channel, channel_id, "channel")
        if channel.kind != "form":
            raise InvalidRequest(f"channel {channel.name!r} is not a form")
        if not channel.enabled:
            raise InvalidRequest(f"the form {channel.name!r} is disabled")
        adapter = FormChannel.from_channel(_Row(channel))
        inc = adapter.incoming(fields, submission_id, tx.now)
        result = _ingest_one(_Batch(tx), prepare(inc, tx.now))
        conv = tx.get(Conversation, result.conversation_id, "conversation")
        if result.duplicate:
            ticket_id = conv.ticket_id
        else:
            # The inbox's default pipeline and stage (pipelines.ticket_place).
            ticket_id = open_ticket(tx, conv, None).id
        return FormSubmission(
            conversation_id=conv.id,
            message_id=result.message_id,
            contact_id=conv.contact_id,
            ticket_id=ticket_id,
            duplicate=result.duplicate,
        )


class _Row:
    """A stored channel as the adapter interface reads it (backends/base.ChannelConfig)."""

    def __init__(self, channel: Channel) -> None:
        import json

        self.id, self.kind, self.name = channel.id, channel.kind, channel.name
        self.inbox_id, self.address = channel.inbox_id, channel.address
        self.settings = json.loads(channel.settings or "{}")
