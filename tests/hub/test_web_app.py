"""The agent app in a browser (`unibox hub --web`): a real hub process, real Chromium, the
real `unibox` TUI spawned per tab through textual-serve's AppService.

The terminal draws on a canvas (no DOM text), so "the inbox appeared" is asserted on a
screenshot: textual.js marks the page `-first-byte` when the app's first frame arrives, and
the screenshot must then be covered with drawn rows (the conversation list fills the
screen; an empty terminal or a one-line error does not). The hub also reports the spawned
app's pid and first frame at /app/status.
"""

from __future__ import annotations

import base64
import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import websockets.exceptions
import websockets.sync.client
from servers.browser import own_chromium
from servers.hub import HubProcess
from waiting import wait_for

from tests.conftest import T0
from unibox_tui.core.commands.tokens import issue_token

# Its own Chromium: the async Pilot tests that run after this module need no running loop.
browser = pytest.fixture(scope="module")(own_chromium)

ATTACHED = b"<p id=x>the customer's file</p><script>document.title='ran'</script>"
FRAME_WAIT = 60_000  # ms: a spawned app imports Textual and syncs first (a deadline, not a sleep)


@dataclass
class WebHub:
    hub: HubProcess
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.hub.url

    def apps(self) -> list[int]:
        """The app processes the hub runs now (its children running `unibox --hub`)."""
        found = []
        for pid in self.hub.children():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"unibox_tui" in argv and b"--hub" in argv:
                found.append(pid)
        return found


HUB_SECRET = "a-channel-secret-only-the-hub-needs"


@pytest.fixture
def web(team: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebHub]:
    from unibox_tui.core import commands as cmd

    cmd.set_agent(team.ws, "ana", role="admin", actor=None)
    for n in range(30):  # enough conversations to fill the list on screen
        team.start(f"Question {n}", who=f"c{n}@example.com", subject=f"Order {n} is late")
    # The newest (first in the list, opened at start) carries a file a customer sent.
    note = cmd.IncomingAttachment("note.html", "text/html", len(ATTACHED), ATTACHED)
    team.start("See the file", subject="A file", at=T0 + timedelta(hours=1), attachments=(note,))
    tokens = {h: issue_token(team.ws, h) for h in ("ana", "bo", "cy")}
    team.ws.close()
    monkeypatch.setenv("UNIBOX_TEST_HUB_SECRET", HUB_SECRET)  # in the hub's environment
    hub = HubProcess(
        tmp_path / "ws.db",
        tmp_path / "hub.log",
        args=("--web", "--web-max-apps", "2", "--web-max-apps-per-agent", "1"),
    ).start()
    try:
        yield WebHub(hub, tokens)
    finally:
        hub.close()


# ------------------------------------------------------------------------ helpers


def _request(
    url: str, method: str, path: str, *, headers: dict[str, str] | None = None, body: str = ""
) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(method, path, body=body.encode() or None, headers=headers or {})
    response = conn.getresponse()
    response.text = response.read().decode("utf-8", "replace")  # type: ignore[attr-defined]
    return response


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    """name -> the whole Set-Cookie line."""
    return {
        line.split("=", 1)[0]: line
        for line in response.headers.get_all("set-cookie") or []  # type: ignore[union-attr]
    }


