"""The agent app in a browser (`unibox hub --web`): `/app` serves the normal `unibox` TUI
through textual-serve, behind the same sign-in tokens agents' apps use.

Why textual-serve's pieces are mounted here rather than its server run beside the hub:
its `Server` (aiohttp) runs ONE fixed command for every visitor and has no sign-in, while
each tab here must run the app as the agent who signed in, with that agent's token. Its
`AppService` is independent of aiohttp (it takes send/close callbacks), so it is driven
from a Starlette websocket route in the hub's own process, and its page template and
static files (xterm-based `textual.js`, fonts) are served as they ship. No second port,
no proxy, and nothing reaches a process without the session cookie.

- `GET /app`: the sign-in page, or (signed in) textual-serve's page, whose websocket is
  `/app/ws`. `POST /app/sign-in` takes a token (double-submit CSRF field + Origin check),
  sets the session cookie: HttpOnly, SameSite=Strict, Secure unless served as plain HTTP on
  loopback. Sessions live in the hub's memory (a restart signs everyone out).
- `/app/ws`: checks the cookie, the Origin and the token again (revoked tokens and
  deactivated agents are refused), then the caps (per agent and in total) BEFORE a process
  is spawned; the process is `python -m unibox_tui --hub URL`, the agent's token in its
  environment (never on its command line or in a log), its cache in a per-agent slot folder
  so two tabs never share one cache file. Closing the tab ends the process.
- `GET /download/KEY` (signed in, where textual.js looks): a file the agent's own app
  delivers (attachments: in the browser app they go to the browser, not the hub's disk).
- `GET /app/status` (signed in): this agent's app processes (pid, first frame), for tests
  and the benchmark.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .rate_limit import peer

if TYPE_CHECKING:
    from .server import Hub

log = logging.getLogger("unibox.hub.web")

SESSION_COOKIE = "unibox_app"
CSRF_COOKIE = "unibox_app_csrf"
CSRF_FIELD = "csrf"
SESSION_TTL = 12 * 3600.0  # seconds a session lasts without being used
MAX_SIGN_IN_BODY = 4096
STOP_SECONDS = 5.0  # an app told to quit that has not exited by then is killed
MAX_CELLS = 500  # columns or rows a browser may ask for
REVOKED_CHECK = 1.0  # seconds between checks that a running app's token still signs in
# Sign-in posts per address per minute. A token cannot be guessed in any number of tries;
# the limit keeps a flood of them from costing the hub a token check each.
SIGN_IN_ATTEMPTS = 10
# What of the hub's environment an app process gets: only what running Python and finding
# the hub need. The hub's secrets (channel keys in variables) and the operator's choices
# (UNIBOX_DB, UNIBOX_CONFIG...) never reach it: it is a client of the hub, as the agent who
# signed in, and nothing else.
_KEPT_ENV = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "SYSTEMROOT",
}  # fmt: skip
# Page policy: everything from the hub itself (textual-serve's template also links a Google
# Fonts stylesheet; the fonts it needs are bundled, so that request is blocked, not made).
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)


@dataclass
class WebAppSettings:
    """What `unibox hub --web` decided: the caps, where app processes reach the hub, and
    where their caches live."""

    app_url: str  # the URL the spawned apps connect to (this hub)
    state_dir: Path  # one folder per agent and slot: the apps' caches and config
    per_agent: int = 3
    total: int = 20


@dataclass
class WebSession:
    agent_id: str
    handle: str
    token: str  # in memory only: handed to the agent's app processes through their env
    token_id: str
    seen: float = field(default_factory=time.monotonic)


@dataclass
class AppProcess:
    agent_id: str
    handle: str
    slot: int
    started: float = field(default_factory=time.monotonic)
    pid: int | None = None
    first_frame: float | None = None  # monotonic time of the first bytes it drew

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "slot": self.slot,
            "first_frame": self.first_frame is not None,
            "first_frame_ms": None
            if self.first_frame is None
            else round((self.first_frame - self.started) * 1000, 1),
        }


class OverCap(Exception):
    pass


def _is_loopback(host: str) -> bool:
    from ..cli_hub import _loopback

    return _loopback(host)


class WebApp:
    def __init__(self, hub: Hub, settings: WebAppSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.sessions: dict[str, WebSession] = {}
        self.apps: dict[int, AppProcess] = {}  # id(record) -> record, while it runs
        self.sign_ins = hub.rate_limiter("sign-in")  # sign-in posts per address
        from textual_serve.download_manager import DownloadManager

        self.downloads = DownloadManager()  # files the apps deliver (attachments), by key
        self._page: Any = None

    # ---------------------------------------------------------------- sessions

    def session_of(self, cookies: dict[str, str]) -> WebSession | None:
        sid = cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        session = self.sessions.get(sid)
        now = time.monotonic()
        if session is None or now - session.seen > SESSION_TTL:
            self.sessions.pop(sid, None)
            return None
        session.seen = now
        return session

    async def still_signed_in(self, session: WebSession) -> bool:
        """The token still signs the agent in (not revoked, agent active)."""
        from ..core import tokens

        def check() -> bool:
            with self.hub.ws.read() as conn:
                return bool(tokens.still_valid(conn, [session.token_id]))

        return bool(await self.hub._read(check))

    async def sign_in(self, token: str) -> tuple[str, WebSession]:
        """A new session for the agent `token` signs in; NoAccess says why not."""
        from ..core import tokens

        def check() -> tokens.SignedIn:
            with self.hub.ws.read() as conn:
                return tokens.verify(conn, token)

        who = await self.hub._read(check)
        now = time.monotonic()
        for old, known in list(self.sessions.items()):  # forget the expired ones
            if now - known.seen > SESSION_TTL:
                del self.sessions[old]
        sid = secrets.token_urlsafe(32)
        session = WebSession(who.agent_id, who.handle, token, who.token_id)
        self.sessions[sid] = session
        return sid, session

    # ---------------------------------------------------------------- processes

    def running(self, agent_id: str | None = None) -> list[AppProcess]:
        return [a for a in self.apps.values() if agent_id is None or a.agent_id == agent_id]

    def cap_message(self, session: WebSession) -> str | None:
        """Why another app cannot start now, or None."""
        mine = len(self.running(session.agent_id))
        if mine >= self.settings.per_agent:
            return (
                f"You have {mine} app tabs open on this hub, the most one agent may have "
                f"({self.settings.per_agent}). Close one of them, then reload this page."
            )
        if len(self.apps) >= self.settings.total:
            return (
                f"The hub runs as many browser apps as it allows ({self.settings.total}). "
                "Try again in a while, or ask your admin to raise --web-max-apps."
            )
        return None

    def reserve(self, session: WebSession) -> AppProcess:
        """Take a place under the caps (synchronously: no other connection gets in between)."""
        message = self.cap_message(session)
        if message is not None:
            raise OverCap(message)
        used = {a.slot for a in self.running(session.agent_id)}
        slot = min(set(range(self.settings.per_agent)) - used)
        record = AppProcess(session.agent_id, session.handle, slot)
        self.apps[id(record)] = record
        return record

    def environment(self, session: WebSession, record: AppProcess) -> dict[str, str]:
        """The app's environment: the agent's token (never its argv), its own cache and
        config folder, nothing of the hub's own settings."""
        home = self.settings.state_dir / session.agent_id / f"slot-{record.slot}"
        (home / "data").mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV or k.startswith("LC_")}
        env["UNIBOX_TOKEN"] = session.token
        env["XDG_DATA_HOME"] = str(home / "data")  # sync/client.cache_dir lives under it
        env["UNIBOX_CONFIG"] = str(self.settings.state_dir / session.agent_id / "config.toml")
        # The hub's pid: the app ends when its parent is no longer this process (web_child).
        env["UNIBOX_WEB_APP"] = str(os.getpid())
        return env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "unibox_tui", "--hub", self.settings.app_url]

    # ---------------------------------------------------------------- pages

    def app_page(self, request: Any) -> str:
        """textual-serve's own page, pointed at /app/ws and /app/static/."""
        if self._page is None:
            import jinja2
            import textual_serve

            folder = Path(textual_serve.__file__).parent / "templates"
            env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True)
            self._page = env.get_template("app_index.html")
        secure = request.url.scheme == "https" or self.hub.public_url.startswith("https")
        try:
            font_size = max(8, min(int(request.query_params.get("fontsize", "16")), 40))
        except ValueError:
            font_size = 16
        return str(
            self._page.render(
                font_size=font_size,
                app_websocket_url=f"{'wss' if secure else 'ws'}://{request.url.netloc}/app/ws",
                config={"static": {"url": "/app/static/"}},
                application={"name": "Unibox"},
                ping_url="",
            )
        )


