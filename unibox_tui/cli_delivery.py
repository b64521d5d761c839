"""`unibox conversations resend|mark-sent MESSAGE_ID`: settle a reply whose delivery failed or
is uncertain (core/outbox.py says when a reply is uncertain). Registered by cli.py."""

from __future__ import annotations

import click

from .cli_common import as_option, db_option, emit, guarded, json_option, open_ws


def _done(message_id: str, state: str, as_json: bool, line: str) -> None:
    if as_json:
        emit({"message_id": message_id, "delivery_state": state})
    else:
        click.echo(line)


@click.command("resend")
@click.argument("message_id")
@db_option
@json_option
@as_option
@guarded
def resend_cmd(message_id: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Send a reply again whose delivery failed or is uncertain. An uncertain reply may have
    arrived: the customer may then get it twice."""
    from .cli import actor
    from .core import commands as cmd

    with open_ws(db) as ws:
        cmd.resend(ws, message_id, actor=actor(ws, as_handle))
    _done(message_id, "queued", as_json, f"queued again: {message_id}")


@click.command("mark-sent")
@click.argument("message_id")
@db_option
@json_option
@as_option
@guarded
def mark_sent_cmd(message_id: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Mark a reply of uncertain delivery as sent (you know it arrived); it is not sent again."""
    from .cli import actor
    from .core import commands as cmd

    with open_ws(db) as ws:
        cmd.mark_sent(ws, message_id, actor=actor(ws, as_handle))
    _done(message_id, "sent", as_json, f"marked as sent: {message_id}")
