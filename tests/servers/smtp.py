"""A real SMTP server (aiosmtpd) on 127.0.0.1 whose answers a test can script.

`server.script(["451 4.3.0 Try again later", None])` makes the next DATA answers a 451 and
then an accept (`None`); after the script runs out every message is accepted. `"drop"`
closes the connection without an answer (a server dying mid-send). `"stall"` stores the
message, sets `server.handler.stalled`, and answers 250 only after `server.release()` (a
slow server, for killing the client while it waits). Accepted messages are kept in
`server.messages` with their envelope.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .dovecot import PASSWORD, free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class ScriptedHandler:
    script: list[str | None] = field(default_factory=list)
    messages: list[Received] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stalled: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.attempts += 1
            answer = self.script.pop(0) if self.script else None
        if answer == "drop":
            assert session.peer is not None
            server.transport.close()  # type: ignore[union-attr]
            return "421 closing"  # never reaches the client: the transport is gone
        if answer is not None and answer != "stall":
            return answer
        with self.lock:
            self.messages.append(
                Received(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content or b""),
                )
            )
        if answer == "stall":  # stored; the answer waits
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait, 120)
        return "250 2.0.0 Ok: queued"


class SmtpServer:
    """AUTH PLAIN/LOGIN is offered (over plain text: it is loopback) and optional; any user
    name with the shared test PASSWORD logs in. `logins` records who did."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.handler = ScriptedHandler()
        self.controller: Controller | None = None
        self.logins: list[str] = []

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and data.password.decode() == PASSWORD:
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=False,
        )
        self.controller.start()

    def release(self) -> None:
        """Let a stalled answer go."""
        self.handler.released.set()

    def stop(self) -> None:
        self.release()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def script(self, answers: list[str | None]) -> None:
        with self.handler.lock:
            self.handler.script = list(answers)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.script = []
            self.handler.messages.clear()
            self.handler.attempts = 0

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
