"""`unibox channel ...` and `unibox sync`: connect channels, run the engine from the shell.

Registered by cli.py (`main.add_command(channel_group, "channel")`). Kept import-light: the
network libraries load only when a command needs them. Errors are one line on stderr with
exit status 1, never a traceback, and never contain a password.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .cli_common import (
    admin_actor,
    as_option,
    db_option,
    emit,
    fail,
    guarded,
    json_option,
    open_ws,
)
from .core.errors import InvalidRequest, NotFound
from .core.text import clean


def _channel(ws: Any, ref: str) -> Any:
    """A channel by id, unique id prefix, or name (case-insensitive)."""
    from .core import queries as q

    rows = q.channels(ws)
    exact = [c for c in rows if c.id == ref or c.name.lower() == ref.lower()]
    found = exact or [c for c in rows if c.id.startswith(ref)]
    if not found:
        raise NotFound(f"no channel {ref!r}; `unibox channel list` shows them")
    if len(found) > 1:
        raise InvalidRequest(f"{ref!r} matches {len(found)} channels; give the full id")
    return found[0]


# ------------------------------------------------------------------------------ channel


@click.group("channel")
def channel_group() -> None:
    """Connect and manage channels (team e-mail, ...)."""


@channel_group.group("add")
def add_group() -> None:
    """Connect a new channel to an inbox."""


def _sender_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--sender-name",
            type=click.Choice(["agent_and_company", "company", "agent"]),
            help="From name: 'Ana from Acme' (default), the company only, or the agent only.",
        ),
        click.option("--company", help="Company name used in the From name."),
        click.option(
            "--signature",
            help="Team signature; {{agent.name}} and {{agent.first_name}} are replaced.",
        ),
        click.option(
            "--signature-file",
            type=click.Path(dir_okay=False),
            help="Team signature read from a file (several lines); as --signature.",
        ),
        click.option("--reply-from", help="Address replies are sent from (default: --address)."),
        click.option(
            "--allow", multiple=True, help="Always accept this address or domain (repeatable)."
        ),
        click.option(
            "--deny",
            multiple=True,
            help="Keep mail from this address or domain out of the inbox (repeatable; * = all).",
        ),
        click.option(
            "--forwarded",
            type=click.Choice(["original", "forwarder"]),
            help="Attribute forwarded mail to the original sender (default) or the forwarder.",
        ),
        click.option(
            "--attachment-limit-mb",
            type=click.FloatRange(0),
            help="Attachments larger than this keep only their metadata (default 25).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _apply_sender(settings: dict[str, Any], options: dict[str, Any]) -> None:
    path = options.get("signature_file")
    if path is not None:
        if options.get("signature") is not None:
            raise InvalidRequest("give --signature or --signature-file, not both")
        try:
            signature = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidRequest(f"no signature file {path!r}; check the path") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"cannot read the signature file {path!r}: {e}") from None
        if len(signature) > 4000:
            raise InvalidRequest("the signature file is over 4,000 characters; keep it short")
        options["signature"] = clean(signature).strip()
    for key in ("sender_name", "company", "signature", "reply_from", "forwarded"):
        if options.get(key) is not None:
            settings[key] = options[key]
    if options.get("attachment_limit_mb") is not None:
        settings["attachment_limit_mb"] = options["attachment_limit_mb"]
    for key in ("allow", "deny"):
        if options.get(key):
            settings[key] = [v.strip().lower() for v in options[key] if v.strip()]
    if settings.get("reply_from"):
        settings["reply_from"] = settings["reply_from"].strip().lower()


@add_group.command("email")
@click.option("--inbox", required=True, help="Inbox name or id (created if missing).")
@click.option("--address", required=True, help="The team address, e.g. support@example.com.")
@click.option("--name", "channel_name", help="Channel name (default: the address).")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=click.IntRange(1, 65535), help="Default: 993 tls, 143 else.")
@click.option("--smtp-host", help="Default: the IMAP host.")
@click.option("--smtp-port", type=click.IntRange(1, 65535), help="Default: 465/587/25.")
@click.option("--security", type=click.Choice(["tls", "starttls", "none"]), default="tls")
@click.option(
    "--smtp-security",
    type=click.Choice(["tls", "starttls", "none"]),
    help="Default: same as --security.",
)
@click.option("--username", required=True)
@click.option("--password-env", metavar="VAR", help="Read the password from this env variable.")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Read it from this file.")
@click.option("--folder", default="INBOX", show_default=True)
@click.option("--no-check", is_flag=True, help="Do not test the connection before adding.")
@_sender_options
@db_option
@as_option
@guarded
def add_email(
    inbox: str,
    address: str,
    channel_name: str | None,
    imap_host: str,
    imap_port: int | None,
    smtp_host: str | None,
    smtp_port: int | None,
    security: str,
    smtp_security: str | None,
    username: str,
    password_env: str | None,
    password_file: str | None,
    folder: str,
    no_check: bool,
    db: str | None,
    as_handle: str | None,
    **sender: Any,
) -> None:
    """Connect a team e-mail address (IMAP in, SMTP out).

    The password comes from --password-env or --password-file (only that source is
    remembered), or is asked for and stored in the system keyring.
    """
    from .backends.email.settings import EmailSettings
    from .core import queries as q
    from .email_connect import EmailChannelRequest, connect_email

    if password_env and password_file:
        raise InvalidRequest("give --password-env or --password-file, not both")
    if "@" not in address:
        raise InvalidRequest(f"--address {address!r} is not an e-mail address")
    extra: dict[str, Any] = {}
    _apply_sender(extra, sender)
    if password_env:
        source = f"env:{password_env}"
    elif password_file:
        source = f"file:{Path(password_file).expanduser().resolve()}"
    else:
        source = "keyring"
    request = EmailChannelRequest(
        inbox=inbox,
        address=address,
        imap_host=imap_host,
        username=username,
        password_source=source,
        name=channel_name,
        imap_port=imap_port,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        security=security,
        smtp_security=smtp_security,
        folder=folder,
        check=not no_check,
        extra=extra,
    )
    EmailSettings.from_dict(request.settings(), address.strip().lower())  # before the prompt
    who = _admin_first(db, as_handle)  # refused before a prompt, a connection or a secret
    if source == "keyring":
        if sys.stdin.isatty():
            request.password = click.prompt(f"Password for {username}", hide_input=True)
        else:  # piped (a script, a test): the first line; nothing at all is an error
            request.password = _read_piped_password()

    ws = open_ws(db, create=True)
    try:
        known = {i.name.lower() for i in q.inboxes(ws)} | {i.id for i in q.inboxes(ws)}
        channel_id = connect_email(ws, request, actor=who)
        if inbox.lower() not in known:
            click.echo(f"created inbox {inbox}", err=True)
    finally:
        ws.close()
    click.echo(channel_id)


@add_group.command("form")
@click.option("--inbox", required=True, help="Inbox name or id (created if missing).")
@click.option("--name", "form_name", required=True, help="The form's name, e.g. 'Contact us'.")
@click.option(
    "--field",
    "field_specs",
    multiple=True,
    metavar="NAME[:TYPE[:required]]",
    help="A field (repeatable, in order); TYPE is text, long, email or phone. Default: "
    "name:text, email:email:required, message:long:required.",
)
@click.option(
    "--allowed-origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="A site that may post to the form from its own pages (CORS), e.g. "
    "https://www.example.com (repeatable).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(1, 100_000),
    help="Submissions a minute one address may send (default 10).",
)
@db_option
@json_option
@as_option
@guarded
def add_form(
    inbox: str,
    form_name: str,
    field_specs: tuple[str, ...],
    origins: tuple[str, ...],
    rate_limit: int | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Add a web form to an inbox: each submission becomes a conversation with a ticket,
    answered by the inbox's e-mail channel. The hub serves it at /forms/CHANNEL
    (`unibox channel embed CHANNEL` prints the address and a snippet for your site)."""
    from .backends.form import FormChannel, parse_field_spec
    from .core import queries as q

    settings: dict[str, Any] = {}
    if field_specs:
        settings["fields"] = [parse_field_spec(spec).to_dict() for spec in field_specs]
    if origins:
        settings["allowed_origins"] = list(origins)
    if rate_limit is not None:
        settings["rate_limit"] = rate_limit
    settings = FormChannel.check_settings(settings, None)
    who = _admin_first(db, as_handle)
    with open_ws(db, create=True) as ws:
        channel_id = add_to_inbox(
            ws, inbox=inbox, kind="form", name=form_name, settings=settings, actor=who
        )
        row = next(c for c in q.channels(ws) if c.id == channel_id)
        answering = q.answering_channel(ws, row.inbox_id, "email")
    if answering is None:
        click.echo(
            f"note: inbox {row.inbox_name} has no e-mail channel yet; replies to this form "
            "cannot be sent until one is added (`unibox channel add email --inbox ...`)",
            err=True,
        )
    if as_json:
        emit(row.to_json())
    else:
        click.echo(channel_id)


