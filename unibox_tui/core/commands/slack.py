"""Slack settings per inbox (core/slack.py): an admin names where the webhook URL comes
from and which events to post. The URL itself is never stored here."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..db import Tx, Workspace
from ..errors import InvalidRequest
from ..models import Setting
from ..slack import EVENTS, SETTING
from ._base import inbox_ref, require_admin

SOURCES = ("env:", "file:", "keyring")


def _load(tx: Tx) -> tuple[Setting | None, dict]:
    row = tx.session.get(Setting, SETTING)
    return row, json.loads(row.value) if row else {}


def _save(tx: Tx, row: Setting | None, value: dict) -> None:
    if row is None:
        row = Setting(key=SETTING, value="{}")
    row.value = json.dumps(value, sort_keys=True)
    tx.stamp(row)


def set_slack(
    ws: Workspace,
    inbox: str,
    source: str,
    events: Iterable[str] | None = None,
    *,
    actor: str | None,
) -> str:
    """Post `events` (default: all) of `inbox` to the Slack webhook found at `source`
    (`env:VAR`, `file:PATH` or `keyring`). Returns the inbox id."""
    chosen = tuple(dict.fromkeys(events or EVENTS))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise InvalidRequest(f"unknown Slack event {unknown[0]!r}; use any of {', '.join(EVENTS)}")
    if not (source == "keyring" or (source.startswith(SOURCES[:2]) and source.split(":", 1)[1])):
        raise InvalidRequest(f"a webhook comes from env:VAR, file:PATH or keyring (got {source!r})")
    with ws.write() as tx:
        require_admin(tx, actor, "set up Slack notifications")
        found = inbox_ref(tx, inbox)
        row, value = _load(tx)
        value[found.id] = {"source": source, "events": list(chosen)}
        _save(tx, row, value)
        return found.id


def remove_slack(ws: Workspace, inbox: str, *, actor: str | None) -> bool:
    """Stop posting `inbox` to Slack. False when it did not post."""
    with ws.write() as tx:
        require_admin(tx, actor, "change Slack notifications")
        found = inbox_ref(tx, inbox)
        row, value = _load(tx)
        if found.id not in value:
            return False
        del value[found.id]
        _save(tx, row, value)
        return True
