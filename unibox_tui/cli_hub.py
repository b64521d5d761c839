"""`unibox hub` (serve a workspace to the team), `unibox login URL` / `unibox logout`, and how
every other command finds the hub it works against (`--hub`, $UNIBOX_HUB, config `[hub] url`)
and the agent's token ($UNIBOX_TOKEN, `--token-file`, $UNIBOX_TOKEN_FILE, the keyring entry
`hub:URL` that `unibox login` stores)."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from typing import Any
from urllib.parse import urlparse

import click

from .cli_common import db_option, fail, guarded, open_ws
from .core.errors import InvalidRequest, SecretError

DEFAULT_LISTEN = "127.0.0.1:8750"


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidRequest(f"--listen takes HOST:PORT, e.g. {DEFAULT_LISTEN}; got {value!r}")
    return host.strip("[]"), int(port)


@click.command("hub")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT to serve on.")
@db_option
@click.option("--public-url", help="The URL agents and customers reach the hub at.")
@click.option("--certfile", type=click.Path(dir_okay=False, exists=True), help="TLS certificate.")
@click.option("--keyfile", type=click.Path(dir_okay=False, exists=True), help="TLS private key.")
@click.option(
    "--insecure", is_flag=True, help="Serve plain HTTP on a non-loopback address (behind a proxy)."
)
@click.option("--no-channels", is_flag=True, help="Do not run the channels (tests, a spare node).")
@click.option(
    "--web", is_flag=True, help="Serve the agent app in a browser at /app (token sign-in)."
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="This node's own files (webhook spool, browser apps). Default: beside a workspace "
    "file; for --database-url, a directory per workspace in your data dir.",
)
@click.option(
    "--redis",
    "redis_url",
    metavar="URL",
    help="redis://HOST:PORT/N shared by several hub nodes: socket.io rooms, presence, "
    "typing and rate limits (README: Several hub nodes).",
)
@click.option(
    "--web-max-apps",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="With --web: app processes the hub runs at most (one per browser tab).",
)
@click.option(
    "--web-max-apps-per-agent",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="With --web: app tabs one agent may have open at once.",
)
@guarded
def hub_command(
    listen: str,
    db: str | None,
    public_url: str | None,
    certfile: str | None,
    keyfile: str | None,
    insecure: bool,
    no_channels: bool,
    web: bool,
    state_dir: str | None,
    redis_url: str | None,
    web_max_apps: int,
    web_max_apps_per_agent: int,
) -> None:
    """Serve this workspace to your team: agents' apps connect with `unibox --hub URL`."""
    host, port = _listen(listen)
    if bool(certfile) != bool(keyfile):
        raise InvalidRequest("give both --certfile and --keyfile (or neither)")
    if not certfile and not _loopback(host) and not insecure:
        raise InvalidRequest(
            f"{host} is not a loopback address: serve TLS with --certfile/--keyfile, or put a "
            "TLS proxy in front and pass --insecure (README: Team hub)"
        )
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s unibox hub: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("uvicorn", "uvicorn.error", "socketio", "engineio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from .hub.node import node_state
    from .hub.server import serve

    if redis_url is not None:
        _check_redis(redis_url)
    with open_ws(db, create=True) as ws:
        state = node_state(ws, state_dir)
        state.claim()
        scheme = "https" if certfile else "http"
        url = public_url or f"{scheme}://{host}:{port}"
        logging.getLogger("unibox.hub").info("serving %s on %s", ws.path, url)
        if ws.setting("hub.public_url") != url:  # `unibox channel embed` prints snippets with it
            ws.set_setting("hub.public_url", url)
        serve(
            ws,
            host,
            port,
            certfile=certfile,
            keyfile=keyfile,
            run_engine=not no_channels,
            public_url=url,
            webapp=_web_settings(
                state, host, port, url, bool(certfile), web_max_apps, web_max_apps_per_agent
            )
            if web
            else None,
            state=state,
            redis_url=redis_url,
        )


def _check_redis(url: str) -> None:
    """--redis must name a Redis that answers: a node that cannot reach it would serve its
    agents alone (rooms, presence and rate limits not shared) without anyone noticing."""
    parts = urlparse(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise InvalidRequest(f"--redis takes a URL like redis://127.0.0.1:6379/0; got {url!r}")
    try:
        import redis
    except ImportError:
        raise InvalidRequest("--redis needs the redis package: pip install redis") from None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError) as e:
        raise InvalidRequest(f"cannot reach Redis at {_shown_redis(url)}: {e}") from None


def _shown_redis(url: str) -> str:
    parts = urlparse(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _web_settings(
    state: Any, host: str, port: int, url: str, tls: bool, total: int, per_agent: int
) -> Any:
    """`--web`: where the browser apps (processes on this machine) reach the hub, and the
    folder their caches live in (this node's, hub/node.py: beside a workspace file, private
    to the hub's user)."""
    from .hub.webapp_http import WebAppSettings

    try:
        import textual_serve  # noqa: F401
    except ImportError:
        raise InvalidRequest(
            "--web needs textual-serve: pip install textual-serve (it ships with unibox)"
        ) from None
    if tls:
        app_url = url  # the certificate names the public host, not 127.0.0.1
    elif _loopback(host) or host in ("0.0.0.0", "::", ""):
        app_url = f"http://{'[::1]' if host == '::' else '127.0.0.1'}:{port}"
    else:
        app_url = url  # --insecure on one address behind a TLS proxy: through the proxy
    folder = state.path("webapp")
    folder.mkdir(mode=0o700, exist_ok=True)
    return WebAppSettings(app_url, folder, per_agent=per_agent, total=total)


# ------------------------------------------------------------------------ signing in


def keyring_name(url: str) -> str:
    return f"hub:{url.rstrip('/')}"


def hub_url(explicit: str | None = None) -> str | None:
    """--hub, else $UNIBOX_HUB, else config [hub] url."""
    if explicit:
        return explicit.rstrip("/")
    env = os.environ.get("UNIBOX_HUB")
    if env:
        return env.rstrip("/")
    from .config import load_config

    section = load_config().raw.get("hub", {})
    url = section.get("url") if isinstance(section, dict) else None
    return url.rstrip("/") if isinstance(url, str) and url else None


def hub_token(url: str, token_file: str | None = None) -> str:
    """The agent's token for `url`: $UNIBOX_TOKEN, a token file, else the keyring."""
    env = os.environ.get("UNIBOX_TOKEN")
    if env:
        return env.strip()
    path = token_file or os.environ.get("UNIBOX_TOKEN_FILE")
    if path:
        try:
            return open(path, encoding="utf-8").read().strip()
        except OSError as e:
            raise SecretError(f"cannot read the token file {path}: {e.strerror}") from e
    from .secrets import _from_keyring

    try:
        token = _from_keyring(keyring_name(url))
    except SecretError:
        raise SecretError(
            f"not signed in to {url}, and this machine has no usable keyring to keep a token "
            "in: set UNIBOX_TOKEN, or pass --token-file FILE"
        ) from None
    if not token:
        raise SecretError(
            f"not signed in to {url}: run `unibox login {url}` (or set UNIBOX_TOKEN, "
            "or pass --token-file FILE)"
        )
    return token


def check_url(url: str) -> str:
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"a hub URL looks like http://127.0.0.1:8750; got {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidRequest(
            f"{url} is plain HTTP to another machine: use https:// (README: Team hub)"
        )
    return url.rstrip("/")


@click.command("login")
@click.argument("url")
@click.option("--token-file", type=click.Path(dir_okay=False), help="Read the token from a file.")
@guarded
def login_command(url: str, token_file: str | None) -> None:
    """Sign in to a team hub: checks the token, keeps it in the keyring, and makes the hub
    your default (config [hub] url)."""
    from .config import load_config
    from .secrets import store_secret
    from .sync.client import HubClient

    url = check_url(url)
    if token_file:
        token = hub_token(url, token_file)
    elif os.environ.get("UNIBOX_TOKEN"):
        token = os.environ["UNIBOX_TOKEN"].strip()
    else:
        token = click.prompt("Token (from your admin)", hide_input=True, err=True).strip()
    client = HubClient(url, token)
    try:
        client.open(offline_ok=False)
        who = client.agent
    finally:
        client.close()
    if not token_file:
        try:
            store_secret(keyring_name(url), token)
        except SecretError as e:
            fail(f"{e}")
    config = load_config()
    config.raw["hub"] = {**config.raw.get("hub", {}), "url": url}
    config.save()
    click.echo(f"signed in to {url} as @{who['handle']}; `unibox` now opens the team's inbox")


@click.command("logout")
@click.argument("url", required=False)
@guarded
def logout_command(url: str | None) -> None:
    """Forget the hub's token (keyring) and stop using it by default."""
    from .config import load_config
    from .secrets import delete_secret

    url = (url or hub_url() or "").rstrip("/")
    if not url:
        raise InvalidRequest("not signed in to any hub")
    delete_secret(keyring_name(url))
    config = load_config()
    section = dict(config.raw.get("hub", {}))
    if section.get("url", "").rstrip("/") == url:
        section.pop("url", None)
        config.raw["hub"] = section
        config.save()
    click.echo(f"signed out of {url}")


# ------------------------------------------------------------------------ the client side


_OPEN: dict[str, Any] = {}  # url -> HubClient of this process (one per run of the CLI)


def open_hub_cache(url: str, token_file: str | None, *, wait: bool | None = None) -> Any:
    """This agent's cache of the hub at `url`, connected and (with `wait`) caught up."""
    from .sync.client import HubClient

    client = _OPEN.get(url)
    if client is None:
        client = HubClient(check_url(url), hub_token(url, token_file))
        # A script learns whether the hub took its command, and reads a complete cache; the
        # TUI shows the newest conversations at once and the rest as they come.
        ctx = click.get_current_context(silent=True)
        script = ctx is None or ctx.find_root().invoked_subcommand is not None
        client.wait_answers = script
        wait = script if wait is None else wait
        ws = client.open()
        _OPEN[url] = client
        import atexit

        atexit.register(close_hub_clients)
        if wait and client.state == "connected" and not client.wait_synced(120):
            raise InvalidRequest(f"the hub at {url} did not finish sending changes in 120 s")
        if client.state != "connected":
            click.echo(f"unibox: offline ({client.detail}); showing the local cache", err=True)
        return ws
    assert client.ws is not None
    return client.ws


def close_hub_clients() -> None:
    for client in _OPEN.values():
        client.close()
    _OPEN.clear()


def register(main: click.Group) -> None:
    main.add_command(hub_command)
    main.add_command(login_command)
    main.add_command(logout_command)
