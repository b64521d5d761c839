"""Forms over HTTP against a real `unibox hub` process: the page filled in real Chromium,
JSON posts, every bad submission refused (4xx, nothing stored), CORS for the team's own
site, and the agent's view of what arrived."""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from servers.hub import HubProcess, free_port
from waiting import wait_for

from unibox_tui.core import commands as cmd
from unibox_tui.core.commands.tokens import issue_token
from unibox_tui.core.db import open_workspace
from unibox_tui.hub.forms_http import MAX_BODY, snippet
from unibox_tui.sync.client import HubClient


class Site:
    """The team's own web site: a real HTTP server on another origin serving given pages."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path, "<p>none</p>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class FormHub:
    hub: HubProcess
    form: str  # allows the site's origin
    closed_form: str  # allows no other site
    strict_form: str  # two submissions a minute per address
    site: Site
    tokens: dict[str, str]
    tmp: Path

    def url(self, form: str | None = None) -> str:
        return f"{self.hub.url}/forms/{form or self.form}"

    def stored(self, form: str | None = None) -> int:
        """Conversations the hub's database holds for the form."""
        with sqlite3.connect(self.hub.db) as con:
            return int(
                con.execute(
                    "SELECT count(*) FROM conversation c JOIN message m "
                    "ON m.conversation_id = c.id WHERE m.channel_id = ?",
                    (form or self.form,),
                ).fetchone()[0]
            )

    def totals(self) -> tuple[int, ...]:
        with sqlite3.connect(self.hub.db) as con:
            return tuple(
                int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in ("contact", "conversation", "message", "ticket")
            )


@pytest.fixture
def forms(team, tmp_path: Path) -> Iterator[FormHub]:  # type: ignore[no-untyped-def]
    site = Site()
    ws = team.ws
    cmd.set_agent(ws, "ana", role="admin", actor=None)
    fields = [
        {"name": "name", "type": "text", "required": False},
        {"name": "email", "type": "email", "required": True},
        {"name": "subject", "type": "text", "required": False},
        {"name": "message", "type": "long", "required": True},
    ]
    cmd.update_channel(
        ws,
        team.form,
        settings={"fields": fields, "allowed_origins": [site.origin], "rate_limit": 1000},
    )
    closed = cmd.add_channel(ws, "Support", "form", "Closed form", settings={"rate_limit": 1000})
    strict = cmd.add_channel(ws, "Support", "form", "Strict form", settings={"rate_limit": 2})
    tokens = {"ana": issue_token(ws, "ana")}
    ws.close()
    hub = HubProcess(tmp_path / "ws.db", tmp_path / "hub.log").start()
    try:
        yield FormHub(hub, team.form, closed, strict, site, tokens, tmp_path)
    finally:
        hub.close()
        site.close()