@add_group.command("fallback")
@click.option("--inbox", required=True, help="Inbox name or id (created if missing).")
@click.option("--address", required=True, help="The address mail is forwarded to.")
@click.option("--name", "channel_name", help="Channel name (default: the address).")
@click.option(
    "--listen",
    default="0.0.0.0:2525",
    show_default=True,
    help="HOST:PORT the hub's SMTP receiver binds while its channels run.",
)
@click.option("--smtp-host", required=True, help="The SMTP relay replies go out through.")
@click.option("--smtp-port", type=click.IntRange(1, 65535), help="Default: 587/465/25.")
@click.option("--smtp-security", type=click.Choice(["tls", "starttls", "none"]), default="starttls")
@click.option("--smtp-username", help="The relay's user name (none: the relay needs no login).")
@click.option("--password-env", metavar="VAR", help="Read the relay password from this env var.")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Read it from this file.")
@click.option(
    "--max-message-mb",
    type=click.FloatRange(0.1, 200),
    help="Refuse larger messages (default 35).",
)
@_sender_options
@db_option
@as_option
@guarded
def add_fallback(
    inbox: str,
    address: str,
    channel_name: str | None,
    listen: str,
    smtp_host: str,
    smtp_port: int | None,
    smtp_security: str,
    smtp_username: str | None,
    password_env: str | None,
    password_file: str | None,
    max_message_mb: float | None,
    db: str | None,
    as_handle: str | None,
    **sender: Any,
) -> None:
    """A fallback address: the hub receives mail forwarded to ADDRESS itself (SMTP on
    --listen) and replies through the SMTP relay --smtp-host.

    The relay password comes from --password-env or --password-file, or is asked for and
    stored in the system keyring; with no --smtp-username the relay takes mail without a
    login. `unibox channel embed CHANNEL` shows what to configure.
    """
    from .backends.fallback import NO_PASSWORD, FallbackChannel, email_settings, secret_name
    from .secrets import store_secret

    if password_env and password_file:
        raise InvalidRequest("give --password-env or --password-file, not both")
    address = address.strip().lower()
    settings: dict[str, Any] = {
        "listen": listen,
        "smtp_host": smtp_host,
        "smtp_security": smtp_security,
        "smtp_username": smtp_username or "",
    }
    if smtp_port:
        settings["smtp_port"] = smtp_port
    if max_message_mb is not None:
        settings["max_message_mb"] = max_message_mb
    _apply_sender(settings, sender)
    if password_env:
        settings["password_source"] = f"env:{password_env}"
    elif password_file:
        settings["password_source"] = f"file:{Path(password_file).expanduser().resolve()}"
    elif smtp_username:
        settings["password_source"] = "keyring"
    else:
        settings["password_source"] = NO_PASSWORD
    settings = FallbackChannel.check_settings(settings, address)
    who = _admin_first(db, as_handle)  # refused before a prompt or a secret
    if settings["password_source"] == "keyring":
        if sys.stdin.isatty():
            password = click.prompt(f"Password for {smtp_username} at {smtp_host}", hide_input=True)
        else:
            password = _read_piped_password()
        store_secret(secret_name(email_settings(settings, address)), password)
    with open_ws(db, create=True) as ws:
        channel_id = add_to_inbox(
            ws,
            inbox=inbox,
            kind="fallback",
            name=channel_name or address,
            address=address,
            settings=settings,
            actor=who,
        )
    click.echo(
        f"forward mail for {address} to this hub; it receives on {settings['listen']} while "
        "`unibox hub` runs its channels",
        err=True,
    )
    click.echo(channel_id)


