"""Commands as data: one registry maps a command's name to its function and argument schema.

The CLI, the TUI and (next) the hub's wire protocol all dispatch through `run()`, so a command
can travel as `{"name": ..., "args": {...}, "id": ...}`: the arguments are validated against
the schema (read from the function's signature, so it cannot drift from the code), the command
runs in one transaction (applied whole or rejected whole), and the result says what changed
(the ids and the change number) and serialises to JSON.

Every registered command takes a required `actor` (the agent doing it) and, where it creates
something, an optional client-minted `id` (a UUIDv7 the client made offline), so a retried
command creates nothing twice.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Workspace
from ..errors import InvalidRequest, NotFound
from ..ids import is_id

# name -> (module, function). The agent-facing commands: what a person (or a script acting as
# one) may ask for. System commands (ingest, wake_due, ...) are the engine's and not here.
NAMES: dict[str, tuple[str, str]] = {
    "reply": ("conversations", "reply"),
    "comment": ("conversations", "comment"),
    "forward": ("forwarding", "forward"),
    "email_transcript": ("chat", "email_transcript"),
    "assign": ("conversations", "assign"),
    "assign_team": ("conversations", "assign_team"),
    "close": ("conversations", "close"),
    "reopen": ("conversations", "reopen"),
    "snooze": ("conversations", "snooze"),
    "mark_read": ("conversations", "mark_read"),
    "move_inbox": ("conversations", "move_inbox"),
    "merge_conversations": ("merging", "merge_conversations"),
    "bulk": ("many", "bulk"),
    "tag": ("tags", "tag"),
    "untag": ("tags", "untag"),
    "resend": ("delivery", "resend"),
    "unsend": ("conversations", "unsend"),
    "save_draft": ("drafts", "save_draft"),
    "clear_draft": ("drafts", "clear_draft"),
    "mark_sent": ("delivery", "mark_sent"),
    "create_ticket": ("tickets", "create_ticket"),
    "update_ticket": ("tickets", "update_ticket"),
    "close_ticket": ("tickets", "close_ticket"),
    "create_contact": ("contacts", "create_contact"),
    "update_contact": ("contacts", "update_contact"),
    "save_contact": ("contacts", "save_contact"),
    "add_identity": ("contacts", "add_identity"),
    "merge_contacts": ("contacts", "merge_contacts"),
    "mark_notifications_read": ("notifications", "mark_notifications_read"),
    # Administration (admins only: the commands check the actor's role).
    "create_agent": ("setup", "create_agent"),
    "set_agent": ("admin", "set_agent"),
    "set_availability": ("setup", "set_availability"),
    "deactivate_agent": ("admin", "deactivate_agent"),
    "activate_agent": ("admin", "activate_agent"),
    "create_team": ("setup", "create_team"),
    "set_team_members": ("admin", "set_team_members"),
    "remove_team": ("admin", "remove_team"),
    "create_inbox": ("setup", "create_inbox"),
    "update_inbox": ("admin", "update_inbox"),
    "rename_inbox": ("admin", "rename_inbox"),
    "set_inbox_access": ("admin", "set_inbox_access"),
    "remove_inbox": ("admin", "remove_inbox"),
    "save_snippet": ("setup", "save_snippet"),
    "delete_snippet": ("setup", "delete_snippet"),
    "save_article": ("chatflows", "save_article"),
    "remove_article": ("chatflows", "remove_article"),
    "save_chatflow": ("chatflows", "save_chatflow"),
    "set_chatflow_enabled": ("chatflows", "set_chatflow_enabled"),
    "create_pipeline": ("pipelines", "create_pipeline"),
    "set_stages": ("pipelines", "set_stages"),
    "remove_pipeline": ("pipelines", "remove_pipeline"),
    "set_inbox_pipeline": ("pipelines", "set_inbox_pipeline"),
    "set_channel_enabled": ("setup", "set_channel_enabled"),
    "set_routing": ("routing", "set_routing"),
    "set_inbox_hours": ("routing", "set_inbox_hours"),
    "remove_channel": ("setup", "remove_channel"),
    "note_new_conversations": ("notifications", "note_new_conversations"),
    "issue_token": ("tokens", "issue_token"),
    "revoke_tokens": ("tokens", "revoke_tokens"),
}
# Commands whose answer only the hub can give (a token it stores): a hub client does not run
# them on its cache first (sync/), it waits for the hub's answer.
HUB_ONLY = frozenset({"issue_token", "revoke_tokens"})
# Parameters the runner fills, never the caller's arguments (plus the actor's own parameter).
RESERVED = ("ws", "now", "id")
MAX_TEXT = 1_000_000  # characters in one string argument (a reply, a note)


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # str | int | number | bool | time | list[str] | list[pair] | dict
    required: bool
    nullable: bool  # null is a meaningful value (e.g. assign to nobody)
    default: Any = None

    def to_json(self) -> dict[str, Any]:
        default = self.default if isinstance(self.default, (str, int, bool, type(None))) else None
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "nullable": self.nullable,
            "default": default,
        }


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable[..., Any]
    args: tuple[Arg, ...]
    actor_param: str  # "actor", or "agent" for commands about the agent's own things
    takes_id: bool  # accepts a client-minted id
    doc: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "args": [a.to_json() for a in self.args],
            "takes_id": self.takes_id,
        }


@dataclass
class CommandResult:
    """What a command did: its value, the ids it touched and its change number (None when it
    changed nothing)."""

    command: str
    seq: int | None
    value: Any
    ids: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "seq": self.seq,
            "ids": self.ids,
            **_value_json(self.value),
        }


def _value_json(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"changed": value}
    if isinstance(value, str):
        return {"id": value}
    if isinstance(value, int):
        return {"count": value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return {"value": value}


_SPECS: dict[str, Spec] = {}


def spec(name: str) -> Spec:
    """The command called `name` (its schema built on first use)."""
    found = _SPECS.get(name)
    if found is not None:
        return found
    if name not in NAMES:
        raise NotFound(f"no command {name!r}; `unibox command --list` lists them")
    module, attr = NAMES[name]
    fn = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
    found = _SPECS[name] = _build(name, fn)
    return found


def specs() -> list[Spec]:
    return [spec(name) for name in sorted(NAMES)]


def _type_name(hint: Any) -> tuple[str, bool]:
    """(schema type, optional) of a parameter's annotation."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(parts) < len(typing.get_args(hint))
        hint = parts[0] if len(parts) == 1 else hint
        origin = typing.get_origin(hint)
    if hint is str:
        return "str", optional
    if hint is bool:
        return "bool", optional
    if hint is int:
        return "int", optional
    if hint is float:
        return "number", optional
    if hint is datetime:
        return "time", optional
    if origin in (list, Iterable, tuple) or hint in (list, tuple):
        inner = typing.get_args(hint)
        if inner and typing.get_origin(inner[0]) is tuple:
            return "list[pair]", optional
        return "list[str]", optional
    if origin is dict or hint is dict:
        return "dict", optional
    raise TypeError(f"no schema type for {hint!r}")


