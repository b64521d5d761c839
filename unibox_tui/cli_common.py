"""What every `unibox` subcommand shares: --db/--json options, opening the workspace, and the
one rule for errors (one line on stderr, exit 1, never a traceback)."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .core.errors import InvalidRequest, UniboxError

DB_HELP = (
    "Workspace database file (default: $UNIBOX_DATABASE_URL, else $UNIBOX_DB, else the "
    "platform data dir)."
)
URL_HELP = (
    "A workspace on PostgreSQL instead of a file: postgresql+psycopg://USER@HOST/DB "
    "(default: $UNIBOX_DATABASE_URL)."
)


def _keep_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Not passed to the command: `given_db` reads it, so each command keeps its one `db`.
    ctx.meta[f"unibox.database_url.{id(ctx)}"] = value


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--db FILE and --database-url URL: where the workspace is (`given_db` picks one)."""
    f = click.option(
        "--database-url",
        "database_url",
        metavar="URL",
        expose_value=False,
        callback=_keep_url,
        help=URL_HELP,
    )(f)
    return click.option("--db", "db", type=click.Path(dir_okay=False), help=DB_HELP)(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (see README).")(f)


def as_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as", "as_handle", metavar="HANDLE", help="Act as this agent (default: config [agent])."
    )(f)


def fail(message: str) -> None:
    click.echo(f"unibox: error: {message}", err=True)
    sys.exit(1)


def not_utf8(values: dict[str, Any]) -> str | None:
    """The option or argument whose text is not valid UTF-8, if any.

    Python hands such arguments over with each bad byte as a lone surrogate, which fails
    later, deep down, as an encoding error. Paths are exempt: any bytes make a file name."""
    ctx = click.get_current_context(silent=True)
    params = {p.name: p for p in ctx.command.params} if ctx else {}
    for name, value in values.items():
        param = params.get(name)
        if param is not None and isinstance(param.type, click.Path):
            continue
        for text in value if isinstance(value, tuple) else (value,):
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                if isinstance(param, click.Option):
                    return max(param.opts, key=len)
                return param.human_readable_name if param is not None else name
    return None


def guarded(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into one line on stderr and exit 1; tracebacks only with UNIBOX_DEBUG."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bad = not_utf8(kwargs)
        if bad:
            fail(
                f"the text given as {bad} is not valid UTF-8; "
                "check the encoding of your terminal or script"
            )
        try:
            return f(*args, **kwargs)
        except UniboxError as e:
            fail(str(e))
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            fail("interrupted")
        except BrokenPipeError:
            # The reader stopped reading (`| head`): nothing went wrong. Point stdout at
            # /dev/null so Python's exit flush does not complain either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as e:
            if os.environ.get("UNIBOX_DEBUG"):
                raise
            first = (str(e).splitlines() or [""])[0]
            fail(f"unexpected {type(e).__name__}: {first} (set UNIBOX_DEBUG=1 for details)")

    return wrapper


def read_text(text: str) -> str:
    """--text, or standard input for `-` (bytes that are not UTF-8 become U+FFFD)."""
    if text != "-":
        return text
    return sys.stdin.buffer.read().decode("utf-8", errors="replace")


def emit(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def given_db(db: str | None) -> str | None:
    """The workspace named on the command line: a file (--db) or a PostgreSQL URL
    (--database-url), the subcommand's first, else the one given before the subcommand
    (`unibox --db X list`). None: $UNIBOX_DATABASE_URL, else $UNIBOX_DB, else the default
    (core/db.open_workspace decides)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return db
    for level in (ctx, ctx.find_root()):
        file = db if level is ctx else level.params.get("db")
        url = ctx.meta.get(f"unibox.database_url.{id(level)}")
        if file and url:
            raise InvalidRequest("give --db FILE or --database-url URL, not both")
        if url:
            from .core.db import URL_SCHEMES

            if not url.startswith(URL_SCHEMES):
                from .core.move import is_url, shown

                given = f" {shown(url)!r}" if is_url(url) else ""  # never its password
                raise InvalidRequest(
                    f"--database-url{given} is not a PostgreSQL URL; give "
                    "postgresql+psycopg://USER@HOST[:PORT]/DATABASE (or --db FILE)"
                )
            return url
        if file:
            return file
    return None


def open_ws(db: str | None, *, create: bool = False, read_only: bool = False):  # type: ignore[no-untyped-def]
    """The workspace of --db. Read commands pass read_only: they never create, fill or
    change a file, and can read one they may not write."""
    from .core.db import open_workspace

    path = given_db(db)
    if not path:
        from .cli_hub import hub_url, open_hub_cache

        ctx = click.get_current_context(silent=True)
        root = ctx.find_root().params if ctx else {}
        url = hub_url(root.get("hub"))
        if url:
            return open_hub_cache(url, root.get("token_file"))
    return open_workspace(path, create=create, read_only=read_only)


def actor(ws: Any, as_handle: str | None) -> str:
    """Who acts: --as, else the config's [agent] handle, else the workspace's default agent
    (core/me.py has the rule). A script acts only as someone it names: a config handle that
    is not in this workspace is an error here, not a fallback."""
    from .config import load_config
    from .core.admin_queries import workspace_has_agents
    from .core.me import current_agent

    remote = getattr(ws, "remote", None)
    if remote is not None:  # against a hub, you are who your token signs in
        handle = remote.agent.get("handle")
        if as_handle and handle and as_handle.lstrip("@") != handle:
            raise InvalidRequest(
                f"against a hub you act as the agent your token signs in (@{handle}); "
                "sign in with another token to act as someone else"
            )
        return str(remote.agent["id"])
    if not workspace_has_agents(ws):
        raise InvalidRequest("this workspace has no agents yet; run `unibox init` to be its first")
    configured = load_config().agent
    agent, _ = current_agent(ws, as_handle or configured)
    if agent is None:
        raise InvalidRequest(
            "who are you? pass --as HANDLE or set [agent] handle in config.toml "
            "(`unibox agents` lists handles)"
        )
    return agent.id


def admin_actor(ws: Any, as_handle: str | None) -> str | None:
    """Who runs an administrative command (the core checks they are an admin). A workspace
    with no agents yet has nobody to check: setting it up (a channel before `unibox init`)
    is done as the system."""
    from .core.admin_queries import workspace_has_agents

    if not as_handle and not workspace_has_agents(ws):
        return None
    return actor(ws, as_handle)
