"""`unibox slack set|show|remove`: post an inbox's events to a Slack incoming webhook.

The webhook URL is a secret: it comes from an environment variable, a file, or the keyring
(read from standard input once and stored there), like a channel's password. The workspace
records only which of those it is."""

from __future__ import annotations

import sys

import click

from .cli_common import admin_actor, as_option, db_option, emit, guarded, json_option, open_ws
from .core.errors import InvalidRequest, SecretError


@click.group("slack")
def slack_group() -> None:
    """Slack notifications per inbox: new conversations, assignments, mentions, failures."""


@slack_group.command("set")
@click.argument("inbox")
@click.option("--webhook-env", metavar="VAR", help="Read the webhook URL from this variable.")
@click.option("--webhook-file", metavar="PATH", help="Read the webhook URL from this file.")
@click.option(
    "--webhook-keyring",
    is_flag=True,
    help="Read the webhook URL from standard input and keep it in the OS keyring.",
)
@click.option(
    "--events",
    metavar="LIST",
    help="Comma-separated: new_conversation, assigned, mention, failed_delivery (default all).",
)
@db_option
@as_option
@json_option
@guarded
def set_cmd(
    inbox: str,
    webhook_env: str | None,
    webhook_file: str | None,
    webhook_keyring: bool,
    events: str | None,
    db: str | None,
    as_handle: str | None,
    as_json: bool,
) -> None:
    """Post INBOX's events to Slack (the engine or hub posts them, about once a second)."""
    from .core import commands as cmd
    from .core import slack
    from .secrets import delete_secret, store_secret
    from .slack_notifier import check_url

    given = [x for x in (webhook_env, webhook_file, webhook_keyring or None) if x]
    if len(given) != 1:
        raise InvalidRequest(
            "give one of --webhook-env VAR, --webhook-file PATH, --webhook-keyring"
        )
    chosen = [e.strip() for e in events.split(",") if e.strip()] if events else None
    ws = open_ws(db)
    who = admin_actor(ws, as_handle)
    if webhook_env:
        source = f"env:{webhook_env}"
    elif webhook_file:
        source = f"file:{webhook_file}"
    else:
        source = "keyring"
        url = sys.stdin.readline().strip()
        check_url(url)  # says what is wrong without repeating the URL
    inbox_id = cmd.set_slack(ws, inbox, source, chosen, actor=who)
    if source == "keyring":
        name = f"slack:{inbox_id}"
        try:
            store_secret(name, url)
        except SecretError as e:
            cmd.remove_slack(ws, inbox_id, actor=who)  # no half-made setting left behind
            delete_secret(name)
            hint = str(e).replace(
                "--password-env VAR or --password-file FILE",
                "--webhook-env VAR or --webhook-file FILE",
            )
            raise SecretError(hint) from None
    [config] = [c for c in slack.configs(ws) if c.inbox_id == inbox_id]
    if as_json:
        emit(config.to_json())
    else:
        click.echo(f"{config.inbox}: posting {', '.join(config.events)} (webhook: {source})")


@slack_group.command("show")
@db_option
@json_option
@guarded
def show_cmd(db: str | None, as_json: bool) -> None:
    """Which inboxes post to Slack, which events, and where each webhook comes from."""
    from .core import slack

    configs = slack.configs(open_ws(db, read_only=True))
    if as_json:
        emit({"slack": [c.to_json() for c in configs]})
        return
    if not configs:
        click.echo("No inbox posts to Slack (`unibox slack set INBOX --webhook-env VAR`).")
    for c in configs:
        click.echo(f"{c.inbox}: {', '.join(c.events)} (webhook: {c.source})")


@slack_group.command("remove")
@click.argument("inbox")
@db_option
@as_option
@json_option
@guarded
def remove_cmd(inbox: str, db: str | None, as_handle: str | None, as_json: bool) -> None:
    """Stop posting INBOX's events to Slack (a webhook kept in the keyring is deleted)."""
    from .core import commands as cmd
    from .core import slack
    from .secrets import delete_secret

    ws = open_ws(db)
    before = {c.inbox_id: c for c in slack.configs(ws)}
    who = admin_actor(ws, as_handle)
    removed = cmd.remove_slack(ws, inbox, actor=who)
    for inbox_id, config in before.items():
        if (
            removed
            and config.source == "keyring"
            and inbox_id not in {c.inbox_id for c in slack.configs(ws)}
        ):
            delete_secret(config.secret_name)
    if as_json:
        emit({"removed": removed})
    else:
        click.echo("Removed." if removed else f"{inbox} did not post to Slack.")