def _build(name: str, fn: Callable[..., Any]) -> Spec:
    hints = typing.get_type_hints(fn)
    params = inspect.signature(fn).parameters
    actor_param = "actor" if "actor" in params else "agent"
    if actor_param not in params:
        raise TypeError(f"command {name} takes no actor")
    args = []
    for p in params.values():
        if p.name in RESERVED or p.name == actor_param:
            continue
        kind, optional = _type_name(hints[p.name])
        required = p.default is inspect.Parameter.empty
        args.append(Arg(p.name, kind, required, optional, None if required else p.default))
    doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
    return Spec(name, fn, tuple(args), actor_param, "id" in params, doc)


def _coerce(arg: Arg, value: Any) -> Any:
    what = f"argument {arg.name!r}"
    if value is None:
        if not arg.nullable:
            raise InvalidRequest(f"{what} cannot be null")
        return None
    if arg.type == "str":
        if not isinstance(value, str):
            raise InvalidRequest(f"{what} must be a string")
        if len(value) > MAX_TEXT:
            raise InvalidRequest(f"{what} is longer than {MAX_TEXT:,} characters")
        return value
    if arg.type == "bool":
        if not isinstance(value, bool):
            raise InvalidRequest(f"{what} must be true or false")
        return value
    if arg.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"{what} must be a whole number")
        return value
    if arg.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidRequest(f"{what} must be a number")
        return float(value)
    if arg.type == "time":
        if isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise InvalidRequest(f"{what} must be an ISO 8601 time with a zone")
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidRequest(f"{what}: cannot read the time {value!r}") from e
        if when.tzinfo is None:
            raise InvalidRequest(f"{what} needs a time zone (e.g. 2026-12-01T09:00Z)")
        return when
    if arg.type == "list[str]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InvalidRequest(f"{what} must be a list of strings")
        return list(value)
    if arg.type == "list[pair]":
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, str) for x in v)
            for v in value
        ):
            raise InvalidRequest(f"{what} must be a list of [kind, value] pairs")
        return [tuple(v) for v in value]
    if arg.type == "dict":
        if not isinstance(value, dict):
            raise InvalidRequest(f"{what} must be an object")
        return value
    raise InvalidRequest(f"{what}: unsupported type {arg.type}")


