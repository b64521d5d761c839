"""Chatflows as text: the TOML an admin writes, checked into the form the runner reads, and
the targeting rules that pick one for a page. No database here (commands/chatflows.py
stores them, commands/bots.py runs bots, chatflow_queries.py reads them).

A chatflow is one TOML file (`unibox chatflow show NAME` prints one; TEMPLATE below is what
`chatflow add` writes when no file is given). Every problem is reported with the line it is
on: tomllib's own for syntax, ours ("line 12: ...") for everything it cannot know, found by
locating the key in the text (`KeyLines`).

Targeting (HubSpot's rules, research/hub-and-channels.md §D): the page URL *is*, *contains*,
*starts with* or *matches* (a regular expression), query parameters, first-time or returning
visitor. Within one rule any of its values may match; all the rules given must match. Of
the enabled chatflows whose rules match, the highest `priority` wins (then the oldest).
"""

from __future__ import annotations

import difflib
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidRequest

KINDS = ("live_chat", "bot")
VISITORS = ("any", "new", "returning")
VALIDATIONS = ("email", "number", "phone")
PROPERTIES = ("name", "company", "email", "phone", "notes")
STEP_TYPES = (
    "message",
    "article",
    "question",
    "branch",
    "set_property",
    "ticket",
    "handoff",
    "end",
)
PRIORITIES = ("low", "normal", "high", "urgent")
MAX_STEPS = 200
MAX_TIMEOUT_MINUTES = 24 * 60
DEFAULT_TIMEOUT_MINUTES = 30

TOP_KEYS = ("type", "priority", "bot_name", "welcome", "session_timeout_minutes")
TABLE_KEYS = ("target", "routing", "steps")
TARGET_KEYS = ("url_is", "url_contains", "url_starts_with", "url_matches", "query", "visitor")
ROUTING_KEYS = ("to",)
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "message": ("text",),
    "article": ("article", "text"),
    "question": ("text", "options", "validate", "save_as", "property", "retry"),
    "branch": ("on", "cases", "otherwise"),
    "set_property": ("property", "value"),
    "ticket": ("title", "priority"),
    "handoff": ("to", "text"),
    "end": ("text",),
}
COMMON_STEP_KEYS = ("type", "id", "next")
CASE_KEYS = ("equals", "contains", "goto")

TEMPLATE = """\
# A chatflow: a live chat (welcome message, who gets the chat) or a bot (steps).
# `unibox chatflow edit NAME` opens this text again; it is checked when you save.
type = "bot"                 # "live_chat" or "bot"
priority = 0                 # when several chatflows match a page, the highest wins
bot_name = "Unibot"          # shown as the author of the bot's messages
welcome = "Hi! I can help you find the right person."
session_timeout_minutes = 30 # an idle bot conversation closes (counted as abandoned)

[target]                     # leave out a rule to match every page
url_contains = ["/help", "/pricing"]
# url_is = "https://example.com/"
# url_starts_with = "https://example.com/docs/"
# url_matches = "^https://example\\\\.com/(docs|help)/"
# query = { utm_source = "ads" }    # "*" means: present with any value
visitor = "any"              # "any", "new" or "returning"

[routing]                    # live chat, and a bot's hand-off without its own `to`
to = "inbox"                 # "inbox" (the inbox's routing), "team:NAME", "agent:HANDLE"

[[steps]]
id = "topic"
type = "question"
text = "What can we help you with?"
options = ["Billing", "Something else"]
save_as = "topic"

[[steps]]
type = "branch"
on = "topic"
cases = [{ equals = "Billing", goto = "email" }]
otherwise = "handoff"

[[steps]]
id = "email"
type = "question"
text = "What is your e-mail address?"
validate = "email"
property = "email"           # also saved on the contact

[[steps]]
type = "ticket"
title = "Billing question from {{answers.email}}"

[[steps]]
id = "handoff"
type = "handoff"
text = "Thanks! Connecting you to someone from the team."
"""


class ChatflowError(InvalidRequest):
    """A chatflow's text is wrong; the message names the line."""


@dataclass(frozen=True)
class Context:
    """What the widget knows about the visitor when it opens."""

    url: str = ""
    query: dict[str, str] = field(default_factory=dict)  # taken from the URL when empty
    returning: bool = False

    def params(self) -> dict[str, str]:
        if self.query:
            return self.query
        parsed = urllib.parse.urlsplit(self.url)
        return dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))


