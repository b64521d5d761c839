"""Secrets (channel passwords, API tokens): environment variable or named file -> OS keyring
(service "unibox") -> prompt. Never written to config, database or logs.

A channel records only where its secret comes from, as a source string:
`env:VAR`, `file:/path/to/file` or `keyring` (the keyring entry is named by the channel).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .core.errors import SecretError

SERVICE = "unibox"
NO_KEYRING = (
    "no usable keyring on this machine (no desktop session?); pass the secret with "
    "--password-env VAR or --password-file FILE instead"
)


def keyring_backend_name() -> str:
    try:
        import keyring

        backend = keyring.get_keyring()
        return f"{type(backend).__module__}.{type(backend).__name__}"
    except Exception as e:  # a broken backend must not break `unibox doctor`
        return f"unavailable ({type(e).__name__})"


def store_secret(name: str, value: str) -> None:
    import keyring
    from keyring.errors import KeyringError, NoKeyringError

    try:
        keyring.set_password(SERVICE, name, value)
    except NoKeyringError as e:
        raise SecretError(NO_KEYRING) from e
    except KeyringError as e:
        raise SecretError(f"the keyring refused to store {name!r}: {type(e).__name__}") from e


def delete_secret(name: str) -> None:
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, name)
    except (PasswordDeleteError, KeyringError):
        pass  # nothing stored, or no keyring: nothing to remove


def _from_keyring(name: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError, NoKeyringError

    try:
        return keyring.get_password(SERVICE, name)
    except NoKeyringError as e:
        raise SecretError(NO_KEYRING) from e
    except KeyringError as e:
        raise SecretError(f"the keyring could not be read: {type(e).__name__}") from e


def resolve_secret(name: str, source: str, *, prompt: Callable[[str], str] | None = None) -> str:
    """The secret for `name` from `source` (`env:VAR`, `file:PATH`, `keyring`).

    With `prompt`, a secret missing from the keyring is asked for (and not stored)."""
    kind, _, where = source.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if not value:
            raise SecretError(f"environment variable {where} is not set; export it and try again")
        return value
    if kind == "file":
        try:
            value = Path(where).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretError(f"cannot read secret file {where}: {e.strerror}") from e
        if not value:
            raise SecretError(f"secret file {where} is empty")
        return value
    if kind == "keyring":
        value = _from_keyring(name)
        if value:
            return value
        if prompt is not None:
            return prompt(f"Password for {name}")
        raise SecretError(
            f"no secret for {name!r} in the keyring; add the channel again to store it"
        )
    raise SecretError(f"unknown secret source {source!r}; use env:VAR, file:PATH or keyring")
