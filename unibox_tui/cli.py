"""The `unibox` command: the TUI by default, plus a scriptable CLI with a JSON contract.

Every command takes --db (else $UNIBOX_DB, else the platform data dir). With --json, output is
one JSON document on stdout (documented in README.md). Errors are one line on stderr with exit
status 1 (2 for usage errors), never a traceback; a failed command changes nothing.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cli_common import (
    actor,
    as_option,
    db_option,
    emit,
    given_db,
    guarded,
    json_option,
    open_ws,
    read_text,
)
from .core.errors import InvalidRequest, UniboxError
from .core.list_order import ORDERS


def reader_of(ws: Any, as_handle: str | None) -> Any:
    """What the acting agent may read (core/access.py). A workspace without agents has
    nobody to hide anything from: it reads as the system."""
    from .core import queries as q
    from .core.admin_queries import workspace_has_agents

    if not workspace_has_agents(ws):
        return q.reader(ws, None)
    return q.reader(ws, actor(ws, as_handle))


def dispatch(ws: Any, name: str, args: dict[str, Any], as_handle: str | None) -> Any:
    """Run a command through the registry as the acting agent (one rule for every command the
    CLI runs: validated arguments, one transaction, a JSON-able result)."""
    from .core.commands import registry

    return registry.run(ws, name, args, actor=actor(ws, as_handle))


# ---------------------------------------------------------------------------------- root


class LazyGroup(click.Group):
    """A group some of whose commands live in other modules (cli_*.py, see the end of this
    file): they are registered the first time a command is looked up that is not here yet,
    or the commands are listed. `unibox` (the TUI) and `unibox demo` start without importing
    them (~100 ms of start-up: the channel commands pull in the e-mail backend)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and register_commands():
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        register_commands()
        return super().list_commands(ctx)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@db_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file.")
@click.option(
    "--hub", "hub", metavar="URL", help="Work against this team hub (see `unibox login`)."
)
@click.option(
    "--token-file", type=click.Path(dir_okay=False), help="Read the hub sign-in token from a file."
)
@click.version_option(__version__, prog_name="unibox")
@click.pass_context
@guarded
def main(
    ctx: click.Context,
    db: str | None,
    config_path: str | None,
    hub: str | None,
    token_file: str | None,
) -> None:
    """Unibox: your team's shared inbox, in the terminal. With no command, opens the inbox."""
    if config_path:
        os.environ["UNIBOX_CONFIG"] = config_path
    if ctx.invoked_subcommand is None:
        ws = open_ws(db, create=True)
        run_tui(ws, simulate=False)


def run_tui(ws: Any, *, simulate: bool) -> None:
    from .gc_pacing import hold_until_started

    hold_until_started()  # the app's first frame turns the collector back on
    from .app import UniboxApp
    from .config import load_config

    config = load_config()
    UniboxApp(ws, config, simulate=simulate, engine=True, hub=ws.remote).run()


# ---------------------------------------------------------------------------------- demo


