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

DB_HELP = "Workspace database file (default: $UNIBOX_DB, else the platform data dir)."


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
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


def guarded(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into one line on stderr and exit 1; tracebacks only with UNIBOX_DEBUG."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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
    """A subcommand's --db, else the one given before the subcommand (`unibox --db X list`)."""
    if db:
        return db
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().params.get("db") if ctx else None


def open_ws(db: str | None, *, create: bool = False):  # type: ignore[no-untyped-def]
    from .core.db import open_workspace

    return open_workspace(given_db(db), create=create)


def actor(ws: Any, as_handle: str | None) -> str:
    """Who acts: --as, else the config's [agent] handle, else the workspace's default agent
    (core/me.py has the rule). A script acts only as someone it names: a config handle that
    is not in this workspace is an error here, not a fallback."""
    from .config import load_config
    from .core.admin_queries import workspace_has_agents
    from .core.me import current_agent

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
