"""`unibox channel add messenger|whatsapp`, their `channel embed` text, and
`unibox whatsapp templates ...` (registered by cli_channels.py).

Secrets (page token, access token, app secret, verify token) are given as an environment
variable or a file (only where they come from is stored), or typed at a terminal and kept
in the system keyring; never in the database.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from .cli_common import admin_actor, as_option, db_option, emit, guarded, json_option, open_ws
from .core.errors import InvalidRequest

GRAPH_HELP = "Graph API base URL (tests, proxies). Default: Meta's Graph API."


def _secret_options(key: str, label: str) -> list[Any]:
    flag = key.replace("_", "-")
    return [
        click.option(
            f"--{flag}-env",
            f"{key}_env",
            metavar="VAR",
            help=f"Read the {label} from this env variable.",
        ),
        click.option(
            f"--{flag}-file",
            f"{key}_file",
            type=click.Path(dir_okay=False),
            help=f"Read the {label} from this file.",
        ),
    ]


def _with(options: list[Any]) -> Any:
    def wrap(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


def _sources(
    values: dict[str, Any], keys: tuple[tuple[str, str], ...], channel_name: str
) -> dict[str, str]:
    """`<key>_source` settings from --X-env / --X-file, or typed and stored in the keyring."""
    from .secrets import store_secret

    settings = {}
    for key, label in keys:
        env, file = values.get(f"{key}_env"), values.get(f"{key}_file")
        flag = key.replace("_", "-")
        if env and file:
            raise InvalidRequest(f"give --{flag}-env or --{flag}-file, not both")
        if env:
            settings[f"{key}_source"] = f"env:{env}"
        elif file:
            settings[f"{key}_source"] = f"file:{Path(file).expanduser().resolve()}"
        elif sys.stdin.isatty():
            store_secret(f"{channel_name}:{key}", click.prompt(label.capitalize(), hide_input=True))
            settings[f"{key}_source"] = "keyring"
        else:
            raise InvalidRequest(
                f"no {label} given: pass --{flag}-env VAR or --{flag}-file FILE, or run in a "
                "terminal to type it (it is then kept in the system keyring)"
            )
    return settings


def _add(
    kind: str,
    inbox: str,
    name: str,
    settings: dict[str, Any],
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    from .backends import registry
    from .cli_channels import _admin_first, add_to_inbox
    from .core import queries as q

    settings = registry.adapter_class(kind).check_settings(settings, None)
    who = _admin_first(db, as_handle)
    with open_ws(db, create=True) as ws:
        channel_id = add_to_inbox(
            ws, inbox=inbox, kind=kind, name=name, settings=settings, actor=who
        )
        row = next(c for c in q.channels(ws) if c.id == channel_id)
        flow = None
        if kind == "messenger":
            from .backends.messenger import add_default_chatflow

            flow = add_default_chatflow(ws, channel_id, name, who)
    if as_json:
        emit(row.to_json())
    else:
        click.echo(channel_id)
    if flow is not None:
        click.echo(
            f"enabled chatflow {flow!r} (a welcome, then the inbox's routing): "
            f"`unibox chatflow edit {shlex.quote(flow)}` changes it",
            err=True,
        )
    click.echo(
        f"next: `unibox channel embed {channel_id}` prints the callback URL for Meta", err=True
    )


@click.command("messenger")
@click.option("--inbox", required=True, help="Inbox name or id (created if missing).")
@click.option("--page-id", required=True, help="The Facebook Page's numeric id.")
@click.option("--name", "channel_name", help="Channel name (default: Messenger PAGE_ID).")
@_with(_secret_options("page_token", "page access token"))
@_with(_secret_options("app_secret", "app secret"))
@_with(_secret_options("verify_token", "webhook verify token"))
@click.option(
    "--human-agent-tag",
    is_flag=True,
    help="Agents may reply up to 7 days after the customer's last message (HUMAN_AGENT tag; "
    "the app needs Meta's approval for it).",
)
@click.option("--graph-url", metavar="URL", help=GRAPH_HELP)
@db_option
@json_option
@as_option
@guarded
def add_messenger(
    inbox: str,
    page_id: str,
    channel_name: str | None,
    human_agent_tag: bool,
    graph_url: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
    **secrets: Any,
) -> None:
    """Connect a Facebook Page's Messenger inbox (webhooks in, the Send API out)."""
    from .backends.messenger import SECRETS

    name = channel_name or f"Messenger {page_id}"
    settings: dict[str, Any] = {"page_id": page_id, "human_agent_tag": human_agent_tag}
    if graph_url:
        settings["graph_url"] = graph_url
    settings.update(_sources(secrets, SECRETS, name))
    _add("messenger", inbox, name, settings, db, as_json, as_handle)