@main.command()
@click.option(
    "--conversations",
    "-n",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="How many conversations (default 2,000).",
)
@click.option(
    "--seed", type=int, default=None, help="Random seed (default 1): same seed, same data."
)
@db_option
@click.option(
    "--generate-only", is_flag=True, help="Build the workspace and print a summary; no TUI."
)
@click.option(
    "--quiet",
    is_flag=True,
    help="No simulated customers in the TUI (your replies are still delivered).",
)
@click.option("--rebuild", is_flag=True, help="Replace an existing demo workspace.")
@json_option
@guarded
def demo(
    conversations: int | None,
    seed: int | None,
    db: str | None,
    generate_only: bool,
    quiet: bool,
    rebuild: bool,
    as_json: bool,
) -> None:
    """Build a realistic demo workspace (once) and open it."""
    from .core.db import open_workspace
    from .core.demo import DEFAULT_CONVERSATIONS, build_demo, default_demo_path
    from .core.postgres import is_url

    db = given_db(db)
    if db is not None and is_url(db):
        raise InvalidRequest(
            "the demo is built as a SQLite file: give --db FILE (not --database-url)"
        )
    wanted = {
        "seed": seed if seed is not None else 1,
        "conversations": conversations or DEFAULT_CONVERSATIONS,
    }
    # Without --db each size and seed has its own file: another size is built beside it.
    path = Path(db).expanduser() if db else default_demo_path(**wanted)
    summary: dict[str, Any]
    if path.exists() and path.stat().st_size == 0:
        path.unlink()  # an empty file holds nothing: treat it as absent
    with ExitStack() as opened:
        # An existing demo is opened once: checked here, then the TUI runs on it.
        ws = None
        if path.exists():
            # open_workspace refuses corrupt and foreign files before anything else.
            ws = opened.enter_context(open_workspace(path))
            made = ws.setting("demo")
            if made is None:
                raise InvalidRequest(
                    f"{path} is a real workspace, not a demo; pass --db NEW_PATH for a demo"
                )
            differs = (seed is not None and made["seed"] != seed) or (
                conversations is not None and made["conversations"] != conversations
            )
            if rebuild or differs:
                if differs and not rebuild:
                    raise InvalidRequest(
                        f"{path} holds a demo with seed {made['seed']} and "
                        f"{made['conversations']} conversations; add --rebuild to replace it"
                    )
                opened.close()
                ws = None
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            else:
                summary = {"path": str(path), "reused": True, **made}
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not as_json:
                click.echo(
                    f"Building the demo workspace ({wanted['conversations']:,} conversations)…",
                    err=True,
                )
            built = build_demo(path, seed=wanted["seed"], conversations=wanted["conversations"])
            summary = {**built, "reused": False}
        if as_json:
            emit(summary)
        elif summary.get("reused"):
            what = f"(seed {summary['seed']}, {summary['conversations']:,} conversations)"
            click.echo(
                f"The demo workspace at {path} is built already {what}; --rebuild replaces it."
                if generate_only
                else f"Opening the demo workspace at {path} {what}."
            )
        else:
            click.echo(
                f"Built {summary['conversations']:,} conversations, "
                f"{summary['messages']:,} messages, {summary['contacts']:,} contacts, "
                f"{summary['tickets']:,} tickets in {summary['seconds']:.1f} s "
                f"({summary['bytes'] / 1e6:.0f} MB) at {path}"
            )
        if not generate_only:
            run_tui(ws or opened.enter_context(open_workspace(path)), simulate=not quiet)


# ---------------------------------------------------------------------------------- conversations


@main.group(cls=LazyGroup)
def conversations() -> None:
    """List, show and act on conversations."""


def _print_rows(rows: list[Any]) -> None:
    from .core.clock import age, utcnow
    from .core.text import one_line

    now = utcnow()
    for r in rows:
        mark = "●" if r.unread else " "
        who = one_line(r.contact_name, 24)
        what = one_line(r.subject or r.preview, 50)
        click.echo(
            f"{mark} {r.id}  {r.channel_kind:<9} {r.status:<7} {who:<24}  {what:<50}  "
            f"{('@' + r.assignee) if r.assignee else '-':<10} {age(r.last_message_at, now):>4}"
        )


ORDER_KEYS = list(ORDERS)