def post(url: str, body: bytes, ctype: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": ctype, **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def post_json(url: str, data: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    status, _headers, body = post(url, json.dumps(data).encode(), "application/json", **headers)
    return status, json.loads(body)


def options(url: str, origin: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


# ------------------------------------------------------------------------- the page


def test_a_form_filled_in_chromium_reaches_the_agent_as_conversation_and_ticket(
    forms: FormHub, page: Any
) -> None:
    page.goto(forms.url())
    # Every field has a label a person (and a screen reader) finds it by.
    page.get_by_label("Name").fill("Dana <Ortiz> & Co")
    page.get_by_label("Email *").fill("dana@customer.example")
    page.get_by_label("Subject").fill("Where is <my> order?")
    page.get_by_label("Message *").fill("It was due on Monday.\n<b>Still nothing</b> & no mail.")
    # The honeypot is there but not for people: off-screen and out of the tab order.
    trap = page.locator("input[name=_homepage]")
    box = trap.bounding_box()
    assert box is None or box["x"] + box["width"] <= 0
    assert trap.get_attribute("tabindex") == "-1"
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#thanks")
    assert forms.stored() == 1

    ana = HubClient(forms.hub.url, forms.tokens["ana"], directory=forms.tmp / "cache-ana")
    replica = ana.open()
    try:

        def arrived() -> Any:
            with replica.read() as conn:
                return conn.exec_driver_sql(
                    "SELECT c.id, c.subject, c.ticket_id, c.channel_kind, ct.name, m.body "
                    "FROM conversation c JOIN contact ct ON ct.id = c.contact_id "
                    "JOIN message m ON m.conversation_id = c.id "
                    "WHERE c.channel_kind = 'form' AND m.kind = 'incoming'"
                ).first()

        row = wait_for(arrived, what="ana's app got the submission")
        _id, subject, ticket, kind, name, body = row
        assert (subject, kind, name) == ("Where is <my> order?", "form", "Dana <Ortiz> & Co")
        assert ticket, "the submission opened a ticket"
        assert "Email: dana@customer.example" in body
        assert "<b>Still nothing</b> & no mail." in body  # stored as typed, not as HTML
        with replica.read() as conn:
            stage = conn.exec_driver_sql(
                "SELECT pipeline, stage FROM ticket WHERE id = ?", (ticket,)
            ).one()
        assert all(stage)
    finally:
        ana.close()


def test_the_page_shows_what_was_typed_escaped(forms: FormHub, page: Any) -> None:
    """A refused page shows the customer's values again: as text, never as markup."""
    page.goto(forms.url())
    page.get_by_label("Name").fill('"><script>window.pwned=1</script>')
    page.get_by_label("Email *").fill("not-an-address")
    page.get_by_label("Message *").fill("</textarea><b id=injected>x</b>")
    page.evaluate("document.querySelector('form').noValidate = true")
    with page.expect_response(forms.url()) as answer:
        page.get_by_role("button", name="Send").click()
    assert answer.value.status == 400
    assert page.locator("#problem-email").inner_text() == "not a valid e-mail address"
    assert page.locator("#injected").count() == 0
    assert page.evaluate("window.pwned") is None
    assert page.get_by_label("Name").input_value() == '"><script>window.pwned=1</script>'
    assert page.get_by_label("Message *").input_value() == "</textarea><b id=injected>x</b>"
    assert forms.stored() == 0


@pytest.mark.parametrize("case", ["missing", "email", "honeypot", "too-large"])
def test_bad_submissions_from_the_page_are_refused_and_store_nothing(
    forms: FormHub, page: Any, case: str
) -> None:
    before = forms.totals()
    page.goto(forms.url())
    page.evaluate("document.querySelector('form').noValidate = true")
    page.get_by_label("Email *").fill("dana@customer.example")
    page.get_by_label("Message *").fill("Hello")
    if case == "missing":
        page.get_by_label("Message *").fill("")
    elif case == "email":
        page.get_by_label("Email *").fill("dana@")
    elif case == "honeypot":
        page.evaluate("document.querySelector('input[name=_homepage]').value = 'spam.example'")
    else:
        page.evaluate(f"document.querySelector('textarea').value = 'x'.repeat({MAX_BODY + 10})")
    with page.expect_response(forms.url()) as answer:
        page.get_by_role("button", name="Send").click()
    expected = {"missing": 400, "email": 400, "honeypot": 400, "too-large": 413}[case]
    assert answer.value.status == expected
    banner = page.locator("#form-error").inner_text()
    if case == "missing":
        assert page.locator("#problem-message").inner_text() == "required"
    elif case == "email":
        assert page.locator("#problem-email").inner_text() == "not a valid e-mail address"
    elif case == "honeypot":
        assert "automated" in banner
    else:
        assert "larger than 256 KB" in banner
    assert page.locator("#thanks").count() == 0
    assert forms.totals() == before


def test_over_the_rate_limit_the_page_says_so(forms: FormHub, page: Any) -> None:
    for n in range(2):
        page.goto(forms.url(forms.strict_form))
        page.get_by_label("Email *").fill(f"p{n}@customer.example")
        page.get_by_label("Message *").fill("Hello")
        page.get_by_role("button", name="Send").click()
        page.wait_for_selector("#thanks")
    page.goto(forms.url(forms.strict_form))
    page.get_by_label("Email *").fill("p3@customer.example")
    page.get_by_label("Message *").fill("Hello")
    with page.expect_response(forms.url(forms.strict_form)) as answer:
        page.get_by_role("button", name="Send").click()
    assert answer.value.status == 429
    assert answer.value.headers["retry-after"]
    assert "too many submissions" in page.locator("#form-error").inner_text()
    assert forms.stored(forms.strict_form) == 2


def test_a_page_resent_is_stored_once(forms: FormHub, page: Any) -> None:
    """The page carries its submission id: the same page posted twice is one submission."""
    page.goto(forms.url())
    page.get_by_label("Email *").fill("dana@customer.example")
    page.get_by_label("Message *").fill("Hello")
    form = page.evaluate(
        "Object.fromEntries(new FormData(document.querySelector('form')).entries())"
    )
    body = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in form.items()).encode()
    for _ in range(2):
        status, _h, _b = post(forms.url(), body, "application/x-www-form-urlencoded")
        assert status == 200
    assert forms.stored() == 1


# ------------------------------------------------------------------------------ JSON


def test_json_submissions_and_their_errors(forms: FormHub) -> None:
    url = forms.url()
    good = {"email": "eve@customer.example", "message": "Hi", "name": "Eve"}
    status, answer = post_json(url, {"fields": good, "submission_id": "site-1"})
    assert (status, answer) == (201, {"ok": True, "submission_id": "site-1"})
    status, _ = post_json(url, {"fields": good, "submission_id": "site-1"})  # a retry
    assert status == 201
    status, _ = post_json(url, {**good, "submission_id": "site-2"})  # flat fields
    assert status == 201
    assert forms.stored() == 2
    before = forms.totals()

    status, answer = post_json(url, {"email": "eve@customer.example"})
    assert status == 400 and answer["problems"] == {"message": "required"}
    status, answer = post_json(url, {"email": "eve@", "message": "x"})
    assert status == 400 and answer["problems"] == {"email": "not a valid e-mail address"}
    status, answer = post_json(url, {"email": "e@customer.example", "message": "x", "x": 1})
    assert status == 400 and "no field 'x'" in answer["problems"][""]
    status, answer = post_json(url, {**good, "_homepage": "http://spam.example"})
    assert status == 400 and "automated" in answer["error"]
    status, answer = post_json(url, {**good, "message": "x" * (MAX_BODY + 1)})
    assert status == 413 and "larger than" in answer["error"]
    status, answer = post_json(url, ["not", "an", "object"])
    assert status == 400 and answer["ok"] is False
    status, _h, body = post(url, b"{not json", "application/json")
    assert status == 400 and b"not valid JSON" in body
    status, _h, body = post(url, b"<x/>", "text/xml")
    assert status == 415
    assert forms.totals() == before

    strict = forms.url(forms.strict_form)
    assert [post_json(strict, good)[0] for _ in range(3)] == [201, 201, 429]


def test_unknown_and_disabled_forms_are_404(forms: FormHub) -> None:
    status, _h, _body = post(f"{forms.hub.url}/forms/nope", b"{}", "application/json")
    assert status == 404
    good = {"email": "eve@customer.example", "message": "Hi"}
    assert post_json(forms.url(forms.closed_form), good)[0] == 201
    ws = open_workspace(forms.hub.db)  # an admin disables it on the hub's file
    try:
        cmd.set_channel_enabled(ws, forms.closed_form, False)
    finally:
        ws.close()
    wait_for(
        lambda: post_json(forms.url(forms.closed_form), good)[0] == 404,
        what="the disabled form is gone",
    )
    assert forms.stored(forms.closed_form) == 1


# ------------------------------------------------------------------------------ CORS


def test_cors_preflight_from_an_allowed_and_a_refused_origin(forms: FormHub) -> None:
    status, headers = options(forms.url(), forms.site.origin)
    assert status == 204
    assert headers["access-control-allow-origin"] == forms.site.origin
    assert "POST" in headers["access-control-allow-methods"]
    status, headers = options(forms.url(forms.closed_form), forms.site.origin)
    assert status == 403 and "access-control-allow-origin" not in headers
    status, headers = options(forms.url(), "https://evil.example")
    assert status == 403 and "access-control-allow-origin" not in headers


def test_the_teams_site_posts_with_fetch_and_with_the_snippet(forms: FormHub, page: Any) -> None:
    from unibox_tui.backends.form import DEFAULT_FIELDS, FormField

    fields = [FormField(f["name"], f["type"], f["required"]) for f in DEFAULT_FIELDS]
    forms.site.pages["/contact"] = "<!doctype html><title>Acme</title>" + snippet(
        forms.url(), fields
    )
    forms.site.pages["/closed"] = "<!doctype html><title>Acme</title>" + snippet(
        forms.url(forms.closed_form), fields
    )
    page.goto(f"{forms.site.origin}/contact")
    script = """async (url) => {
        try {
            const r = await fetch(url, {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({email: 'site@customer.example', message: 'from fetch'})});
            return [r.status, await r.json()];
        } catch (e) { return ['blocked', String(e)]; }
    }"""
    status, answer = page.evaluate(script, forms.url())
    assert status == 201 and answer["ok"] is True
    status, _ = page.evaluate(script, forms.url(forms.closed_form))
    assert status == "blocked"  # the preflight was refused: the browser never posted
    assert forms.stored(forms.closed_form) == 0

    page.get_by_label("Email").fill("snippet@customer.example")
    page.get_by_label("Message").fill("from the snippet")
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#thanks")
    assert forms.stored() == 2

    page.goto(f"{forms.site.origin}/closed")  # a plain form post from a site not allowed
    page.get_by_label("Email").fill("snippet@customer.example")
    page.get_by_label("Message").fill("from the snippet")
    with page.expect_response(forms.url(forms.closed_form)) as answer:
        page.get_by_role("button", name="Send").click()
    assert answer.value.status == 403
    assert forms.stored(forms.closed_form) == 0
