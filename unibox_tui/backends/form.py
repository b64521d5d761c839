"""The form channel's adapter: a submitted dict of fields -> one `Incoming` (backends/base.py).

A form channel's settings list its fields: `{"fields": [{"name": "email", "type": "email",
"required": true}, ...]}`. A submission is checked against them (required fields present,
a valid e-mail address, sizes within limits, no unknown fields) and becomes a message from
the contact with that address whose text shows every field, one per line. The submission id
(ours, minted by the hub or the page) is the message's external id, so a doubled post is
stored once. Forms cannot send: replies go out by the inbox's e-mail channel
(core/answering.py); the customer's answer by e-mail threads back onto the conversation.

The HTTP endpoint arrives with the hub; `commands.submit_form` is what it calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.commands import Incoming
from ..core.errors import InvalidRequest
from . import registry
from .base import AdapterContext, ChannelAdapter, ChannelConfig

# Field types and the most characters a value of each may hold.
FIELD_TYPES = {"text": 1_000, "long": 20_000, "email": 254, "phone": 40}
MAX_FIELDS = 50
MAX_TOTAL = 100_000  # characters of all values together
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A practical address check: one @, no spaces or control characters, a dotted domain.
_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,63}$"
)
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,40}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

DEFAULT_FIELDS = (
    {"name": "name", "type": "text", "required": False},
    {"name": "email", "type": "email", "required": True},
    {"name": "message", "type": "long", "required": True},
)


class InvalidSubmission(InvalidRequest):
    """A submission that does not fit its form. `problems` maps a field name (or "" for the
    whole submission) to what is wrong, for a web page to show beside each field."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        parts = [f"{name}: {text}" if name else text for name, text in problems.items()]
        super().__init__("the form submission is not valid: " + "; ".join(parts))


@dataclass(frozen=True)
class FormField:
    name: str
    type: str = "text"
    required: bool = False

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required}


def parse_field_spec(spec: str) -> FormField:
    """`name[:type[:required]]` as the CLI takes it, e.g. `order_number:text:required`."""
    parts = [p.strip() for p in spec.split(":")]
    if not parts[0] or len(parts) > 3:
        raise InvalidRequest(f"--field {spec!r}: write it as name[:type[:required]]")
    name = parts[0].lower()
    kind = parts[1].lower() if len(parts) > 1 and parts[1] else "text"
    flag = parts[2].lower() if len(parts) > 2 else ""
    if flag not in ("", "required", "optional"):
        raise InvalidRequest(f"--field {spec!r}: the third part is 'required' or 'optional'")
    return _checked(FormField(name, kind, flag == "required"))


def _checked(field: FormField) -> FormField:
    if not _NAME.match(field.name):
        raise InvalidRequest(
            f"form field name {field.name!r}: use a-z, 0-9 and _, starting with a letter "
            "(at most 40)"
        )
    if field.type not in FIELD_TYPES:
        raise InvalidRequest(
            f"form field {field.name!r}: type must be one of {', '.join(FIELD_TYPES)} "
            f"(got {field.type!r})"
        )
    return field


def fields_of(settings: dict[str, Any]) -> list[FormField]:
    """The form's fields from its settings, checked."""
    raw = settings.get("fields")
    if raw is None:
        raw = list(DEFAULT_FIELDS)
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("a form needs a list of fields")
    if len(raw) > MAX_FIELDS:
        raise InvalidRequest(f"a form has at most {MAX_FIELDS} fields")
    fields = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidRequest("each form field needs a name")
        fields.append(
            _checked(
                FormField(
                    str(item["name"]).lower(),
                    str(item.get("type") or "text").lower(),
                    bool(item.get("required", False)),
                )
            )
        )
    names = [f.name for f in fields]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InvalidRequest(f"form field names must differ: {', '.join(doubled)}")
    emails = [f for f in fields if f.type == "email"]
    if not emails:
        raise InvalidRequest(
            "a form needs a field of type email (replies go to that address), "
            "e.g. --field email:email:required"
        )
    if not emails[0].required:
        raise InvalidRequest(f"the form's e-mail field {emails[0].name!r} must be required")
    return fields