def validate(s: Spec, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments checked against the schema: unknown, missing or ill-typed ones are
    refused with one line naming them."""
    if not isinstance(args, dict):
        raise InvalidRequest(f"the arguments of {s.name} must be an object")
    known = {a.name: a for a in s.args}
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise InvalidRequest(
            f"{s.name} takes no argument {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(known) or 'none'}"
        )
    out = {}
    for arg in s.args:
        if arg.name in args:
            out[arg.name] = _coerce(arg, args[arg.name])
        elif arg.required:
            raise InvalidRequest(f"{s.name} needs the argument {arg.name!r}")
    return out


def run(
    ws: Workspace,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    actor: str,
    id: str | None = None,
    now: datetime | None = None,
) -> CommandResult:
    """Validate and run one command as `actor`; `id` is a client-minted id for what it creates.

    On a hub client's cache (`ws.remote`, sync/client.py) the command goes to the hub: it is
    applied to the cache at once and sent as a mutation."""
    remote = ws.remote
    if remote is not None and not remote.applying():
        validate(spec(name), {} if args is None else args)  # refuse bad input before queueing
        return remote.run(name, args, actor=actor, id=id, now=now)  # type: ignore[no-any-return]
    s = spec(name)
    values = validate(s, {} if args is None else args)
    if not actor:
        raise InvalidRequest(f"{name} needs an acting agent")
    values[s.actor_param] = actor
    if id is not None:
        if not s.takes_id:
            raise InvalidRequest(f"{name} creates nothing and takes no id")
        if not is_id(id):
            raise InvalidRequest(f"id {id!r} is not a UUID")
        values["id"] = id
    if now is not None and "now" in inspect.signature(s.fn).parameters:
        values["now"] = now
    before = ws.last_write_seq()
    value = s.fn(ws, **values)
    seq = ws.last_write_seq()
    changed = seq if seq != before else None
    return CommandResult(name, changed, value, _ids(value, values))


def call(ws: Workspace, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run the call `fn(ws, *args, **kwargs)` through the registry when `fn` is a registered
    command (validated like any command from the wire; returns its value), else directly (a
    composite step made of registered commands, or a command that needs no actor, such as
    `init_workspace`). How the CLI and the TUI call commands written as Python calls."""
    name = getattr(fn, "__name__", "")
    where = NAMES.get(name)
    if where is None or getattr(fn, "__module__", "").rsplit(".", 1)[-1] != where[0]:
        return fn(ws, *args, **kwargs)
    s = spec(name)
    bound = dict(inspect.signature(fn).bind(ws, *args, **kwargs).arguments)
    bound.pop("ws")
    actor = bound.pop(s.actor_param)
    if actor is None:  # the system itself (a workspace being set up): no agent to check
        return fn(ws, *args, **kwargs)
    extra = {key: bound.pop(key) for key in ("id", "now") if key in bound}
    return run(ws, name, bound, actor=actor, **extra).value


def _ids(value: Any, values: dict[str, Any]) -> list[str]:
    """The ids a command touched: the one it created, else those it was given."""
    ids = []
    if isinstance(value, str):
        ids.append(value)
    for attr in ("message_id", "conversation_id"):
        got = getattr(value, attr, None)
        if isinstance(got, str) and got not in ids:
            ids.append(got)
    for key in ("conversation_id", "ticket_id", "contact_id", "keep_id", "merge_id"):
        got = values.get(key)
        if isinstance(got, str) and got not in ids:
            ids.append(got)
    return ids


def describe() -> list[dict[str, Any]]:
    """Every command's schema, for `unibox command --list` and the hub's handshake."""
    return [s.to_json() for s in specs()]
