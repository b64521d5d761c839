"""Typed errors with messages a person can act on. The CLI prints `str(error)` on one line."""

from __future__ import annotations


class UniboxError(Exception):
    """Base: a request that cannot be done, with a one-line reason and what to do."""

    exit_code = 1


class NotFound(UniboxError):
    pass


class InvalidRequest(UniboxError):
    pass


class NoAccess(UniboxError):
    pass


class WorkspaceError(UniboxError):
    """The database file itself is the problem (corrupt, newer, locked, unwritable)."""


class LaterFailed(WorkspaceError):
    """A write a batch queued (core/postgres.Later) failed when it was sent: the batch is
    rolled back whole, and applied again with every write sent at once."""


class ConfigError(UniboxError):
    pass


class SecretError(UniboxError):
    pass


class Stale(InvalidRequest):
    """A guarded command refused because what it was decided on changed meanwhile (another
    agent replied, the customer wrote again, someone took the conversation): the app shows
    what changed and lets the agent decide again."""