def describe_target(target: dict[str, Any]) -> str:
    """A chatflow's targeting in a few words, for lists ("contains /help; new visitors")."""
    parts = []
    for key, label in (
        ("url_is", "is"),
        ("url_contains", "contains"),
        ("url_starts_with", "starts with"),
        ("url_matches", "matches"),
    ):
        if target.get(key):
            parts.append(f"{label} {' | '.join(target[key])}")
    if target.get("query"):
        parts.append(" ".join(f"?{k}={v}" for k, v in target["query"].items()))
    if target.get("visitor"):
        parts.append(f"{target['visitor']} visitors")
    return "; ".join(parts) or "every page"


# ------------------------------------------------------------------------- locating keys


class KeyLines:
    """The line of each key of a TOML text, by path: ("steps", 2, "validate") is the
    `validate` key of the third `[[steps]]` table. Enough of TOML for the files we ask for
    (tables, arrays of tables, dotted keys in headers); a key it cannot place falls back to
    its table's header line."""

    KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[str, ...], int] = {}
        current: tuple[Any, ...] = ()
        fence: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if fence is not None:  # inside a multi-line string
                if line.count(fence) % 2 == 1:
                    fence = None
                continue
            stripped = line.strip()
            if stripped.startswith("[["):
                name = tuple(p.strip() for p in stripped[2:].split("]]")[0].split("."))
                counts[name] = counts.get(name, -1) + 1
                current = (*name, counts[name])
                self.lines.setdefault(current, number)
                self.lines.setdefault(name, number)
                continue
            if stripped.startswith("["):
                current = tuple(p.strip() for p in stripped[1:].split("]")[0].split("."))
                self.lines.setdefault(current, number)
                continue
            match = self.KEY.match(line)
            if match:
                key = match.group(1).strip("\"'")
                self.lines.setdefault((*current, key), number)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    fence = quote

    def line(self, *path: Any) -> int | None:
        """The line of `path`, else of the nearest enclosing key or table that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class _Checker:
    def __init__(self, text: str) -> None:
        self.where = KeyLines(text)

    def fail(self, path: tuple[Any, ...], message: str) -> ChatflowError:
        line = self.where.line(*path)
        return ChatflowError(f"line {line}: {message}" if line else message)

    def unknown(self, table: dict[str, Any], allowed: Iterable[str], path: tuple[Any, ...]) -> None:
        allowed = tuple(allowed)
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                where = f" in [{'.'.join(str(p) for p in path)}]" if path else ""
                raise self.fail(
                    (*path, key),
                    f"unknown key {key!r}{where}{hint}; allowed: {', '.join(allowed)}",
                )

    def text(self, table: dict[str, Any], key: str, path: tuple[Any, ...], *, need: bool) -> str:
        value = table.get(key)
        if value is None:
            if need:
                raise self.fail(path, f'{_name(path)} needs `{key} = "..."`')
            return ""
        if not isinstance(value, str):
            raise self.fail((*path, key), f"`{key}` must be text in quotes")
        if need and not value.strip():
            raise self.fail((*path, key), f"`{key}` is empty")
        return value

    def texts(self, table: dict[str, Any], key: str, path: tuple[Any, ...]) -> list[str]:
        value = table.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail((*path, key), f"`{key}` must be a text or a list of texts")
        return list(value)

    def choice(
        self, table: dict[str, Any], key: str, choices: tuple[str, ...], path: tuple[Any, ...]
    ) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if value not in choices:
            raise self.fail(
                (*path, key),
                f"`{key}` must be one of {', '.join(map(repr, choices))}, not {value!r}",
            )
        return str(value)


def _name(path: tuple[Any, ...]) -> str:
    if len(path) >= 2 and path[0] == "steps":
        return f"step {path[1] + 1}"
    return f"[{'.'.join(map(str, path))}]" if path else "the chatflow"


# ------------------------------------------------------------------------- checking


Resolver = Callable[[str, str], str | None]  # (what, ref) -> problem, or None when fine


def parse(text: str, resolve: Resolver | None = None) -> dict[str, Any]:
    """Check a chatflow's TOML and return its parsed form (plain JSON data). Raises
    ChatflowError naming the line. `resolve(what, ref)` checks names that live in the
    workspace: what is "team", "agent" or "article"; it returns a problem or None."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib says "... (at line 3, column 9)": lead with the line, like our own errors.
        message = str(e)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            message = message[: found.start()].strip()
            raise ChatflowError(
                f"line {found.group(1)}: {message} (column {found.group(2)})"
            ) from None
        if "(at end of document)" in message:
            last = len(text.splitlines()) or 1
            message = message.replace("(at end of document)", "").strip()
            raise ChatflowError(f"line {last}: {message} (at the end)") from None
        raise ChatflowError(message) from None
    check = _Checker(text)
    check.unknown(data, TOP_KEYS + TABLE_KEYS, ())
    kind = check.choice(data, "type", KINDS, ())
    if kind is None:
        raise ChatflowError('line 1: a chatflow needs `type = "live_chat"` or `type = "bot"`')
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise check.fail(("priority",), "`priority` must be a whole number")
    timeout = data.get("session_timeout_minutes", DEFAULT_TIMEOUT_MINUTES)
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise check.fail(("session_timeout_minutes",), "`session_timeout_minutes` is minutes")
    if not 1 <= timeout <= MAX_TIMEOUT_MINUTES:
        raise check.fail(
            ("session_timeout_minutes",),
            f"`session_timeout_minutes` must be 1 to {MAX_TIMEOUT_MINUTES}, not {timeout}",
        )
    spec: dict[str, Any] = {
        "type": kind,
        "priority": priority,
        "bot_name": check.text(data, "bot_name", (), need=False).strip(),
        "welcome": check.text(data, "welcome", (), need=False),
        "session_timeout_minutes": timeout,
        "target": _target(check, data.get("target", {})),
        "routing": _routing(check, data.get("routing", {}), resolve),
        "steps": [],
    }
    steps = data.get("steps", [])
    if kind == "live_chat":
        if steps:
            raise check.fail(("steps",), 'a live chat has no steps; use type = "bot" for a bot')
        return spec
    if not isinstance(steps, list) or not steps:
        raise ChatflowError(
            f"line {check.where.line('type') or 1}: a bot needs at least one [[steps]] table"
        )
    if len(steps) > MAX_STEPS:
        raise check.fail(("steps",), f"a bot has at most {MAX_STEPS} steps")
    spec["steps"] = _steps(check, steps, resolve)
    return spec