def sign_in(web: WebHub, token: str, *, host: str | None = None) -> http.client.HTTPResponse:
    """The sign-in form posted the way a browser does: the CSRF cookie and field from the
    page, the Origin of the page, optionally as reached at another host name."""
    host = host or urlsplit(web.url).netloc
    page = _request(web.url, "GET", "/app", headers={"Host": host})
    csrf_line = _cookies(page)["unibox_app_csrf"]
    csrf = csrf_line.split(";")[0].split("=", 1)[1]
    return _request(
        web.url,
        "POST",
        "/app/sign-in",
        headers={
            "Host": host,
            "Origin": f"http://{host}",
            "Cookie": f"unibox_app_csrf={csrf}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=f"token={token}&csrf={csrf}",
    )


def session_cookie(web: WebHub, handle: str) -> str:
    response = sign_in(web, web.tokens[handle])
    assert response.status == 303, response.status
    return _cookies(response)["unibox_app"].split(";")[0]


def open_socket(web: WebHub, cookie: str | None, origin: str | None = None) -> Any:
    headers = {"Origin": origin or web.url}
    if cookie:
        headers["Cookie"] = cookie
    ws_url = web.url.replace("http://", "ws://") + "/app/ws?width=100&height=30"
    return websockets.sync.client.connect(ws_url, additional_headers=headers, open_timeout=30)


def refused_status(web: WebHub, cookie: str | None, origin: str | None = None) -> int:
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        with open_socket(web, cookie, origin):
            pass
    return refused.value.response.status_code


TEXT_ROWS_JS = """async ([b64, left, right]) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const x0 = Math.floor(c.width * left), x1 = Math.floor(c.width * right);
  let rows = 0;
  for (let y = 0; y < c.height; y++) {
    let bright = 0;
    for (let x = x0; x < x1; x++) {
      const i = (y * c.width + x) * 4;
      if (d[i] + d[i + 1] + d[i + 2] > 360) bright++;
    }
    if (bright >= 2) rows++;
  }
  return rows / c.height;
}"""


def text_rows(browser: Any, png: bytes, left: float, right: float) -> float:
    """The share of the screenshot's pixel rows with light (text) pixels between `left` and
    `right` (fractions of its width). The PNG is decoded by Chromium, in a page of its own;
    the dim borders and backgrounds do not count."""
    context = browser.new_context()
    try:
        scratch = context.new_page()
        b64 = base64.b64encode(png).decode()
        return float(scratch.evaluate(TEXT_ROWS_JS, [b64, left, right]))
    finally:
        context.close()


def status(page: Any, web: WebHub) -> dict[str, Any]:
    return dict(page.request.get(f"{web.url}/app/status").json())


# ------------------------------------------------------------------------ tests


def test_sign_in_refuses_a_wrong_token_then_the_inbox_appears_and_ends_with_the_tab(
    web: WebHub, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{web.url}/app")
        page.fill("#token", "ubx_not-a-token-anyone-has")
        page.click("button[type=submit]")
        page.wait_for_selector("text=unknown sign-in token")
        assert page.locator("#token").is_visible()  # still the sign-in page
        assert not web.apps(), "a refused sign-in started an app"

        page.fill("#token", web.tokens["ana"])
        page.click("button[type=submit]")
        page.wait_for_selector("body.-first-byte", state="attached", timeout=FRAME_WAIT)
        apps = wait_for(
            lambda: [a for a in status(page, web)["apps"] if a["first_frame"]],
            what="the hub saw the app's first frame",
        )
        pid = apps[0]["pid"]
        assert web.apps() == [pid]

        # The token travels in the app's environment, never on its command line.
        token = web.tokens["ana"]
        assert token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"UNIBOX_TOKEN={token}".encode() in environ
        assert b"TEXTUAL_DRIVER=textual.drivers.web_driver:WebDriver" in environ
        assert not [v for v in environ if HUB_SECRET.encode() in v]  # nothing else of the hub's

        # The app is the real unibox, connected to this hub as ana, and the conversation
        # list (the middle column) is full of text: 30 rows of 44, against 1-2 (its header)
        # for an empty list, an empty terminal or a one-line error.
        wait_for(
            lambda: page.request.get(f"{web.url}/healthz").json()["agents_connected"] == 1,
            what="the browser's app connected to the hub",
            timeout=60,
        )
        shot = tmp_path / "inbox.png"

        def inbox_drawn() -> bool:
            return text_rows(browser, page.screenshot(path=str(shot)), 0.2, 0.55) > 0.25

        wait_for(inbox_drawn, what=f"the inbox filled the screen ({shot})", timeout=60)

        cookie = {c["name"]: c for c in context.cookies()}["unibox_app"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain HTTP on loopback: a Secure cookie would not return

        page.close()
        wait_for(lambda: not web.apps(), what="the app process ended with its tab")
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the hub reaped the app")
        assert token not in web.hub.log.read_text()
    finally:
        context.close()


def test_an_attachment_opens_in_the_browser_sandboxed_not_on_the_hub(
    web: WebHub, browser: Any, tmp_path: Path
) -> None:
    """In the browser app the attachment picker offers the browser (textual-serve's
    download route), not the hub machine's viewer or disk; the file is shown in a sandbox
    (a customer's HTML runs no script at the hub's origin), and only to its agent."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{web.url}/app")
        page.fill("#token", web.tokens["ana"])
        page.click("button[type=submit]")
        page.wait_for_selector("body.-first-byte", state="attached", timeout=FRAME_WAIT)
        wait_for(
            lambda: page.request.get(f"{web.url}/healthz").json()["agents_connected"] == 1,
            what="the browser's app connected to the hub",
            timeout=60,
        )
        shot = tmp_path / "attachment.png"
        wait_for(
            lambda: text_rows(browser, page.screenshot(path=str(shot)), 0.2, 0.55) > 0.25,
            what=f"the inbox filled the screen ({shot})",
            timeout=60,
        )
        page.focus(".xterm-helper-textarea")  # the keys go to the app (a click would pick a row)

        def press(key: str) -> None:
            """The key, then until the app has drawn something in answer (a key typed
            before the picker it opens is up would go to the screen under it)."""
            before = page.screenshot()
            page.keyboard.press(key)
            wait_for(lambda: page.screenshot(path=str(shot)) != before, what=f"{key} drawn")

        # A: the thread's attachments; enter: the first; enter: "Open in this browser".
        with context.expect_page(timeout=FRAME_WAIT) as opened:
            press("Shift+A")
            press("Enter")
            page.keyboard.press("Enter")
        shown = opened.value
        shown.wait_for_load_state()
        assert shown.url.startswith(f"{web.url}/download/")
        assert "the customer's file" in shown.content()
        assert shown.title() != "ran"  # the sandbox ran no script
        # Only once, and only to the agent whose app delivered it.
        again = _request(web.url, "GET", urlsplit(shown.url).path)
        assert again.status == 404
    finally:
        context.close()


def test_an_unauthenticated_request_gets_the_sign_in_page_and_spawns_nothing(
    web: WebHub,
) -> None:
    page = _request(web.url, "GET", "/app")
    assert page.status == 200
    assert "unibox_app" not in _cookies(page)  # no session without a token
    text = page.text  # type: ignore[attr-defined]
    assert 'name="token"' in text and "/app/ws" not in text

    assert _request(web.url, "GET", "/app/status").status == 401
    # The socket: no cookie, a made-up cookie, a right cookie from another site's page.
    assert refused_status(web, None) == 403
    assert refused_status(web, "unibox_app=made-up") == 403
    ana = session_cookie(web, "ana")
    assert refused_status(web, ana, origin="http://evil.example") == 403
    # A post without the page's CSRF field (a cross-site form) signs no one in.
    forged = _request(
        web.url,
        "POST",
        "/app/sign-in",
        headers={"Origin": web.url, "Content-Type": "application/x-www-form-urlencoded"},
        body=f"token={web.tokens['ana']}",
    )
    assert forged.status == 403 and "unibox_app" not in _cookies(forged)
    assert not web.apps()


def test_sign_in_attempts_from_one_address_are_limited(web: WebHub) -> None:
    """Ten sign-in posts a minute per address; then even the right token waits."""
    for _ in range(10):
        assert sign_in(web, "unibox_wrong-token").status == 401
    refused = sign_in(web, web.tokens["ana"])
    assert refused.status == 429
    assert "Too many sign-in attempts; try again in" in refused.text  # type: ignore[attr-defined]
    assert "unibox_app" not in _cookies(refused) and not web.apps()


def test_the_session_cookie_is_secure_off_loopback(web: WebHub) -> None:
    """Reached under another name than a loopback one (a TLS proxy in front), the cookie is
    Secure; on loopback it is not (a browser would not send it back over plain HTTP)."""
    local = _cookies(sign_in(web, web.tokens["ana"]))["unibox_app"].lower()
    remote = _cookies(sign_in(web, web.tokens["ana"], host="hub.example.com"))["unibox_app"]
    for line in (local, remote.lower()):
        assert "httponly" in line and "samesite=strict" in line and "path=/" in line
    assert "secure" not in local.replace("samesite", "")
    assert re.search(r";\s*secure", remote.lower())


def test_app_processes_are_capped_per_agent_and_in_total(web: WebHub, browser: Any) -> None:
    """The hub runs at most 1 app per agent and 2 in all (--web-max-apps-per-agent 1,
    --web-max-apps 2): a socket over the cap is refused before anything is spawned, and the
    page says why."""
    ana, bo, cy = (session_cookie(web, h) for h in ("ana", "bo", "cy"))
    with open_socket(web, ana):
        wait_for(lambda: len(web.apps()) == 1, what="ana's app started")
        assert refused_status(web, ana) == 403  # ana's second tab
        with open_socket(web, bo):
            wait_for(lambda: len(web.apps()) == 2, what="bo's app started")
            assert refused_status(web, cy) == 403  # the hub's total
            assert len(web.apps()) == 2

            context = browser.new_context()
            try:
                name, value = ana.split("=", 1)
                context.add_cookies([{"name": name, "value": value, "url": f"{web.url}/app"}])
                page = context.new_page()
                response = page.goto(f"{web.url}/app")
                assert response is not None and response.status == 429
                assert "(1)" in page.inner_text("#message")
                assert "Close one of them" in page.inner_text("#message")
            finally:
                context.close()

        # bo's tab closed: once the hub has ended its app, cy gets the place.
        def cy_opens() -> Any:
            try:
                return open_socket(web, cy)
            except websockets.exceptions.InvalidStatus:
                return None

        with wait_for(cy_opens, what="cy's app started once bo's ended"):
            wait_for(lambda: len(web.apps()) == 2, what="cy's app runs")
    wait_for(lambda: not web.apps(), what="every app ended with its socket")


def test_a_revoked_token_ends_the_session_and_its_apps(web: WebHub) -> None:
    import subprocess
    import sys

    bo = session_cookie(web, "bo")
    assert _request(web.url, "GET", "/app/status", headers={"Cookie": bo}).status == 200
    with open_socket(web, bo):
        wait_for(lambda: len(web.apps()) == 1, what="bo's app started")
        revoke = ["agent", "token", "bo", "--revoke", "--as", "ana", "--db", str(web.hub.db)]
        subprocess.run(
            [sys.executable, "-m", "unibox_tui", *revoke],
            check=True,
            capture_output=True,
        )
        wait_for(lambda: not web.apps(), what="bo's running app ended with the token")
    assert refused_status(web, bo) == 403
    page = _request(web.url, "GET", "/app", headers={"Cookie": bo})
    assert page.status == 200 and 'name="token"' in page.text  # type: ignore[attr-defined]
    assert not web.apps()


def test_without_web_the_hub_serves_no_app(served: Any) -> None:
    """`unibox hub` without --web: no /app, no sign-in page, no socket."""
    assert _request(served.hub.url, "GET", "/app").status == 404
    with pytest.raises(websockets.exceptions.InvalidStatus):
        with websockets.sync.client.connect(
            served.hub.url.replace("http://", "ws://") + "/app/ws", open_timeout=30
        ):
            pass


def test_an_app_ends_when_its_hub_is_killed(web: WebHub, browser: Any) -> None:
    """A hub killed with -9 cannot end its apps: each notices it was orphaned and exits
    (Textual's web driver only stops reading its closed stdin; the app used to live on)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{web.url}/app")
        page.fill("#token", web.tokens["ana"])
        page.click("button[type=submit]")
        apps = wait_for(
            lambda: [a for a in status(page, web)["apps"] if a["first_frame"]],
            what="the hub saw the app's first frame",
            timeout=FRAME_WAIT / 1000,
        )
        pid = apps[0]["pid"]
        assert web.hub.proc is not None
        web.hub.proc.kill()
        web.hub.proc.wait(30)

        def gone() -> bool:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return True
            return fields[0] == "Z"  # ended; waiting for init to reap it

        wait_for(gone, what="the orphaned app exited", timeout=30)
    finally:
        context.close()