@add_group.command("chat")
@click.option("--inbox", required=True, help="Inbox name or id (created if missing).")
@click.option("--name", "chat_name", required=True, help="The chat's name, e.g. 'Website'.")
@click.option(
    "--allowed-origin",
    "origins",
    multiple=True,
    metavar="URL",
    help="A site that may show the widget (repeatable; none: any site may embed it).",
)
@click.option("--welcome", help="The first message the widget shows.")
@click.option("--away", help="What the widget says when no agent is available.")
@click.option(
    "--left-after",
    type=click.IntRange(0, 3600),
    metavar="SECONDS",
    help="A visitor gone this long has left: replies go to them by e-mail (default 10).",
)
@db_option
@json_option
@as_option
@guarded
def add_chat(
    inbox: str,
    chat_name: str,
    origins: tuple[str, ...],
    welcome: str | None,
    away: str | None,
    left_after: int | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Add a website live chat to an inbox: the team hub serves its widget
    (`unibox channel embed CH` prints the snippet for the site)."""
    from .backends.chat import ChatChannel
    from .core import queries as q

    settings: dict[str, Any] = {"allowed_origins": list(origins)}
    if welcome is not None:
        settings["welcome"] = welcome
    if away is not None:
        settings["away"] = away
    if left_after is not None:
        settings["left_after"] = left_after
    settings = ChatChannel.check_settings(settings, None)
    who = _admin_first(db, as_handle)
    with open_ws(db, create=True) as ws:
        channel_id = add_to_inbox(
            ws, inbox=inbox, kind="chat", name=chat_name, settings=settings, actor=who
        )
        row = next(c for c in q.channels(ws) if c.id == channel_id)
    if as_json:
        emit(row.to_json())
    else:
        click.echo(channel_id)


def add_to_inbox(ws: Any, *, inbox: str, actor: str | None, **channel: Any) -> str:
    """Add a channel to INBOX (by name or id), creating the inbox first when there is none
    of that name; returns the channel's id. Every `channel add KIND` goes through here."""
    from .core import commands as cmd
    from .core import queries as q

    names = {i.name.lower() for i in q.inboxes(ws)} | {i.id for i in q.inboxes(ws)}
    if inbox.lower() not in names:
        cmd.create_inbox(ws, inbox, actor=actor)
        click.echo(f"created inbox {inbox}", err=True)
    return str(cmd.add_channel(ws, inbox=inbox, actor=actor, **channel))


def _admin_first(db: str | None, as_handle: str | None) -> str | None:
    """The admin adding a channel (None on a workspace with no agents yet), checked now."""
    from .cli_common import given_db
    from .core import commands as cmd
    from .core.db import workspace_exists

    if not workspace_exists(given_db(db)):
        return None
    with open_ws(db) as ws:
        who = admin_actor(ws, as_handle)
        cmd.check_admin(ws, who, "add channels")
    return who


def _read_piped_password() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InvalidRequest(
            "no password given: pass --password-env VAR or --password-file FILE, or run in a "
            "terminal to be asked (it is then stored in the system keyring)"
        )
    return line


def _register_meta() -> None:
    from .cli_meta import add_messenger, add_whatsapp

    add_group.add_command(add_messenger, "messenger")
    add_group.add_command(add_whatsapp, "whatsapp")


_register_meta()


@channel_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@guarded
def list_channels(as_json: bool, db: str | None) -> None:
    """Channels with their inbox, state and last connection status."""
    from .core import queries as q

    ws = open_ws(db, read_only=True)
    try:
        rows = q.channels(ws)
    finally:
        ws.close()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no channels; add one with `unibox channel add email ...`", err=True)
        return
    for r in rows:
        state = "enabled" if r.enabled else "disabled"
        source = r.settings.get("password_source", "")
        click.echo(
            f"{r.id}  {r.kind:<6} {r.name:<28} {r.inbox_name:<12} {state:<8} "
            f"{source:<14} {r.status or ''}"
        )


def _toggle(ref: str, db: str | None, enabled: bool, as_handle: str | None) -> None:
    from .core import commands as cmd

    ws = open_ws(db)
    try:
        row = _channel(ws, ref)
        changed = cmd.set_channel_enabled(ws, row.id, enabled, actor=admin_actor(ws, as_handle))
    finally:
        ws.close()
    word = "enabled" if enabled else "disabled"
    click.echo(f"{row.name} {word}" if changed else f"{row.name} was already {word}", err=True)


@channel_group.command("enable")
@click.argument("channel")
@db_option
@as_option
@guarded
def enable_channel(channel: str, db: str | None, as_handle: str | None) -> None:
    """Start syncing and sending on CHANNEL (id, id prefix or name)."""
    _toggle(channel, db, True, as_handle)


@channel_group.command("disable")
@click.argument("channel")
@db_option
@as_option
@guarded
def disable_channel(channel: str, db: str | None, as_handle: str | None) -> None:
    """Stop CHANNEL: nothing is fetched or sent until it is enabled again."""
    _toggle(channel, db, False, as_handle)


@channel_group.command("remove")
@click.argument("channel")
@db_option
@as_option
@guarded
def remove_channel(channel: str, db: str | None, as_handle: str | None) -> None:
    """Remove CHANNEL and its stored password (only if it has no conversations)."""
    from .core import commands as cmd
    from .secrets import delete_secret

    ws = open_ws(db)
    try:
        row = _channel(ws, channel)
        cmd.remove_channel(ws, row.id, actor=admin_actor(ws, as_handle))
        if row.settings.get("password_source") == "keyring":
            delete_secret(_secret_name(row))
        for key, source in row.settings.items():  # Meta channels' tokens (backends/meta.py)
            if key.endswith("_source") and key != "password_source" and source == "keyring":
                delete_secret(f"{row.name}:{key.removesuffix('_source')}")
    finally:
        ws.close()
    click.echo(f"removed {row.name}", err=True)


def _secret_name(row: Any) -> str:
    """The keyring entry of a channel's password (each kind names its own)."""
    if row.kind == "fallback":
        from .backends.fallback import email_settings, secret_name

        return secret_name(email_settings(row.settings, row.address))
    from .backends.email.settings import EmailSettings

    return EmailSettings.from_dict(row.settings, row.address).secret_name()


@channel_group.command("set")
@click.argument("channel")
@_sender_options
@db_option
@as_option
@guarded
def set_channel(channel: str, db: str | None, as_handle: str | None, **sender: Any) -> None:
    """Change CHANNEL's sender settings and filters."""
    from .core import commands as cmd

    ws = open_ws(db)
    try:
        row = _channel(ws, channel)
        settings = dict(row.settings)
        _apply_sender(settings, sender)
        cmd.update_channel(ws, row.id, settings=settings, actor=admin_actor(ws, as_handle))
    finally:
        ws.close()
    click.echo(f"updated {row.name}", err=True)


# -------------------------------------------------------------------------------- embed


def _public_hub_url(explicit: str | None, ws: Any = None) -> str:
    """Where customers reach the hub: --hub-url, else config [hub] public_url, else the URL
    `unibox hub --public-url` recorded in the workspace, else the hub agents use (--hub /
    $UNIBOX_HUB / config [hub] url)."""
    from .cli_hub import hub_url
    from .config import load_config

    if explicit:
        url = explicit
    else:
        section = load_config().raw.get("hub", {})
        public = section.get("public_url") if isinstance(section, dict) else None
        recorded = ws.setting("hub.public_url") if ws is not None else None
        url = public if isinstance(public, str) and public else (recorded or hub_url() or "")
    if not url:
        raise InvalidRequest(
            "where do customers reach the hub? pass --hub-url https://HUB (or set "
            "public_url under [hub] in the config, or run `unibox hub --public-url URL`)"
        )
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(f"--hub-url {url!r}: give a URL, e.g. https://hub.example.com")
    return url


def _embed_form(row: Any, hub: str | None, ws: Any, _secret: bool) -> dict[str, Any]:
    """A form: its address on the hub and an HTML snippet for the team's own site."""
    from .backends.form import fields_of
    from .hub.forms_http import snippet

    url = f"{_public_hub_url(hub, ws)}/forms/{row.id}"
    origins = row.settings.get("allowed_origins") or []
    lines = [f"Form page: {url}", ""]
    if origins:
        lines.append(f"Sites that may post to it: {', '.join(origins)}")
    else:
        lines.append(
            "No site may post to it from its own pages yet: add one with "
            "`unibox channel add form ... --allowed-origin https://www.example.com`"
        )
    html = snippet(url, fields_of(row.settings))
    lines += ["", "HTML to paste into your site:", "", html]
    return {"url": url, "allowed_origins": origins, "html": html, "text": "\n".join(lines)}


def _embed_fallback(row: Any, hub: str | None, ws: Any, _secret: bool) -> dict[str, Any]:
    """The fallback address: where the team's mail system forwards to."""
    listen = row.settings.get("listen") or ""
    text = (
        f"Forward mail to: {row.address}\n"
        f"The hub receives it by SMTP on {listen} while its channels run: point the MX "
        f"record of {row.address.rpartition('@')[2]} (or your mail system's forwarding "
        "rule) at this hub."
    )
    return {"address": row.address, "listen": listen, "text": text}


def _embed_meta(row: Any, hub: str | None, ws: Any, _secret: bool) -> dict[str, Any]:
    """Messenger and WhatsApp: the callback URL and verify token to give Meta."""
    from .cli_meta import embed_meta

    shown = embed_meta(row, _public_hub_url(hub, ws))
    text = "\n".join(f"{key.replace('_', ' ')}: {value}" for key, value in shown.items())
    return {**shown, "text": text}


def _embed_chat(row: Any, hub: str | None, ws: Any, show_secret: bool) -> dict[str, Any]:
    """A chat: the script tag for the site and the hub's preview page (and, asked for, the
    identity secret the site's backend signs user ids with)."""
    url = _public_hub_url(hub, ws)
    out: dict[str, Any] = {
        "snippet": f'<script src="{url}/widget/{row.id}.js" async></script>',
        "preview": f"{url}/widget/{row.id}/preview",
        "allowed_origins": row.settings.get("allowed_origins", []),
    }
    text = [out["snippet"], f"preview: {out['preview']}"]
    if show_secret:
        from .backends.chat import channel_secret
        from .core.workspace_key import workspace_key

        out["identity_secret"] = channel_secret(workspace_key(ws), row.id)
        text.append(f"identity secret: {out['identity_secret']}")
    return {**out, "text": "\n".join(text)}


# Channel kind -> what `channel embed` shows for it (one small function per kind).
EMBEDDERS: dict[str, Callable[[Any, str | None, Any, bool], dict[str, Any]]] = {
    "chat": _embed_chat,
    "form": _embed_form,
    "fallback": _embed_fallback,
    "messenger": _embed_meta,
    "whatsapp": _embed_meta,
}


@channel_group.command("embed")
@click.argument("channel")
@click.option("--hub-url", help="Where customers reach the hub (default: its --public-url).")
@click.option(
    "--show-secret",
    is_flag=True,
    help="Chat: also print the identity secret, for the site's backend to sign user ids.",
)
@json_option
@db_option
@guarded
def embed_channel(
    channel: str, hub_url: str | None, show_secret: bool, as_json: bool, db: str | None
) -> None:
    """What to paste elsewhere to connect CHANNEL: a chat's script tag and preview page, a
    form's address and HTML snippet, the fallback address to forward mail to, Meta's
    callback URL and verify token."""
    with open_ws(db) as ws:
        row = _channel(ws, channel)
        embed = EMBEDDERS.get(row.kind)
        if embed is None:
            raise InvalidRequest(f"{row.name} is a {row.kind} channel: nothing to embed")
        shown = embed(row, hub_url, ws, show_secret)
    if as_json:
        emit(
            {"channel": row.id, "kind": row.kind, **{k: v for k, v in shown.items() if k != "text"}}
        )
    else:
        click.echo(shown["text"])


# --------------------------------------------------------------------------------- sync


class _Progress:
    """Progress lines on stderr, at most a few a second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, name: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last >= 0.5:
            self.last = now
            click.echo(f"{name}: {done}/{total} messages", err=True)


@click.command("sync")
@click.option("--once", is_flag=True, help="Catch up, deliver what is due, then exit.")
@db_option
@guarded
def sync_command(once: bool, db: str | None) -> None:
    """Fetch new mail and deliver queued replies; keeps running (IDLE push) unless --once.

    With --once it exits when every channel is caught up and the outbox is empty or only
    holds replies waiting for a retry. Exit status 1 when a channel could not be synced.
    """
    from .engine import Engine

    ws = open_ws(db)
    try:
        with Engine(ws, progress=_Progress(), log=lambda line: click.echo(line, err=True)) as eng:
            if once:
                report = asyncio.run(eng.run_once())
                for result in report.channels:
                    line = f"{result.name}: {result.new} new"
                    if result.changed_on_server or result.deleted_on_server:
                        line += (
                            f", {result.changed_on_server} re-flagged and "
                            f"{result.deleted_on_server} deleted on the server (kept here)"
                        )
                    click.echo(
                        line if result.error is None else f"{line}; {result.error}", err=True
                    )
                d = report.delivery
                click.echo(
                    f"outbox: {d.sent} sent, {d.retrying} waiting to retry, {d.failed} failed"
                    + (f", {d.uncertain} of uncertain delivery" if d.uncertain else ""),
                    err=True,
                )
                failed = [r for r in report.channels if r.error]
                if failed:
                    fail(f"{failed[0].name}: {failed[0].error}")
            else:
                asyncio.run(_run_forever(eng))
    finally:
        ws.close()


async def _run_forever(engine: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    click.echo("syncing; Ctrl-C to stop", err=True)
    await engine.run(stop)