def _target(check: _Checker, table: Any) -> dict[str, Any]:
    path = ("target",)
    if not isinstance(table, dict):
        raise check.fail(path, "`target` must be a table: [target]")
    check.unknown(table, TARGET_KEYS, path)
    out: dict[str, Any] = {}
    for key in ("url_is", "url_contains", "url_starts_with", "url_matches"):
        values = check.texts(table, key, path)
        if values:
            out[key] = values
    for pattern in out.get("url_matches", []):
        try:
            re.compile(pattern)
        except re.error as e:
            raise check.fail(
                (*path, "url_matches"),
                f"`url_matches` {pattern!r} is not a regular expression: {e}",
            ) from None
    query = table.get("query")
    if query is not None:
        if not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
            raise check.fail(
                (*path, "query"), '`query` must be a table of texts: { utm_source = "ads" }'
            )
        out["query"] = dict(query)
    visitor = check.choice(table, "visitor", VISITORS, path)
    if visitor and visitor != "any":
        out["visitor"] = visitor
    return out


def _handoff_to(
    check: _Checker, value: Any, path: tuple[Any, ...], resolve: Resolver | None
) -> str:
    if not isinstance(value, str) or not (
        value in ("inbox", "unassigned") or value.startswith(("team:", "agent:"))
    ):
        raise check.fail(
            path, f'`to` is "inbox", "unassigned", "team:NAME" or "agent:HANDLE", not {value!r}'
        )
    if ":" in value:
        what, ref = value.split(":", 1)
        ref = ref.strip()
        if not ref:
            raise check.fail(path, f"`to` names no {what}")
        problem = resolve(what, ref) if resolve else None
        if problem:
            raise check.fail(path, problem)
        value = f"{what}:{ref}"
    return value


