"""What a one-key decision did, said in a toast, and how to take it back.

`describe` names a conversation the way toasts do: its subject (else preview, else contact),
cleaned and shortened, in quotes. Toast text quotes customers, so it is shown without markup.
"""

from __future__ import annotations

from ..core.queries import ConversationRow
from ..core.text import one_line

SUBJECT_CELLS = 40


def describe(row: ConversationRow) -> str:
    """“Order #1042 hasn't arrived”: a conversation as a toast names it."""
    name = row.subject or row.preview or row.contact_name or "(no subject)"
    return f"“{one_line(name, SUBJECT_CELLS)}”"