# ------------------------------------------------------------------------ the app service


def _service_class() -> type:
    """textual-serve's AppService, started without a shell (argv list, our environment)
    and telling us when the app draws its first frame and when its process ends."""
    from textual_serve.app_service import AppService

    class UniboxAppService(AppService):  # type: ignore[misc]
        def __init__(
            self, argv: list[str], env: dict[str, str], record: AppProcess, **kwargs: Any
        ) -> None:
            super().__init__(" ".join(argv[:3]), **kwargs)
            self.argv = argv
            self.env = env
            self.record = record

        async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
            # textual-serve's variables (its web driver, the size), on our environment
            # instead of a copy of the hub's.
            env = {
                k: v
                for k, v in self._build_environment(width=width, height=height).items()
                if os.environ.get(k) != v
            }
            env.update(self.env)
            self._process = process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # a Ctrl-C at the hub's terminal is the hub's
            )
            assert process.stdin is not None
            self._stdin = process.stdin
            self.record.pid = process.pid
            return process

        async def on_data(self, payload: bytes) -> None:
            if self.record.first_frame is None:
                self.record.first_frame = time.monotonic()
                log.info(
                    "app of @%s (pid %s) drew its first frame after %.0f ms",
                    self.record.handle,
                    self.record.pid,
                    (self.record.first_frame - self.record.started) * 1000,
                )
            await super().on_data(payload)

        async def run(self) -> None:
            await super().run()
            # The process ended (quit, crash): the tab shows "Session ended".
            try:
                await self.remote_close()
            except Exception:
                pass

        async def end(self) -> None:
            """Ask the app to quit; kill it when it has not within STOP_SECONDS."""
            process = self._process
            try:
                await asyncio.wait_for(self.stop(), STOP_SECONDS)
                if process is not None:  # reaped here: no zombie outlives its tab
                    await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except (TimeoutError, Exception):
                pass
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()

    return UniboxAppService


