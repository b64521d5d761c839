"""The form channel's HTTP side: `GET /forms/CH` serves the form as plain HTML (no
JavaScript needed), `POST /forms/CH` takes a submission as urlencoded (the page, or a team's
own site) or JSON, and `OPTIONS /forms/CH` answers a browser's CORS preflight.

What the network sends is checked before anything is stored (DESIGN: the hub trusts nothing):
the body is read up to a size limit, the sender's address is rate limited (in memory, per
hub node), the honeypot field must be empty, a cross-site post must come from one of the
channel's allowed origins, and the fields are checked against the form's definition
(backends/form.py). Only then does `commands.submit_form` run on the hub's writer thread:
contact, conversation and ticket in one transaction, idempotent on the submission id (the
page carries one minted when it was served, so a double click or a resent page stores once).

A refused submission stores nothing and answers in the format it came in: the page again,
with what is wrong beside each field (HTML), or `{"error": ..., "problems": {...}}` (JSON).
Every value a page shows is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .rate_limit import peer

if TYPE_CHECKING:
    from .server import Hub

MAX_BODY = 256 * 1024  # bytes of one submission (the fields hold at most 100,000 characters)
RATE_LIMIT = 10  # submissions per address per minute (RateLimiter's window), unless the channel says otherwise
CHANNEL_TTL = 2.0  # seconds a channel's definition is reused before it is read again
HONEYPOT = "_homepage"  # a field people never see (hidden by CSS); bots fill it in.
# (A form's own field names start with a letter: backends/form.py, so these never clash.)
SUBMISSION = "_submission"  # the page's own submission id (hidden field)
_RESERVED = {HONEYPOT, SUBMISSION}
_CORS_MAX_AGE = "600"


class Refused(Exception):
    """A submission turned away: HTTP status, one line, and problems per field."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or {}
        self.values = values or {}  # what the customer typed, shown again on the page


@dataclass
class _Form:
    """A form channel as the endpoint needs it."""

    adapter: Any  # backends.form.FormChannel
    name: str
    origins: frozenset[str]
    rate_limit: int
    read_at: float


def routes(hub: Hub) -> list[Any]:
    from starlette.routing import Route

    endpoint = FormEndpoint(hub)
    return [Route("/forms/{channel}", endpoint.handle, methods=["GET", "POST", "OPTIONS"])]


class FormEndpoint:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.limiter = hub.rate_limiter("forms")
        self._forms: dict[str, tuple[_Form | None, float]] = {}

    # ----------------------------------------------------------------------- the channel

    async def form(self, channel_id: str) -> _Form | None:
        """The enabled form channel with this id, or None (read at most every CHANNEL_TTL,
        so a changed or disabled form takes effect within seconds)."""
        now = time.monotonic()
        cached = self._forms.get(channel_id)
        if cached is not None and now - cached[1] < CHANNEL_TTL:
            return cached[0]
        found = await self.hub._read(_load_form, self.hub.ws, channel_id, now)
        if len(self._forms) > 1000:  # unknown ids probed: forget them all
            self._forms.clear()
        self._forms[channel_id] = (found, now)
        return found

    # ----------------------------------------------------------------------- dispatch

    async def handle(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        channel_id = request.path_params["channel"]
        form = await self.form(channel_id) if _plausible_id(channel_id) else None
        if form is None:
            if _wants_json(request):
                return _json(404, {"ok": False, "error": "there is no form at this address"}, {})
            return _page(404, "Form not found", "<p>There is no form at this address.</p>")
        origin = request.headers.get("origin")
        if origin == "null":
            # A privacy setting or a sandboxed frame hides the origin: like a post with none
            # (curl, a server), it proves nothing either way, and the checks below still hold.
            origin = None
        if request.method == "OPTIONS":
            return self.preflight(request, form, origin)
        if request.method == "GET":
            return _page(200, form.name, render_form(form, action=request.url.path))
        wants_json = _wants_json(request)
        cors = _cors_headers(form, origin)
        try:
            if origin is not None and not cors and not _same_origin(request, origin, self.hub):
                raise Refused(403, f"this form does not take posts from {origin[:100]}")
            wait = await self.limiter.check(
                f"{channel_id} {peer(request)}", form.rate_limit, time.monotonic()
            )
            if wait is not None:
                raise Refused(
                    429, f"too many submissions from your address; try again in {wait:.0f} s"
                )
            values, submission_id, honeypot = await _read_submission(request)
            if honeypot:
                raise Refused(400, "this submission looks automated and was not accepted")
            values, submission_id = _checked(form, values, submission_id)
            from ..core.commands.forms import submit_form
            from ..core.errors import UniboxError

            try:
                await self.hub.ingest(submit_form, self.hub.ws, channel_id, values, submission_id)
            except UniboxError as error:  # e.g. the form was disabled a moment ago
                raise Refused(400, str(error)) from None
        except Refused as refused:
            if wants_json:
                return _json(
                    refused.status,
                    {"ok": False, "error": refused.message, "problems": refused.problems},
                    cors,
                    retry=refused.status == 429,
                )
            body = _error_banner(refused.message) + render_form(
                form,
                action=request.url.path,
                values=refused.values,
                problems=refused.problems,
            )
            response = _page(refused.status, form.name, body)
            response.headers.update(cors)
            if refused.status == 429:
                response.headers["Retry-After"] = "60"
            return response
        except Exception as error:  # the store failed: say so, keep nothing half-done
            import logging

            logging.getLogger("unibox.hub").exception("form %s", channel_id)
            if wants_json:
                return _json(500, {"ok": False, "error": "the form could not be stored"}, cors)
            return PlainTextResponse(
                f"The form could not be stored ({type(error).__name__}); try again later.",
                status_code=500,
                headers=cors,
            )
        if wants_json:
            return _json(201, {"ok": True, "submission_id": submission_id}, cors)
        response = _page(200, form.name, render_thanks(form))
        response.headers.update(cors)
        return response

    def preflight(self, request: Any, form: _Form, origin: str | None) -> Any:
        from starlette.responses import Response

        headers = _cors_headers(form, origin)
        if not headers:
            return Response(status_code=403)
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": _CORS_MAX_AGE,
            }
        )
        return Response(status_code=204, headers=headers)