@conversations.command("list")
@click.option(
    "--view",
    "view_key",
    default="open",
    show_default=True,
    help="mine, unassigned, open, snoozed, closed, all, kind:KIND, inbox:NAME or tag:NAME",
)
@click.option("--inbox", help="Only this inbox (name or id).")
@click.option(
    "--sort",
    "sort_key",
    type=click.Choice(ORDER_KEYS),
    default="newest",
    show_default=True,
    help="newest activity, oldest waiting (for us), the customer's last message, ticket priority",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--after", "cursor", help="Continue after this next_cursor (same --sort).")
@db_option
@json_option
@as_option
@guarded
def list_cmd(
    view_key: str,
    inbox: str | None,
    sort_key: str,
    limit: int,
    cursor: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """List conversations in a view, most recent activity first (or as --sort says)."""
    from .core import queries as q
    from .core.text import one_line

    with open_ws(db, read_only=True) as ws:
        me = actor(ws, as_handle) if view_key == "mine" else None
        access = reader_of(ws, as_handle)
        v = q.view(view_key, me=me, ws=ws, access=access)
        if inbox:
            iv = q.view(f"inbox:{inbox}", ws=ws, access=access)
            v = q.View(
                v.key,
                f"{iv.label} / {v.label}",
                f"{v.where} AND c.inbox_id = ?",
                (*v.params, iv.params[0]),
            )
        v = q.sorted_by(v, sort_key)
        with ws.read() as conn:  # one snapshot: the total agrees with the page
            page = q.list_page(conn, v, after=cursor, limit=limit)
            total, unread = q.count_on(conn, v)
    if as_json:
        emit(
            {
                "view": view_key,
                "sort": sort_key,
                "total": total,
                "unread": unread,
                "conversations": [r.to_json() for r in page.rows],
                "next_cursor": page.next_cursor,
            }
        )
    else:
        order = "" if sort_key == "newest" else f" (by {v.order.label.lower()})"
        click.echo(f"{one_line(v.label)}: {total:,} conversations, {unread:,} unread{order}")
        _print_rows(page.rows)
        if page.next_cursor:
            again = "" if sort_key == "newest" else f" --sort {sort_key}"
            click.echo(f"more: --after '{page.next_cursor}'{again}")


@conversations.command("show")
@click.argument("conversation_id")
@db_option
@json_option
@as_option
@guarded
def show_cmd(conversation_id: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """A conversation with every message in order."""
    from .core import queries as q
    from .core.text import clean, one_line

    with open_ws(db, read_only=True) as ws:
        access = reader_of(ws, as_handle)
        with ws.read() as conn:  # one snapshot: the row agrees with its messages
            asked, conversation_id = (
                conversation_id,
                q.merged_into(conn, conversation_id) or conversation_id,
            )
            row = q.conversation_on(conn, conversation_id, access=access)
            messages = q.thread_on(conn, conversation_id, access=access)
    redirected = {"merged_from": asked} if asked != conversation_id else {}
    if as_json:
        emit({**row.to_json(), **redirected, "messages": [m.to_json() for m in messages]})
        return
    if redirected:
        click.echo(f"{asked} was merged into {conversation_id}:")
    click.echo(
        f"{one_line(row.subject or row.preview)}  [{row.channel_kind}, {row.status}, "
        f"{one_line(row.inbox)}]  {one_line(row.contact_name)} <{one_line(row.identity)}>"
    )
    if row.cc:
        click.echo(f"cc: {one_line(', '.join(row.cc), 500)}")
    for m in messages:
        head = {"incoming": "←", "outgoing": "→", "comment": "✎ internal", "activity": "·"}[m.kind]
        state = f" [{m.delivery_state}]" if m.delivery_state else ""
        if m.delivery_state in ("failed", "uncertain") and m.delivery_error:
            state += f" {one_line(m.delivery_error, 500)}; message id {m.id}"
        click.echo(f"\n{head} {one_line(m.author)}  {m.created_at:%Y-%m-%d %H:%M}{state}")
        click.echo(clean(m.body))


def _changed(ws: Any, conversation_id: str, changed: bool, as_json: bool, verb: str) -> None:
    from .core import queries as q

    row = q.conversation(ws, conversation_id, access=q.reader(ws, None))  # the actor had access
    if as_json:
        emit({"changed": changed, "conversation": row.to_json()})
    else:
        click.echo(
            f"{verb}: {conversation_id}"
            if changed
            else f"no change: {conversation_id} ({row.status})"
        )


@conversations.command("reply")
@click.argument("conversation_id")
@click.option("--text", help="The reply (use - to read it from stdin).")
@click.option("--via-channel", help="Send on another channel of the contact (e.g. e-mail).")
@click.option("--to", "to", multiple=True, help="E-mail: To instead of the customer (repeat).")
@click.option("--cc", multiple=True, help="E-mail: Cc instead of the conversation's (repeat).")
@click.option("--bcc", multiple=True, help="E-mail: Bcc (repeat).")
@click.option(
    "--attach",
    multiple=True,
    help="A file to send with it, on e-mail, Messenger or WhatsApp (repeat).",
)
@click.option("--quote", "quote_id", help="E-mail: quote this message below the reply.")
@click.option(
    "--template",
    metavar="NAME[:LANG]",
    help="WhatsApp: send this approved template (works outside the 24-hour window).",
)
@click.option("--param", "params", multiple=True, help="A template parameter, in order.")
@db_option
@json_option
@as_option
@guarded
def reply_cmd(
    conversation_id: str,
    text: str | None,
    via_channel: str | None,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    attach: tuple[str, ...],
    quote_id: str | None,
    template: str | None,
    params: tuple[str, ...],
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Queue a reply to the customer; the engine (`unibox sync` or the TUI) delivers it."""
    from .core import composing

    if text is not None and template is not None:
        raise InvalidRequest("give --text or --template, not both")
    if text is None and template is None and not attach:
        raise InvalidRequest("give --text, --attach FILE or --template (with its --param values)")
    if params and template is None:
        raise InvalidRequest("--param goes with --template")
    args: dict[str, Any] = {
        "conversation_id": conversation_id,
        "text": read_text(text) if text is not None else "",
        "via_channel_id": via_channel,
    }
    if template is not None:
        args.update(template=template, params=list(params))
    for key, value in (("to", to), ("cc", cc), ("bcc", bcc)):
        if value:
            args[key] = list(value)
    if attach:
        args["attachments"] = composing.encode_files(list(attach))
    if quote_id:
        args["quote_message_id"] = quote_id
    with open_ws(db) as ws:
        message_id = dispatch(ws, "reply", args, as_handle).value
    if as_json:
        emit(
            {
                "conversation_id": conversation_id,
                "message_id": message_id,
                "delivery_state": "queued",
            }
        )
    else:
        click.echo(f"queued reply {message_id}")


@conversations.command("forward")
@click.argument("conversation_id")
@click.option("--to", "to", required=True, multiple=True, help="Forward to (repeat).")
@click.option("--cc", multiple=True, help="Cc (repeat).")
@click.option("--message", "message_id", help="Forward only this message.")
@click.option("--note", help="A note above the forwarded text (- reads stdin).")
@db_option
@json_option
@as_option
@guarded
def forward_cmd(
    conversation_id: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    message_id: str | None,
    note: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Forward the conversation, or one message, by e-mail from the inbox's address."""
    args: dict[str, object] = {"conversation_id": conversation_id, "to": list(to)}
    if cc:
        args["cc"] = list(cc)
    if message_id:
        args["message_id"] = message_id
    if note is not None:
        args["note"] = read_text(note)
    with open_ws(db) as ws:
        sent = dispatch(ws, "forward", args, as_handle).value
    if as_json:
        emit({"conversation_id": conversation_id, "message_id": sent, "to": list(to)})
    else:
        click.echo(f"queued forward {sent} to {', '.join(to)}")


@conversations.command("comment")
@click.argument("conversation_id")
@click.option("--text", required=True, help="The internal comment; @handle mentions teammates.")
@db_option
@json_option
@as_option
@guarded
def comment_cmd(
    conversation_id: str, text: str, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Add an internal comment (never sent to the customer)."""

    body = read_text(text)
    with open_ws(db) as ws:
        result = dispatch(
            ws, "comment", {"conversation_id": conversation_id, "text": body}, as_handle
        ).value
    if as_json:
        emit(
            {
                "conversation_id": conversation_id,
                "message_id": result.message_id,
                "mentioned": result.mentioned,
                "unknown": result.unknown,
                "no_access": result.no_access,
            }
        )
    else:
        extra = f"; notified @{', @'.join(result.mentioned)}" if result.mentioned else ""
        click.echo(f"commented {result.message_id}{extra}")


@conversations.command("transcript")
@click.argument("conversation_id")
@click.option("--to", "to", required=True, metavar="ADDR", help="Where to e-mail it.")
@click.option("--subject", help="The e-mail's subject (default: 'Transcript of your chat ...').")
@db_option
@json_option
@as_option
@guarded
def transcript_cmd(
    conversation_id: str,
    to: str,
    subject: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """E-mail a chat's transcript (through the inbox's e-mail channel and the outbox)."""
    args: dict[str, Any] = {"conversation_id": conversation_id, "to": to}
    if subject:
        args["subject"] = subject
    with open_ws(db) as ws:
        message_id = dispatch(ws, "email_transcript", args, as_handle).value
    if as_json:
        emit({"conversation_id": conversation_id, "message_id": message_id, "to": to})
    else:
        click.echo(f"transcript queued for {to} ({message_id})")


@conversations.command("assign")
@click.argument("conversation_id")
@click.option("--to", "to", metavar="HANDLE", help="Agent handle (or 'me').")
@click.option("--team", metavar="NAME", help="Team name.")
@click.option("--none", "unassign", is_flag=True, help="Remove the assignee.")
@db_option
@json_option
@as_option
@guarded
def assign_cmd(
    conversation_id: str,
    to: str | None,
    team: str | None,
    unassign: bool,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Assign to an agent or a team, or unassign."""

    if sum(bool(x) for x in (to, team, unassign)) != 1:
        raise click.UsageError("give exactly one of --to HANDLE, --team NAME or --none")
    with open_ws(db) as ws:
        if team:
            result = dispatch(
                ws, "assign_team", {"conversation_id": conversation_id, "team": team}, as_handle
            )
        else:
            target = actor(ws, as_handle) if to == "me" else to
            result = dispatch(
                ws,
                "assign",
                {"conversation_id": conversation_id, "agent": None if unassign else target},
                as_handle,
            )
        _changed(ws, conversation_id, result.value, as_json, "assigned")


def _status_command(name: str, help_text: str, verb: str) -> None:
    @conversations.command(name, help=help_text)
    @click.argument("conversation_id")
    @db_option
    @json_option
    @as_option
    @guarded
    def command(
        conversation_id: str, db: str | None, as_json: bool, as_handle: str | None, **extra: Any
    ) -> None:
        with open_ws(db) as ws:
            result = dispatch(ws, name, {"conversation_id": conversation_id, **extra}, as_handle)
            _changed(ws, conversation_id, result.value, as_json, verb)

    if name == "close":
        click.option("--close-ticket", is_flag=True, help="Close the linked ticket too.")(command)


_status_command("close", "Close a conversation.", "closed")
_status_command("reopen", "Reopen a closed or snoozed conversation.", "reopened")


def _tag_command(name: str, help_text: str, verb: str) -> None:
    @conversations.command(name, help=help_text)
    @click.argument("conversation_id")
    @click.argument("tag")
    @db_option
    @json_option
    @as_option
    @guarded
    def command(
        conversation_id: str, tag: str, db: str | None, as_json: bool, as_handle: str | None
    ) -> None:
        with open_ws(db) as ws:
            args = {"conversation_id": conversation_id, "name": tag}
            result = dispatch(ws, name, args, as_handle)
            _changed(ws, conversation_id, result.value, as_json, verb)


_tag_command("tag", "Put a tag on a conversation (a new name makes the tag).", "tagged")
_tag_command("untag", "Take a tag off a conversation.", "untagged")


@conversations.command("snooze")
@click.argument("conversation_id")
@click.option(
    "--until",
    "until",
    required=True,
    metavar="WHEN",
    help="2h, 3d, tomorrow 9:00, monday, 14:30, or an ISO time like 2026-12-01T09:00Z "
    "(without a zone: config [agent] timezone, else local time).",
)
@db_option
@json_option
@as_option
@guarded
def snooze_cmd(
    conversation_id: str, until: str, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Snooze until a time; the conversation reopens then."""
    from .config import load_config
    from .core import clock
    from .core.when import parse_when

    when = parse_when(until, clock.utcnow(), load_config().tz)
    with open_ws(db) as ws:
        result = dispatch(
            ws, "snooze", {"conversation_id": conversation_id, "until": when}, as_handle
        )
        _changed(ws, conversation_id, result.value, as_json, f"snoozed until {clock.iso(when)}")


@conversations.command("read")
@click.argument("conversation_id")
@click.option("--unread", is_flag=True, help="Mark unread instead.")
@db_option
@json_option
@as_option
@guarded
def read_cmd(
    conversation_id: str, unread: bool, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Mark a conversation read (or --unread)."""

    with open_ws(db) as ws:
        result = dispatch(
            ws, "mark_read", {"conversation_id": conversation_id, "read": not unread}, as_handle
        )
        _changed(
            ws, conversation_id, result.value, as_json, "marked unread" if unread else "marked read"
        )


@conversations.command("merge")
@click.argument("conversation_id")
@click.argument("merge_id")
@db_option
@json_option
@as_option
@guarded
def merge_cmd(
    conversation_id: str, merge_id: str, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Merge conversation MERGE_ID into CONVERSATION_ID: its messages, comments, attachments,
    notifications and drafts move; MERGE_ID then leads to CONVERSATION_ID."""
    with open_ws(db) as ws:
        result = dispatch(
            ws,
            "merge_conversations",
            {"conversation_id": conversation_id, "merge_id": merge_id},
            as_handle,
        ).value
    if as_json:
        emit(
            {
                "conversation_id": result.conversation_id,
                "merged_id": result.merged_id,
                "moved": result.moved,
            }
        )
    else:
        click.echo(f"merged {merge_id} into {conversation_id} ({result.moved} messages moved)")


@main.command("command")
@click.argument("name", required=False)
@click.option(
    "--args",
    "args_json",
    default="{}",
    metavar="JSON",
    help="Arguments as a JSON object (- reads stdin).",
)
@click.option("--id", "client_id", metavar="UUID", help="A client-minted id for what it creates.")
@click.option("--list", "list_all", is_flag=True, help="List every command and its arguments.")
@db_option
@json_option
@as_option
@guarded
def command_cmd(
    name: str | None,
    args_json: str,
    client_id: str | None,
    list_all: bool,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Run any command by name with JSON arguments: the same registry the TUI and the hub use.

    Example: unibox command close --args '{"conversation_id": "ID"}' --as ana"""
    import json

    from .core.commands import registry

    if list_all or not name:
        specs = registry.describe()
        if as_json:
            emit({"commands": specs})
        else:
            for s in specs:
                args = " ".join(
                    (a["name"] if a["required"] else f"[{a['name']}]") + f":{a['type']}"
                    for a in s["args"]
                )
                click.echo(f"{s['name']:<24} {args}")
        return
    try:
        args = json.loads(read_text(args_json))
    except json.JSONDecodeError as e:
        raise InvalidRequest(f"--args is not valid JSON: {e.msg} at character {e.pos}") from e
    with open_ws(db) as ws:
        result = registry.run(ws, name, args, actor=actor(ws, as_handle), id=client_id)
    emit(result.to_json())


# ---------------------------------------------------------------------------------- search etc.


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--after", "cursor", help="Continue after this next_cursor.")
@db_option
@json_option
@as_option
@guarded
def search(
    query: tuple[str, ...],
    limit: int,
    cursor: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Search subjects, contacts and every message (of inboxes you may see).

    Words must all match; "quoted phrases" as written. Operators: from: to: subject: in:
    channel: status: assignee: (a handle, me, none) tag: before: after: (2026-11-01, 3d,
    monday, yesterday). Example: unibox search refund from:carla@example.com status:open
    """
    from .config import load_config
    from .core import clock
    from .core import queries as q
    from .core.admin_queries import workspace_has_agents
    from .core.text import one_line

    text = " ".join(query)
    with open_ws(db, read_only=True) as ws:
        access = reader_of(ws, as_handle)
        me = actor(ws, as_handle) if workspace_has_agents(ws) else None
        page = q.search_page(
            ws,
            text,
            access=access,
            limit=limit,
            after=cursor,
            me=me,
            now=clock.utcnow(),
            tz=load_config().tz,
        )
    if as_json:
        emit(
            {
                "query": text,
                "results": [
                    {
                        "conversation": h.row.to_json(),
                        "snippet": h.snippet,
                        "highlights": [list(s) for s in h.highlights],
                        "message_id": h.message_id,
                    }
                    for h in page.hits
                ],
                "next_cursor": page.next_cursor,
            }
        )
        return
    for h in page.hits:
        click.echo(
            f"{h.row.id}  {one_line(h.row.contact_name, 24):<24}  {one_line(h.row.subject, 40)}"
        )
        click.echo(f"    {one_line(h.snippet, 110)}")
    if not page.hits:
        click.echo("no matches" if not cursor else "no more matches")
    if page.next_cursor:
        click.echo(f"more: --after '{page.next_cursor}'")


def _shown(url: str) -> str:
    from .core.postgres import shown

    return shown(url)


def _exists(path: Path | None, url: str | None, problems: list[str]) -> bool:
    if path is not None:
        return path.exists()
    from .core.db import workspace_exists

    try:
        return workspace_exists(url)
    except UniboxError as e:  # a server that does not answer: a problem to report
        problems.append(str(e))
        return False


@main.command()
@db_option
@json_option
@guarded
def doctor(db: str | None, as_json: bool) -> None:
    """Where things are and whether they work: paths, schema version, keyring, channels."""
    from .config import load_config, resolve_path
    from .core import db as dbmod
    from .core import queries as q
    from .core.text import one_line
    from .secrets import keyring_backend_name

    target = given_db(db)
    url = dbmod.database_url(target)
    path: Any = dbmod.resolve_path(target) if url is None else None
    where = str(path) if url is None else _shown(url)
    problems: list[str] = []
    report: dict[str, Any] = {
        "version": __version__,
        "python": sys.version.split()[0],
        "db": {
            "path": where,
            "exists": _exists(path, url, problems),
            "head_revision": dbmod.HEAD_REVISION,
        },
        "config": {"path": str(resolve_path()), "exists": resolve_path().exists()},
        "keyring": keyring_backend_name(),
        "channels": [],
        "problems": problems,
    }
    try:
        report["config"]["agent"] = load_config().agent
    except UniboxError as e:
        report["problems"].append(str(e))
    if report["db"]["exists"]:
        try:
            with dbmod.open_workspace(url or path, read_only=True) as ws:
                report["db"].update(revision=ws.revision(), bytes=ws.size(), **q.stats(ws))
                report["db"]["integrity"] = ws.integrity()
                if report["db"]["integrity"] != "ok":
                    report["problems"].append(
                        f"{where} is damaged ({report['db']['integrity']}); restore a backup"
                    )
                report["channels"] = [c.to_json() for c in q.channels(ws)]
        except UniboxError as e:
            report["problems"].append(str(e))
    elif not problems:
        report["problems"].append(f"no workspace at {where} yet: run `unibox` or `unibox demo`")
    if "fail" in report["keyring"] or "unavailable" in report["keyring"]:
        report["problems"].append(
            "no usable keyring: pass channel passwords with --password-env or --password-file"
        )
    if as_json:
        emit(report)
        return
    click.echo(f"unibox {report['version']} (Python {report['python']})")
    d = report["db"]
    click.echo(
        f"workspace: {d['path']}  revision {d.get('revision', '-')} (code knows {d['head_revision']})"
    )
    if "conversation" in d:
        click.echo(
            f"  {d['conversation']:,} conversations, {d['message']:,} messages, "
            f"{d['contact']:,} contacts, {d['agent']} agents, {d['bytes'] / 1e6:.1f} MB"
        )
    click.echo(
        f"config: {report['config']['path']} ({'found' if report['config']['exists'] else 'none yet'})"
    )
    click.echo(f"keyring: {report['keyring']}")
    for c in report["channels"]:
        state = "enabled" if c["enabled"] else "disabled"
        # Names and statuses can hold a server's error text: shown cleaned, like customer text.
        name, inbox, status = (one_line(c[k]) for k in ("name", "inbox", "status"))
        click.echo(f"channel {c['id']}: {c['kind']} {name} ({inbox}, {state}) {status}")
    for p in report["problems"]:
        click.echo(f"problem: {one_line(p, 500)}")


def _register_channel_commands() -> None:
    """E-mail channel commands live with their backend; the CLI works without them."""
    try:
        from .cli_channels import channel_group, sync_command
    except ImportError:
        return
    main.add_command(channel_group, "channel")
    main.add_command(sync_command, "sync")
    from .cli_meta import whatsapp_group

    main.add_command(whatsapp_group, "whatsapp")


def _register_delivery_commands() -> None:
    from .cli_delivery import mark_sent_cmd, resend_cmd

    conversations.add_command(resend_cmd, "resend")
    conversations.add_command(mark_sent_cmd, "mark-sent")


def _register_admin_commands() -> None:
    """init, agent(s), team, inbox, snippet, pipeline, notifications: cli_admin.py."""
    from .cli_admin import register

    register(main)


def _register_routing_commands() -> None:
    """routing show|set, inbox hours: cli_routing.py."""
    from .cli_routing import register

    register(main)


def _register_flow_commands() -> None:
    """chatflow, kb: cli_flows.py."""
    from .cli_flows import register

    register(main)


def _register_hub_commands() -> None:
    from .cli_hub import register

    register(main)


def _register_migrate_command() -> None:
    from .cli_migrate import register

    register(main)


def _register_report_commands() -> None:
    from .cli_reports import register

    register(main)


_registered = False


def register_commands() -> bool:
    """Register the commands that live in the cli_*.py modules (once). False if they
    already were."""
    global _registered
    if _registered:
        return False
    _registered = True
    _register_channel_commands()
    _register_delivery_commands()
    _register_report_commands()
    _register_admin_commands()
    _register_routing_commands()
    _register_hub_commands()
    _register_flow_commands()
    _register_migrate_command()
    return True