_SERVICE: type | None = None


def service_class() -> type:
    global _SERVICE
    if _SERVICE is None:
        _SERVICE = _service_class()
    return _SERVICE


# ------------------------------------------------------------------------ HTML


def _sign_in_html(csrf: str, error: str = "") -> str:
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Unibox</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #0c181f; color: #eee;
  display: flex; justify-content: center; padding-top: 12vh; }}
form {{ background: #12232d; padding: 2em; border-radius: 8px; width: 22em; }}
input {{ width: 100%; box-sizing: border-box; padding: .5em; margin: .5em 0 1em; }}
button {{ padding: .5em 2em; }}
.error {{ color: #ff8080; }}
</style></head>
<body><form method="post" action="/app/sign-in" autocomplete="off">
<h1>Unibox</h1>
<p>Sign in with the token your admin gave you (<code>unibox agent token HANDLE</code>).</p>
{problem}
<label for="token">Token</label>
<input id="token" name="token" type="password" required autofocus>
<input type="hidden" name="{CSRF_FIELD}" value="{html.escape(csrf)}">
<button type="submit">Sign in</button>
</form></body></html>"""


def _message_html(title: str, message: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Unibox</title>
<style>body {{ font-family: system-ui, sans-serif; background: #0c181f; color: #eee;
  padding: 12vh 2em; text-align: center; }}</style></head>
<body><h1>{html.escape(title)}</h1><p id="message">{html.escape(message)}</p>
<p><a href="/app" style="color:#9cf">Reload</a></p></body></html>"""


# ------------------------------------------------------------------------ routes


def _secure(request: Any) -> bool:
    """The cookie is Secure unless the page is plain HTTP on a loopback address (a browser
    would not send a Secure cookie back over http there)."""
    return request.url.scheme == "https" or not _is_loopback(request.url.hostname or "")


def _same_origin(headers: Any, url: Any) -> bool:
    """The request comes from a page of this hub: its Origin (sent by browsers on every
    POST and websocket) names the host it was sent to."""
    origin = headers.get("origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.netloc == url.netloc and parts.scheme in ("http", "https")


def routes(hub: Hub) -> list[Any]:
    settings: WebAppSettings | None = hub.webapp
    if settings is None:
        return []  # `unibox hub` without --web: no /app at all
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from ..core.errors import UniboxError

    web = WebApp(hub, settings)
    hub.webapp_state = web  # type: ignore[attr-defined]

    def page(body: str, status: int = 200) -> HTMLResponse:
        response = HTMLResponse(body, status_code=status)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # "no-referrer" would make Chromium send `Origin: null` with the sign-in POST
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def sign_in_page(request: Any, error: str = "", status: int = 200) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = page(_sign_in_html(csrf, error), status)
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            path="/app",
            httponly=True,
            secure=_secure(request),
            samesite="strict",
        )
        return response

    async def app_index(request: Any) -> Response:
        session = web.session_of(request.cookies)
        if session is None or not await web.still_signed_in(session):
            return sign_in_page(request)
        over = web.cap_message(session)
        if over is not None:
            return page(_message_html("Too many app tabs", over), 429)
        return page(web.app_page(request))

    async def sign_in(request: Any) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_SIGN_IN_BODY:
                return page(_message_html("Refused", "That sign-in was too large."), 413)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        csrf = request.cookies.get(CSRF_COOKIE)
        if (
            not _same_origin(request.headers, request.url)
            or not csrf
            or not secrets.compare_digest(csrf, form.get(CSRF_FIELD, ""))
        ):
            return sign_in_page(request, "The sign-in form expired; please sign in again.", 403)
        wait = await web.sign_ins.check(peer(request), SIGN_IN_ATTEMPTS, time.monotonic())
        if wait is not None:
            log.info("web sign-in refused from %s: too many attempts", peer(request))
            return sign_in_page(
                request, f"Too many sign-in attempts; try again in {wait:.0f} s.", 429
            )
        try:
            sid, session = await web.sign_in(form.get("token", "").strip())
        except UniboxError as e:
            log.info("web sign-in refused from %s: %s", peer(request), e)
            return sign_in_page(request, str(e), 401)
        log.info("web sign-in @%s from %s", session.handle, peer(request))
        response = RedirectResponse("/app", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=int(SESSION_TTL),
            path="/",  # textual.js fetches an app's downloads from /download/KEY
            httponly=True,
            secure=_secure(request),
            samesite="strict",
        )
        response.delete_cookie(CSRF_COOKIE, path="/app")
        return response

    async def sign_out(request: Any) -> Response:
        if _same_origin(request.headers, request.url):
            sid = request.cookies.get(SESSION_COOKIE)
            if sid:
                web.sessions.pop(sid, None)
        response = RedirectResponse("/app", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def status(request: Any) -> Response:
        session = web.session_of(request.cookies)
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        return JSONResponse(
            {
                "agent": session.handle,
                "apps": [a.to_json() for a in web.running(session.agent_id)],
                "per_agent": settings.per_agent,
                "total": settings.total,
            }
        )

    async def download(request: Any) -> Response:
        """A file the agent's app delivers (an attachment opened or downloaded): streamed
        from the app process by textual-serve's DownloadManager. Only the app's own agent
        gets it; shown inline only in a sandbox (a customer's HTML file runs no script at
        the hub's origin)."""
        session = web.session_of(request.cookies)
        key = request.path_params["key"]
        try:
            meta = await web.downloads.get_download_metadata(key)
        except KeyError:
            meta = None
        owner = getattr(meta.app_service, "record", None) if meta is not None else None
        if session is None or owner is None or owner.agent_id != session.agent_id:
            return page(_message_html("Not found", "No such download."), 404)
        assert meta is not None
        from urllib.parse import quote

        from starlette.responses import StreamingResponse

        inline = meta.open_method == "browser"
        content_type = meta.mime_type or "application/octet-stream"
        if meta.encoding:
            content_type += f"; charset={meta.encoding}"
        name = quote(meta.file_name or "attachment", safe="")
        return StreamingResponse(
            web.downloads.download(key),
            media_type=content_type,
            headers={
                "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                f"filename*=UTF-8''{name}",
                "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
                "style-src 'unsafe-inline'; media-src data:",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    async def app_socket(websocket: WebSocket) -> None:
        session = web.session_of(websocket.cookies)
        address = peer(websocket)
        if session is None or not _same_origin(websocket.headers, websocket.url):
            log.info("web app socket refused from %s: not signed in", address)
            await websocket.close(code=1008)  # before accept: the browser sees a 403
            return
        if not await web.still_signed_in(session):
            await websocket.close(code=1008)
            return
        try:
            record = web.reserve(session)
        except OverCap as e:
            log.info("web app of @%s refused: %s", session.handle, e)
            await websocket.close(code=1013)
            return
        service: Any = None
        watcher: asyncio.Task[None] | None = None
        try:
            await websocket.accept()
            width = _cells(websocket.query_params.get("width"), 80)
            height = _cells(websocket.query_params.get("height"), 24)
            closed = False

            async def close() -> None:
                nonlocal closed
                if not closed:
                    closed = True
                    await websocket.close()

            service = service_class()(
                web.command(),
                web.environment(session, record),
                record,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_text,
                close=close,
                download_manager=web.downloads,
            )
            await service.start(width, height)
            log.info("web app of @%s started (pid %s) for %s", session.handle, record.pid, address)
            watcher = asyncio.create_task(_end_when_signed_out(web, session, close))
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await _forward(service, websocket, message.get("text"))
        except (WebSocketDisconnect, RuntimeError):
            pass  # the tab went away (or the app closed the socket first)
        finally:
            if watcher is not None:
                watcher.cancel()
            if service is not None:
                await service.end()
            web.apps.pop(id(record), None)
            log.info("web app of @%s (pid %s) ended", session.handle, record.pid)

    import textual_serve

    static = Path(str(textual_serve.__file__)).parent / "static"
    return [
        Route("/app", app_index, methods=["GET"]),
        Route("/app/", lambda _r: RedirectResponse("/app", status_code=308), methods=["GET"]),
        Route("/app/sign-in", sign_in, methods=["POST"]),
        Route("/app/sign-out", sign_out, methods=["POST"]),
        Route("/app/status", status, methods=["GET"]),
        WebSocketRoute("/app/ws", app_socket),
        Route("/download/{key}", download, methods=["GET"]),
        Mount("/app/static", app=StaticFiles(directory=str(static)), name="app-static"),
    ]


async def _end_when_signed_out(web: WebApp, session: WebSession, close: Any) -> None:
    """A revoked token or a deactivated agent ends the agent's browser apps (as the hub
    ends a terminal app's connection) and their session."""
    while True:
        await asyncio.sleep(REVOKED_CHECK)
        try:
            if await web.still_signed_in(session):
                continue
        except Exception:
            continue  # the database was busy: look again next time
        log.info("web app of @%s ended: token revoked or agent deactivated", session.handle)
        for sid, known in list(web.sessions.items()):
            if known is session:
                del web.sessions[sid]
        await close()
        return


def _cells(value: str | None, default: int) -> int:
    try:
        return max(1, min(int(value or default), MAX_CELLS))
    except ValueError:
        return default


async def _forward(service: Any, websocket: Any, text: str | None) -> None:
    """One message of textual.js (the envelopes textual-serve's own server handles);
    anything else is ignored."""
    if not text or len(text) > 1_000_000:
        return
    try:
        envelope = json.loads(text)
    except ValueError:
        return
    if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
        return
    kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
    if kind == "stdin" and isinstance(data, str):
        await service.send_bytes(data.encode("utf-8"))
    elif kind == "resize" and isinstance(data, dict):
        await service.set_terminal_size(
            _cells(str(data.get("width")), 80), _cells(str(data.get("height")), 24)
        )
    elif kind == "ping":
        await websocket.send_text(json.dumps(["pong", data]))
    elif kind == "blur":
        await service.blur()
    elif kind == "focus":
        await service.focus()