class FormChannel(ChannelAdapter):
    kind = "form"
    rules = registry.rules("form")

    def __init__(self, channel_id: str, name: str, fields: list[FormField]) -> None:
        self.channel_id = channel_id
        self.name = name
        self.fields = fields

    @classmethod
    def check_settings(cls, settings: dict[str, Any], address: str | None) -> dict[str, Any]:
        settings = super().check_settings(settings, address)
        settings["fields"] = [f.to_dict() for f in fields_of(settings)]
        origins = settings.get("allowed_origins") or []
        if not isinstance(origins, list):
            raise InvalidRequest("allowed origins must be a list of URLs")
        settings["allowed_origins"] = list(dict.fromkeys(origin_of(o) for o in origins))
        limit = settings.get("rate_limit")
        if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 100_000):
            raise InvalidRequest("the rate limit is a number of submissions a minute, 1-100000")
        return settings

    @classmethod
    def from_channel(
        cls, channel: ChannelConfig, context: AdapterContext | None = None
    ) -> FormChannel:
        return cls(channel.id, channel.name, fields_of(channel.settings))

    # --- receiving -------------------------------------------------------------------------
    def incoming(self, values: dict[str, Any], submission_id: str, now: datetime) -> Incoming:
        """Check a submission and turn it into the message that starts its conversation.
        Raises InvalidSubmission (every problem at once) or InvalidRequest."""
        if not isinstance(submission_id, str) or not _SUBMISSION_ID.match(submission_id):
            raise InvalidRequest(
                "a form submission needs an id of 1-128 letters, digits or . _ : -"
            )
        if not isinstance(values, dict):
            raise InvalidSubmission({"": "the fields must be a table of names and values"})
        known = {f.name: f for f in self.fields}
        problems: dict[str, str] = {}
        unknown = sorted(str(k) for k in values if k not in known)
        if unknown:
            problems[""] = f"this form has no field {', '.join(repr(u)[:60] for u in unknown[:5])}"
        clean: dict[str, str] = {}
        total = 0
        for field in self.fields:
            text, problem = _value(field, values.get(field.name))
            if problem:
                problems[field.name] = problem
            elif text:
                clean[field.name] = text
                total += len(text)
        if total > MAX_TOTAL:
            problems[""] = f"the submission is over {MAX_TOTAL:,} characters"
        if problems:
            raise InvalidSubmission(problems)
        email_field = next(f for f in self.fields if f.type == "email")
        address = clean[email_field.name].lower()
        return Incoming(
            channel_id=self.channel_id,
            identity_kind="email",
            identity_value=address,
            contact_name=_contact_name(clean),
            body=render(self.fields, clean),
            created_at=now,
            subject=clean.get("subject") or self.name,
            external_id=f"form:{submission_id}",
            meta={"form": {"submission_id": submission_id, "fields": clean}},
        )


def origin_of(url: Any) -> str:
    """A site's origin (scheme://host[:port]) from a URL, for CORS: the team's own site may
    post to the form. Raises InvalidRequest for anything else."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"allowed origin {str(url)[:100]!r}: give the site's address, e.g. "
            "https://www.example.com"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidRequest(
            f"allowed origin {url[:100]!r}: only scheme, host and port (e.g. "
            "https://www.example.com), no path"
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def _value(field: FormField, raw: Any) -> tuple[str, str | None]:
    """(the value as text, None) or ("", what is wrong)."""
    if raw is None:
        text = ""
    elif isinstance(raw, bool):
        text = "yes" if raw else "no"
    elif isinstance(raw, int | float | str):
        text = str(raw)
    else:
        return "", "must be text"
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if _CONTROL.search(text):
        return "", "holds control characters"
    if field.type != "long":
        text = " ".join(text.split())  # one line
    if not text:
        return "", ("required" if field.required else None)
    limit = FIELD_TYPES[field.type]
    if len(text) > limit:
        return "", f"at most {limit:,} characters (got {len(text):,})"
    if field.type == "email" and not _EMAIL.match(text):
        return "", "not a valid e-mail address"
    if field.type == "phone" and not _PHONE.match(text):
        return "", "not a phone number"
    return text, None


def _contact_name(values: dict[str, str]) -> str:
    if values.get("name"):
        return values["name"]
    parts = [values.get(k, "") for k in ("first_name", "last_name")]
    return " ".join(p for p in parts if p)


def render(fields: list[FormField], values: dict[str, str]) -> str:
    """Every field of the form, one per line in the form's order (empty ones as "—");
    a long answer starts on its own line."""
    lines = []
    for field in fields:
        value = values.get(field.name, "")
        if field.type == "long" and value:
            lines.append(f"{field.label}:")
            lines.extend(value.split("\n"))
            lines.append("")
        else:
            lines.append(f"{field.label}: {value or '—'}")
    return "\n".join(lines).rstrip() + "\n"
