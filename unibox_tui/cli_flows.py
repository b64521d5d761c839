"""`unibox chatflow` (live chats and bots of the chat channels, one TOML text each) and
`unibox kb` (the knowledge base agents and bots link to).

Registered on the main group by cli.py (`register(main)`). A chatflow's text is checked when
it is saved (core/chatflows.py): a wrong one is refused with its line and nothing changes;
`edit` opens it in $VISUAL / $EDITOR and, at a terminal, offers to fix what was refused.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .cli_common import actor, as_option, db_option, emit, guarded, json_option, open_ws
from .core.commands.registry import call
from .core.errors import InvalidRequest


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    return db_option(json_option(as_option(guarded(f))))


def _clean(text: str | None, limit: int = 60) -> str:
    from .core.text import one_line

    return one_line(text or "", limit)


def _say(as_json: bool, data: dict[str, Any], line: str) -> None:
    if as_json:
        emit(data)
    else:
        click.echo(line)


def _read_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise InvalidRequest(f"cannot read {path}: {e.strerror}") from e


# ---------------------------------------------------------------------------------- chatflows


@click.group("chatflow")
def chatflow_group() -> None:
    """Chatflows: a chat channel's live chat (welcome, routing) or bot (steps), per page."""


def _line(row: Any) -> str:
    from .core.chatflows import describe_target

    state = "enabled " if row.enabled else "disabled"
    return (
        f"{_clean(row.name, 24):<24} {row.kind:<9} {state} {row.priority:>4}  "
        f"{_clean(row.channel_name, 16):<16} {_clean(describe_target(row.spec.get('target', {})), 60)}"
    )


@chatflow_group.command("add")
@click.argument("name")
@click.option("--channel", required=True, help="The chat channel (name or id).")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False),
    help="The chatflow's TOML (default: a commented template, saved disabled, to edit).",
)
@_common
def chatflow_add(
    name: str, channel: str, path: str | None, db: str | None, as_json: bool, as_handle: str | None
) -> None:
    """Add a chatflow from a TOML file, or a template to edit (admins)."""
    from .core import chatflow_queries as fq
    from .core import commands as cmd
    from .core.chatflows import TEMPLATE

    text = _read_file(path) if path else TEMPLATE
    with open_ws(db) as ws:
        if any(r.name.lower() == name.strip().lower() for r in fq.chatflows(ws)):
            raise InvalidRequest(
                f"chatflow {name!r} exists; change it with `unibox chatflow edit {name}`"
            )
        flow_id = call(
            ws,
            cmd.save_chatflow,
            name,
            text,
            channel=channel,
            enabled=True if path else False,
            actor=actor(ws, as_handle),
        )
        row = fq.chatflow(ws, flow_id)
    hint = (
        "" if path else f"; a template, disabled: `unibox chatflow edit {row.name}`, then enable it"
    )
    _say(
        as_json,
        {"chatflow": row.to_json()},
        f"saved chatflow {_clean(row.name)} ({row.kind} on {_clean(row.channel_name)}){hint}",
    )


@chatflow_group.command("list")
@db_option
@json_option
@guarded
def chatflow_list(db: str | None, as_json: bool) -> None:
    """Chatflows, the first a page would get first: type, state, priority, channel, pages."""
    from .core import chatflow_queries as fq

    with open_ws(db, read_only=True) as ws:
        rows = fq.chatflows(ws)
    if as_json:
        emit({"chatflows": [r.to_json() for r in rows]})
        return
    for row in rows:
        click.echo(_line(row))


@chatflow_group.command("show")
@click.argument("name")
@db_option
@json_option
@guarded
def chatflow_show(name: str, db: str | None, as_json: bool) -> None:
    """A chatflow's TOML (with --json: also its bot report)."""
    from .core import chatflow_queries as fq
    from .core.text import clean

    with open_ws(db, read_only=True) as ws:
        row = fq.chatflow(ws, name)
        stats = fq.bot_stats(ws, row.id)
    if as_json:
        emit({"chatflow": row.to_json(source=True), "stats": stats.to_json()})
    else:
        click.echo(clean(row.source).rstrip("\n"))


@chatflow_group.command("stats")
@click.argument("name")
@db_option
@json_option
@guarded
def chatflow_stats(name: str, db: str | None, as_json: bool) -> None:
    """A bot's report: sessions started, completed, handed off, abandoned; per step."""
    from .core import chatflow_queries as fq

    with open_ws(db, read_only=True) as ws:
        stats = fq.bot_stats(ws, name)
    if as_json:
        emit({"stats": stats.to_json()})
        return
    click.echo(
        f"{_clean(stats.name)}: {stats.started} started, {stats.completed} completed, "
        f"{stats.handed_off} handed off, {stats.abandoned} abandoned, {stats.active} active"
    )
    for step, n in stats.steps:
        click.echo(f"  {step:<24} {n}")


def _editor() -> list[str]:
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(command)


