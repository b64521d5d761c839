"""The agent's unsent drafts as the inbox screen keeps them: in memory for the editor, and in
the workspace (commands.save_draft / clear_draft) so they survive a restart.

A draft is written when the agent leaves it (closes the editor, moves to another
conversation, quits), not on every key. Sending clears it in the core command itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ..core import commands, queries
from ..core.composing import MailFields
from ..core.db import Workspace
from ..core.errors import UniboxError
from ..widgets.composer import Draft


class DraftStore:
    def __init__(
        self,
        ws: Workspace,
        me: str | None,
        now: Callable[[], datetime],
        on_error: Callable[[str], None],
        run: Callable[..., None] | None = None,
    ) -> None:
        """`run(fn, *args, failed=..., quiet=..., **kwargs)` runs a command (the app's command
        queue, off the UI thread); without it, here and now."""
        self.ws, self.me, self.now, self.on_error = ws, me, now, on_error
        self.run = run
        self._drafts: dict[str, Draft] = {}
        if me:
            for cid, row in queries.drafts(ws, me).items():
                mail = MailFields.from_json(row.mail)
                self._drafts[cid] = Draft(row.mode, row.text, row.via_channel_id, mail)

    def __len__(self) -> int:
        return len(self._drafts)

    def get(self, conversation_id: str) -> Draft | None:
        """A copy: the editor changes it, and `keep` compares it with what is stored."""
        draft = self._drafts.get(conversation_id)
        return replace(draft) if draft is not None else None

    def ids(self) -> frozenset[str]:
        return frozenset(self._drafts)

    def keep(self, conversation_id: str, draft: Draft) -> None:
        """Keep the draft (blank text drops it), in the workspace too when it changed."""
        old = self._drafts.get(conversation_id)
        if not draft.text.strip():
            if old is not None:
                del self._drafts[conversation_id]
                self._write(commands.clear_draft, conversation_id)
            return
        mail = replace(draft.mail) if draft.mail is not None else None
        kept = Draft(draft.mode, draft.text, draft.via_channel_id, mail)
        self._drafts[conversation_id] = kept
        if old != kept:
            self._write(
                commands.save_draft,
                conversation_id,
                kept.text,
                mode=kept.mode,
                via_channel_id=kept.via_channel_id,
                mail=mail.to_json() if mail is not None else None,
            )

    def restored(self, conversation_id: str, draft: Draft) -> None:
        """A command already kept this draft in the workspace (an unsent reply)."""
        self._drafts[conversation_id] = replace(draft)

    def sent(self, conversation_id: str) -> None:
        """The reply or comment went out (its command cleared the stored draft)."""
        self._drafts.pop(conversation_id, None)

    def _write(self, fn: Callable[..., object], conversation_id: str, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        if not self.me:
            return  # nobody to keep it for: this session only
        kw.update(actor=self.me, now=self.now())
        if self.run is not None:
            self.run(
                fn,
                conversation_id,
                *args,
                failed=lambda e: self.on_error(f"The draft was not saved: {e}"),
                quiet=True,
                **kw,
            )
            return
        try:
            fn(self.ws, conversation_id, *args, **kw)
        except UniboxError as e:
            self.on_error(f"The draft was not saved: {e}")
