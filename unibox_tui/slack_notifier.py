"""Posting to Slack: the events core/slack.py reads after commit, batched per webhook and
rate-limited (one post a second per webhook at most), retried with back-off on failure.

The engine runs `SlackNotifier.tick` about once a second on a worker thread (engine.py), so
embedded that is the TUI's engine and on a team hub the hub's: never the ingest path, which
only stores. Webhook URLs are resolved from their source (env/file/keyring, secrets.py) when a
post is due and live only in memory: log lines name the inbox, never the URL. Posts still
waiting when the engine stops are dropped (a notifier that starts again starts from "now":
old events are not news).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .core import slack
from .core.db import Workspace
from .core.errors import SecretError
from .secrets import resolve_secret

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class WebhookError(Exception):
    """A post that did not go through; `retry_after` when Slack said when to try again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def check_url(url: str) -> None:
    """A webhook is an https URL (plain http only to this machine, for a local relay)."""
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or local):
        raise SecretError("the Slack webhook is not an https:// URL; check its source")


def post(url: str, text: str, timeout: float = 10.0) -> None:
    """One POST of `{"text": ...}` to an incoming webhook. No `link_names`: Slack then links
    nothing it was not given as <...>, and the text escapes every < it carries."""
    check_url(url)
    body = json.dumps({"text": text}).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as e:
        retry = e.headers.get("Retry-After") if e.headers else None
        wait = float(retry) if retry and retry.isdigit() else None
        raise WebhookError(f"HTTP {e.code}", wait) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        said = f"{type(reason).__name__}: {reason}".replace(url, "<webhook>")
        raise WebhookError(said) from None


@dataclass
class _Hook:
    label: str  # inbox names, for log lines
    lines: list[str] = field(default_factory=list)
    next_at: float = 0.0
    attempts: int = 0


class SlackNotifier:
    """Reads events after commit and posts them. `tick(now)` is one round: `now` is a
    monotonic time in seconds (the engine passes time.monotonic(); tests pass their own)."""

    def __init__(
        self,
        ws: Workspace,
        *,
        log: Callable[[str], None] | None = None,
        interval: float = 1.0,
        max_batch: int = 20,
        max_attempts: int = 8,
        send: Callable[[str, str], None] = post,
    ) -> None:
        self.ws = ws
        self.log = log or (lambda _line: None)
        self.interval = interval
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.send = send
        self.cursor = slack.start(ws)
        self.hooks: dict[str, _Hook] = {}  # webhook URL -> what waits for it
        self._secret_errors: dict[str, str] = {}  # inbox id -> the last error logged

    def tick(self, now: float) -> int:
        """Read new events, post what is due; returns how many posts went through."""
        events, self.cursor = slack.collect(self.ws, self.cursor)
        if events:
            self._queue(events)
        sent = 0
        for url, hook in self.hooks.items():
            if hook.lines and now >= hook.next_at:
                sent += self._flush(url, hook, now)
        return sent

    def _queue(self, events: list[slack.Event]) -> None:
        by_inbox = {c.inbox_id: c for c in slack.configs(self.ws)}
        urls: dict[str, str | None] = {}
        for event in events:
            config = by_inbox.get(event.inbox_id)
            if config is None:
                continue
            if config.inbox_id not in urls:
                urls[config.inbox_id] = self._url(config)
            url = urls[config.inbox_id]
            if url is None:
                continue
            hook = self.hooks.setdefault(url, _Hook(config.inbox))
            if config.inbox not in hook.label.split(", "):
                hook.label += f", {config.inbox}"
            hook.lines.append(event.text)

    def _url(self, config: slack.SlackConfig) -> str | None:
        try:
            url = resolve_secret(config.secret_name, config.source)
            check_url(url)
        except SecretError as e:
            if self._secret_errors.get(config.inbox_id) != str(e):  # once, not every second
                self._secret_errors[config.inbox_id] = str(e)
                self.log(f"slack: {config.inbox}: {e}; its events are not posted")
            return None
        self._secret_errors.pop(config.inbox_id, None)
        return url

    def _flush(self, url: str, hook: _Hook, now: float) -> int:
        batch = hook.lines[: self.max_batch]
        try:
            self.send(url, "\n".join(batch))
        except (WebhookError, SecretError) as e:
            hook.attempts += 1
            if hook.attempts >= self.max_attempts:
                self.log(
                    f"slack: {hook.label}: {len(batch)} notifications dropped after "
                    f"{hook.attempts} failed posts ({e})"
                )
                del hook.lines[: len(batch)]
                hook.attempts = 0
                hook.next_at = now + self.interval
                return 0
            wait = getattr(e, "retry_after", None) or min(60.0, 2.0**hook.attempts)
            self.log(f"slack: {hook.label}: post failed ({e}); retrying in {wait:g} s")
            hook.next_at = now + wait
            return 0
        del hook.lines[: len(batch)]
        hook.attempts = 0
        hook.next_at = now + self.interval
        return 1
