"""pytest fixtures for real mail servers. Import them from a conftest:

    from servers.fixtures import dovecot, mailbox, smtp_server  # noqa: F401

`dovecot` is one server per test session (each test takes its own user via `mailbox`);
tests that kill or reset the server make their own `Dovecot()` and close it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from . import system
from .dovecot import PASSWORD, Dovecot, DovecotUnavailable
from .smtp import SmtpServer


def _running_dovecot() -> Iterator[Dovecot]:
    server = system.start(Dovecot, DovecotUnavailable)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from _running_dovecot()


@pytest.fixture
def fresh_dovecot() -> Iterator[Dovecot]:
    """A private server for one test: for killing it, resetting it, or failed logins (Dovecot
    slows every later login from the same address after one, so keep those apart)."""
    yield from _running_dovecot()


@dataclass
class Mailbox:
    server: Dovecot
    user: str
    password: str = PASSWORD

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:
        self.server.append(self.user, raw, folder, flags)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    return Mailbox(dovecot, dovecot.add_user())


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