def _edit_text(text: str) -> str:
    with tempfile.TemporaryDirectory(prefix="unibox-") as folder:
        path = Path(folder) / "chatflow.toml"
        path.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([*_editor(), str(path)], check=False)
        except OSError as e:
            raise InvalidRequest(
                f"cannot start the editor {_editor()[0]!r}: {e.strerror}; set $EDITOR"
            ) from e
        if done.returncode != 0:
            raise InvalidRequest(f"the editor exited with status {done.returncode}; nothing saved")
        return path.read_bytes().decode("utf-8", errors="replace")


@chatflow_group.command("edit")
@click.argument("name")
@_common
def chatflow_edit(name: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Edit a chatflow's TOML in $VISUAL / $EDITOR; it is checked before it is saved."""
    from .core import chatflow_queries as fq
    from .core import commands as cmd
    from .core.chatflows import ChatflowError

    with open_ws(db) as ws:
        row = fq.chatflow(ws, name)
        who = actor(ws, as_handle)
        text = row.source
        while True:
            edited = _edit_text(text)
            if edited == row.source:
                _say(as_json, {"changed": False}, f"no change: {_clean(row.name)}")
                return
            try:
                call(ws, cmd.save_chatflow, row.name, edited, actor=who)
                break
            except ChatflowError as e:
                if not (sys.stdin.isatty() and sys.stderr.isatty()):
                    raise
                click.echo(f"unibox: error: {e}", err=True)
                if not click.confirm("Edit again?", default=True, err=True):
                    raise InvalidRequest("nothing saved") from e
                text = edited
        saved = fq.chatflow(ws, row.id)
    _say(
        as_json,
        {"changed": True, "chatflow": saved.to_json()},
        f"saved chatflow {_clean(saved.name)}",
    )


def _toggle(name: str, enabled: bool, db: str | None, as_json: bool, as_handle: str | None) -> None:
    from .core import chatflow_queries as fq
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = fq.chatflow(ws, name)
        changed = call(ws, cmd.set_chatflow_enabled, row.id, enabled, actor=actor(ws, as_handle))
    word = "enabled" if enabled else "disabled"
    _say(
        as_json,
        {"changed": changed, "name": row.name, "enabled": enabled},
        f"{word} {_clean(row.name)}" if changed else f"{_clean(row.name)} was {word} already",
    )


@chatflow_group.command("enable")
@click.argument("name")
@_common
def chatflow_enable(name: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Enable a chatflow (admins)."""
    _toggle(name, True, db, as_json, as_handle)


@chatflow_group.command("disable")
@click.argument("name")
@_common
def chatflow_disable(name: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Disable a chatflow (admins): pages it matched get the next one, or none."""
    _toggle(name, False, db, as_json, as_handle)


# ---------------------------------------------------------------------------------- kb


@click.group("kb")
def kb_group() -> None:
    """The knowledge base: articles agents insert into replies (ctrl+l) and bots offer."""


@kb_group.command("add")
@click.argument("title")
@click.option("--url", required=True, help="Where the article lives (http or https).")
@click.option("--body", help="Its text, for search (- reads standard input).")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Read its text from FILE.")
@_common
def kb_add(
    title: str,
    url: str,
    body: str | None,
    path: str | None,
    db: str | None,
    as_json: bool,
    as_handle: str | None,
) -> None:
    """Add an article, or replace the URL and text of the one with that title."""
    from .cli_common import read_text
    from .core import chatflow_queries as fq
    from .core import commands as cmd

    if body is not None and path is not None:
        raise click.UsageError("give --body TEXT or --file FILE, not both")
    text = _read_file(path) if path else read_text(body) if body is not None else ""
    with open_ws(db) as ws:
        article_id = call(ws, cmd.save_article, title, url, body=text, actor=actor(ws, as_handle))
        row = fq.article(ws, article_id)
    assert row is not None
    _say(as_json, {"article": row.to_json()}, f"saved article {_clean(row.title)}")


@kb_group.command("list")
@click.option("--search", default="", help="Only articles holding every word.")
@db_option
@json_option
@guarded
def kb_list(search: str, db: str | None, as_json: bool) -> None:
    """Articles: title and URL."""
    from .core import chatflow_queries as fq

    with open_ws(db, read_only=True) as ws:
        rows = fq.articles(ws, search)
    if as_json:
        emit({"articles": [r.to_json() for r in rows]})
        return
    for row in rows:
        click.echo(f"{_clean(row.title, 40):<40} {_clean(row.url, 80)}")


@kb_group.command("remove")
@click.argument("title")
@_common
def kb_remove(title: str, db: str | None, as_json: bool, as_handle: str | None) -> None:
    """Remove an article."""
    from .core import chatflow_queries as fq
    from .core import commands as cmd

    with open_ws(db) as ws:
        row = fq.article(ws, title)
        if row is None:
            raise InvalidRequest(f"no knowledge article {title!r}; `unibox kb list` lists them")
        call(ws, cmd.remove_article, row.id, actor=actor(ws, as_handle))
    _say(as_json, {"removed": row.title}, f"removed article {_clean(row.title)}")


def register(main: click.Group) -> None:
    main.add_command(chatflow_group)
    main.add_command(kb_group)


__all__ = ["register"]