def _load_form(ws: Any, channel_id: str, now: float) -> _Form | None:
    from ..backends.form import FormChannel
    from ..core.errors import UniboxError

    with ws.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT id, kind, name, inbox_id, address, enabled, settings FROM channel WHERE id = ?",
            (channel_id,),
        ).first()
    if row is None or row[1] != "form" or not row[5]:
        return None
    settings = json.loads(row[6] or "{}")
    config = _Config(row[0], row[1], row[2], row[3], row[4], settings)
    try:
        adapter = FormChannel.from_channel(config)
    except UniboxError:
        return None
    origins = frozenset(
        origin for o in settings.get("allowed_origins") or () if (origin := _origin(o))
    )
    limit = settings.get("rate_limit")
    return _Form(
        adapter=adapter,
        name=row[2],
        origins=origins,
        rate_limit=int(limit) if isinstance(limit, int) and limit > 0 else RATE_LIMIT,
        read_at=now,
    )


@dataclass
class _Config:
    id: str
    kind: str
    name: str
    inbox_id: str
    address: str | None
    settings: dict[str, Any]


# --------------------------------------------------------------------------- reading


def _plausible_id(value: str) -> bool:
    return 1 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def _wants_json(request: Any) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def _read_body(request: Any) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise Refused(413, f"the submission is larger than {MAX_BODY // 1024} KB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, f"the submission is larger than {MAX_BODY // 1024} KB")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_submission(request: Any) -> tuple[dict[str, Any], str | None, bool]:
    """(field values, the submission id if one came, was the honeypot filled)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await _read_body(request)
    if ctype == "application/json":
        try:
            data = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, 'send a JSON object: {"fields": {...}} or the fields themselves')
        submission_id = data.get("submission_id")
        fields = data.get("fields")
        posted: dict[str, Any] = dict(fields) if isinstance(fields, dict) else dict(data)
        posted.pop("submission_id", None)
        honeypot = posted.pop(HONEYPOT, None) or data.get(HONEYPOT)
        if submission_id is not None and not isinstance(submission_id, str):
            raise Refused(400, "submission_id must be text")
        return posted, submission_id, bool(honeypot)
    if ctype in ("application/x-www-form-urlencoded", ""):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "the form was not sent as UTF-8") from None
        values: dict[str, Any] = {}
        for key, value in parse_qsl(text, keep_blank_values=True, max_num_fields=200):
            values[key] = value  # a repeated name: the last one counts
        submission_id = values.pop(SUBMISSION, None) or None
        honeypot = values.pop(HONEYPOT, "")
        return values, submission_id, bool(honeypot.strip())
    raise Refused(415, "send the form as application/x-www-form-urlencoded or application/json")


def _checked(
    form: _Form, values: dict[str, Any], submission_id: str | None
) -> tuple[dict[str, Any], str]:
    """The values and submission id, checked against the form before anything is written
    (the writer thread is not spent on refusals). Refused (400) with every problem."""
    from ..backends.form import InvalidSubmission
    from ..core import clock
    from ..core.errors import InvalidRequest

    submission_id = submission_id or f"web-{uuid.uuid4()}"
    try:
        form.adapter.incoming(values, submission_id, clock.utcnow())
    except InvalidSubmission as error:
        raise Refused(
            400, "Please correct the fields marked below.", error.problems, values
        ) from None
    except InvalidRequest as error:
        raise Refused(400, str(error)) from None
    return values, submission_id


# ------------------------------------------------------------------------------ CORS


def _origin(value: Any) -> str | None:
    """scheme://host[:port], lower case, or None when `value` is not an origin."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cors_headers(form: _Form, origin: str | None) -> dict[str, str]:
    if origin is None or _origin(origin) not in form.origins:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _same_origin(request: Any, origin: str, hub: Hub) -> bool:
    """A post from the hub's own page (the form it served)."""
    given = _origin(origin)
    if given is None:
        return False
    own = {_origin(str(request.base_url)), _origin(hub.public_url)}
    return given in own


# ----------------------------------------------------------------------------- pages

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b}
label{display:block;font-weight:600;margin-top:1rem}
input,textarea{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}
textarea{min-height:8rem}
.problem{color:#a00000;margin:.25rem 0}
.banner{background:#fde8e8;border:1px solid #a00000;padding:.75rem}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit}
"""

_INPUT_TYPES = {"text": "text", "email": "email", "phone": "tel"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _page(status: int, title: str, body: str) -> Any:
    from starlette.responses import HTMLResponse

    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{_e(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(
        page,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'",
            "Referrer-Policy": "same-origin",
        },
    )


def _error_banner(message: str) -> str:
    return f'<p class="banner" role="alert" id="form-error">{_e(message)}</p>'


def render_form(
    form: _Form,
    *,
    action: str,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> str:
    """The form as HTML: a label for every field, what is wrong beside it, the values the
    customer typed kept (escaped), the honeypot and a fresh submission id."""
    values = values or {}
    problems = problems or {}
    out = [f'<form method="post" action="{_e(action)}" accept-charset="utf-8">']
    if problems.get(""):
        out.append(f'<p class="problem" id="problem-form">{_e(problems[""])}</p>')
    for f in form.adapter.fields:
        fid = f"f-{f.name}"
        mark = " *" if f.required else ""
        out.append(f'<label for="{fid}">{_e(f.label)}{mark}</label>')
        problem = problems.get(f.name)
        described = ""
        if problem:
            out.append(f'<p class="problem" id="problem-{_e(f.name)}">{_e(problem)}</p>')
            described = f' aria-invalid="true" aria-describedby="problem-{_e(f.name)}"'
        value = values.get(f.name)
        value = "" if value is None or isinstance(value, dict | list) else str(value)
        required = " required" if f.required else ""
        if f.type == "long":
            out.append(
                f'<textarea id="{fid}" name="{_e(f.name)}"{required}{described}>'
                f"{_e(value)}</textarea>"
            )
        else:
            kind = _INPUT_TYPES.get(f.type, "text")
            auto = {"email": "email", "name": "name", "phone": "tel"}.get(f.name, "")
            auto = f' autocomplete="{auto}"' if auto else ""
            out.append(
                f'<input id="{fid}" type="{kind}" name="{_e(f.name)}" value="{_e(value)}"'
                f"{required}{auto}{described}>"
            )
    # People never see or reach the honeypot (off-screen, out of the tab order, hidden from
    # screen readers); form-filling bots do.
    out.append(
        f'<div class="hp" aria-hidden="true"><label for="f-{HONEYPOT}">Leave this empty'
        f'</label><input id="f-{HONEYPOT}" type="text" name="{HONEYPOT}" value="" '
        'tabindex="-1" autocomplete="off"></div>'
    )
    out.append(f'<input type="hidden" name="{SUBMISSION}" value="{uuid.uuid4()}">')
    out.append('<button type="submit">Send</button></form>')
    return "".join(out)


def render_thanks(form: _Form) -> str:
    return (
        '<p id="thanks" role="status">Thank you: we have your message and will answer by '
        "e-mail.</p>"
    )


def _json(status: int, data: dict[str, Any], cors: dict[str, str], retry: bool = False) -> Any:
    from starlette.responses import JSONResponse

    headers = dict(cors)
    headers["Cache-Control"] = "no-store"
    if retry:
        headers["Retry-After"] = "60"
    return JSONResponse(data, status_code=status, headers=headers)


def snippet(url: str, form_fields: list[Any]) -> str:
    """An HTML form a team pastes into its own site: it posts straight to the hub (the
    site's origin must be one of the channel's allowed origins)."""
    lines = [f'<form method="post" action="{_e(url)}" accept-charset="utf-8">']
    for f in form_fields:
        fid = f"unibox-{f.name}"
        required = " required" if f.required else ""
        lines.append(f'  <label for="{fid}">{_e(f.label)}</label>')
        if f.type == "long":
            lines.append(f'  <textarea id="{fid}" name="{_e(f.name)}"{required}></textarea>')
        else:
            kind = _INPUT_TYPES.get(f.type, "text")
            lines.append(f'  <input id="{fid}" type="{kind}" name="{_e(f.name)}"{required}>')
    lines.append(
        f'  <input type="text" name="{HONEYPOT}" value="" tabindex="-1" autocomplete="off" '
        'style="position:absolute;left:-10000px" aria-hidden="true">'
    )
    lines.append('  <button type="submit">Send</button>')
    lines.append("</form>")
    return "\n".join(lines)