@click.command("whatsapp")
@click.option("--inbox", required=True, help="Inbox name or id (created if missing).")
@click.option("--phone-number-id", required=True, help="The number's id in the Cloud API.")
@click.option("--waba-id", required=True, help="The WhatsApp Business Account id.")
@click.option("--name", "channel_name", help="Channel name (default: WhatsApp PHONE_NUMBER_ID).")
@_with(_secret_options("token", "access token"))
@_with(_secret_options("app_secret", "app secret"))
@_with(_secret_options("verify_token", "webhook verify token"))
@click.option("--graph-url", metavar="URL", help=GRAPH_HELP)
@db_option
@json_option
@as_option
@guarded
def add_whatsapp(
    inbox: str,
    phone_number_id: str,
    waba_id: str,
    channel_name: str | None,
    graph_url: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
    **secrets: Any,
) -> None:
    """Connect a WhatsApp Business number (Cloud API: webhooks in, messages API out)."""
    from .backends.whatsapp import SECRETS

    name = channel_name or f"WhatsApp {phone_number_id}"
    settings: dict[str, Any] = {"phone_number_id": phone_number_id, "waba_id": waba_id}
    if graph_url:
        settings["graph_url"] = graph_url
    settings.update(_sources(secrets, SECRETS, name))
    _add("whatsapp", inbox, name, settings, db, as_json, as_handle)


def embed_meta(row: Any, hub_url: str) -> dict[str, Any]:
    """What to paste into the Meta app's webhook settings for a Messenger/WhatsApp channel."""
    fields = {
        "messenger": "messages, messaging_postbacks, message_deliveries, message_reads, "
        "message_echoes",
        "whatsapp": "messages",
    }[row.kind]
    return {
        "callback_url": f"{hub_url}/webhooks/{row.kind}/{row.id}",
        "verify_token": row.settings.get("verify_token_source"),
        "subscribe": fields,
        "note": "the verify token is the value of that source; Meta's callback must be HTTPS",
    }


# ---------------------------------------------------------------------- templates


@click.group("whatsapp")
def whatsapp_group() -> None:
    """WhatsApp channels: message templates."""


@whatsapp_group.group("templates")
def templates_group() -> None:
    """The approved message templates (the only messages WhatsApp takes outside 24 h)."""


@templates_group.command("sync")
@click.argument("channel")
@db_option
@json_option
@as_option
@guarded
def sync_templates(channel: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Fetch CHANNEL's approved templates from the Graph API and keep them."""
    from .backends.meta import GraphError, reason_of
    from .backends.whatsapp import WhatsAppChannel
    from .cli_channels import _channel
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = _channel(ws, channel)
        if row.kind != "whatsapp":
            raise InvalidRequest(f"{row.name} is a {row.kind} channel, not WhatsApp")
        who = admin_actor(ws, as_handle)
        adapter = WhatsAppChannel.from_channel(row)
        try:
            found = adapter.fetch_templates()
        except GraphError as error:
            raise InvalidRequest(f"cannot read the templates: {reason_of(error)}") from error
        cmd.update_channel(ws, row.id, settings={**row.settings, "templates": found}, actor=who)
    if as_json:
        emit(found)
        return
    click.echo(f"{len(found)} approved template(s) on {row.name}", err=True)
    for t in found:
        click.echo(f"{t['name']}:{t['language']}  {t['params']} parameter(s)  {t['category']}")


@templates_group.command("list")
@click.argument("channel")
@db_option
@json_option
@guarded
def list_templates(channel: str, db: str | None, as_json: bool) -> None:
    """The templates CHANNEL keeps (as of its last sync)."""
    from .backends.templates import templates_of
    from .cli_channels import _channel
    from .core.text import one_line

    with open_ws(db, read_only=True) as ws:
        row = _channel(ws, channel)
    found = templates_of(row.settings)
    if as_json:
        emit(found)
        return
    for t in found:
        click.echo(
            f"{t['name']}:{t['language']}  {t['params']} parameter(s)  {one_line(t['body'])}"
        )