def _routing(check: _Checker, table: Any, resolve: Resolver | None) -> dict[str, Any]:
    path = ("routing",)
    if not isinstance(table, dict):
        raise check.fail(path, "`routing` must be a table: [routing]")
    check.unknown(table, ROUTING_KEYS, path)
    return {"to": _handoff_to(check, table.get("to", "inbox"), (*path, "to"), resolve)}


def _steps(check: _Checker, steps: list[Any], resolve: Resolver | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ids: dict[str, int] = {}
    for i, step in enumerate(steps):
        path = ("steps", i)
        if not isinstance(step, dict):
            raise check.fail(("steps",), "each step is a [[steps]] table")
        kind = check.choice(step, "type", STEP_TYPES, path)
        if kind is None:
            raise check.fail(path, f"step {i + 1} needs a `type`: one of {', '.join(STEP_TYPES)}")
        check.unknown(step, COMMON_STEP_KEYS + STEP_KEYS[kind], path)
        sid = step.get("id", f"step-{i + 1}")
        if not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", sid):
            raise check.fail((*path, "id"), "`id` is one word of letters, digits, - _ or .")
        if sid in ids:
            raise check.fail(
                (*path, "id"), f"step id {sid!r} is used twice (also step {ids[sid] + 1})"
            )
        ids[sid] = i
        row: dict[str, Any] = {"id": sid, "type": kind}
        if "next" in step:
            row["next"] = step["next"]
        if kind in ("message",):
            row["text"] = check.text(step, "text", path, need=True)
        elif kind == "article":
            ref = check.text(step, "article", path, need=True).strip()
            problem = resolve("article", ref) if resolve else None
            if problem:
                raise check.fail((*path, "article"), problem)
            row["article"] = ref
            row["text"] = check.text(step, "text", path, need=False)
        elif kind == "question":
            row["text"] = check.text(step, "text", path, need=True)
            options = check.texts(step, "options", path)
            validate = check.choice(step, "validate", VALIDATIONS, path)
            if options and validate:
                raise check.fail((*path, "validate"), "a question with options needs no `validate`")
            row["options"] = options
            row["validate"] = validate
            row["save_as"] = check.text(step, "save_as", path, need=False).strip() or sid
            row["property"] = check.choice(step, "property", PROPERTIES, path)
            row["retry"] = check.text(step, "retry", path, need=False)
        elif kind == "branch":
            row["on"] = check.text(step, "on", path, need=True).strip()
            cases = step.get("cases", [])
            if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
                raise check.fail(
                    (*path, "cases"), '`cases` is a list like [{ equals = "A", goto = "id" }]'
                )
            row["cases"] = []
            for case in cases:
                check.unknown(case, CASE_KEYS, (*path, "cases"))
                tests = [k for k in ("equals", "contains") if k in case]
                if len(tests) != 1 or not isinstance(case[tests[0]], str):
                    raise check.fail(
                        (*path, "cases"), "each case has one of `equals` or `contains` (a text)"
                    )
                if not isinstance(case.get("goto"), str):
                    raise check.fail((*path, "cases"), 'each case needs `goto = "step id"`')
                row["cases"].append(
                    {"test": tests[0], "value": case[tests[0]], "goto": case["goto"]}
                )
            if "otherwise" in step:
                row["otherwise"] = step["otherwise"]
        elif kind == "set_property":
            prop = check.choice(step, "property", PROPERTIES, path)
            if prop is None:
                raise check.fail(path, f"step {i + 1} needs `property`: {', '.join(PROPERTIES)}")
            row["property"] = prop
            row["value"] = check.text(step, "value", path, need=True)
        elif kind == "ticket":
            row["title"] = check.text(step, "title", path, need=False)
            row["priority"] = check.choice(step, "priority", PRIORITIES, path) or "normal"
        elif kind == "handoff":
            row["to"] = (
                _handoff_to(check, step["to"], (*path, "to"), resolve) if "to" in step else None
            )
            row["text"] = check.text(step, "text", path, need=False)
        elif kind == "end":
            row["text"] = check.text(step, "text", path, need=False)
        out.append(row)
    # Jumps name steps that exist; a branch reads an answer some question saves.
    answers = {s["save_as"] for s in out if s["type"] == "question"}
    for i, row in enumerate(out):
        path = ("steps", i)
        targets = [("next", row.get("next"))]
        if row["type"] == "branch":
            if row["on"] not in answers:
                raise check.fail(
                    (*path, "on"),
                    f"`on = {row['on']!r}` names no question's answer "
                    f"(questions save: {', '.join(sorted(answers)) or 'none'})",
                )
            targets += [("cases", c["goto"]) for c in row["cases"]]
            targets.append(("otherwise", row.get("otherwise")))
        for key, target in targets:
            if target is None:
                continue
            if not isinstance(target, str) or target not in ids:
                raise check.fail((*path, key), f"`{key}` goes to {target!r}, which is no step's id")
    return out


# ------------------------------------------------------------------------- targeting


def matches(target: dict[str, Any], context: Context) -> bool:
    """Do a chatflow's targeting rules (its parsed `target`) hold for this visitor?"""
    url = context.url or ""
    bare = url.split("#", 1)[0]
    base = bare.split("?", 1)[0]
    rules: list[tuple[str, Callable[[str], bool]]] = [
        ("url_is", lambda v: base.rstrip("/") == v.split("?", 1)[0].rstrip("/")),
        ("url_contains", lambda v: v in bare),
        ("url_starts_with", lambda v: bare.startswith(v)),
        ("url_matches", lambda v: re.search(v, bare) is not None),
    ]
    for key, test in rules:
        values = target.get(key)
        if values and not any(test(v) for v in values):
            return False
    query = target.get("query")
    if query:
        params = context.params()
        for name, wanted in query.items():
            if name not in params or (wanted != "*" and params[name] != wanted):
                return False
    visitor = target.get("visitor", "any")
    if visitor == "new" and context.returning:
        return False
    return not (visitor == "returning" and not context.returning)


def fill(template: str, answers: dict[str, str]) -> str:
    """`{{answers.NAME}}` tokens replaced by the visitor's answers (empty when unanswered)."""
    return re.sub(
        r"\{\{\s*answers\.([A-Za-z0-9_.-]+)\s*\}\}",
        lambda m: answers.get(m.group(1), ""),
        template,
    )


# ------------------------------------------------------------------------- running

# Steps one bot turn runs at most: a `next` loop with no question in it ends there (handed
# off to people), and the widget's opening stops there too.
MAX_STEPS_PER_TURN = 100
# Steps that never wait for the visitor and show nothing: a turn (and the opening) runs
# through them to the next question, hand-off or end.
SILENT_STEPS = ("set_property", "ticket")


def step_after(index: dict[str, int], step: dict[str, Any]) -> int:
    """Where the chatflow goes after `step` (not a branch): its `next`, else the step below.
    `index`: step id -> position."""
    if step.get("next"):
        return index[step["next"]]
    return index[step["id"]] + 1


def branch_to(index: dict[str, int], step: dict[str, Any], answers: dict[str, str]) -> int:
    """Where a branch step goes for these answers: the first case that holds, else its
    `otherwise`, else the step after it."""
    value = answers.get(step["on"], "")
    for case in step["cases"]:
        wanted = case["value"].lower()
        hit = value.lower() == wanted if case["test"] == "equals" else wanted in value.lower()
        if hit:
            return index[case["goto"]]
    if step.get("otherwise"):
        return index[step["otherwise"]]
    return step_after(index, step)


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_answer(step: dict[str, Any], text: str) -> tuple[str | None, str]:
    """(the answer as kept, or None when it does not do) and the line that asks again."""
    answer = text.strip()
    options = step.get("options") or []
    if options:
        by_lower = {o.lower(): o for o in options}
        if answer.lower() in by_lower:
            return by_lower[answer.lower()], ""
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1], ""
        return None, step.get("retry") or f"Please choose one of: {', '.join(options)}."
    kind = step.get("validate")
    if not answer:
        return None, step.get("retry") or step["text"]
    if kind == "email" and not EMAIL.match(answer):
        return None, step.get("retry") or "That doesn't look like an e-mail address. " + step[
            "text"
        ]
    if kind == "number":
        try:
            float(answer.replace(",", "."))
        except ValueError:
            return None, step.get("retry") or "Please answer with a number. " + step["text"]
    if kind == "phone":
        digits = re.sub(r"[\s().+-]", "", answer)
        if not digits.isdigit() or not 6 <= len(digits) <= 15:
            return None, step.get("retry") or "That doesn't look like a phone number. " + step[
                "text"
            ]
    return answer, ""
