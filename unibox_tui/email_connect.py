"""Connecting a team e-mail address: the one flow behind `unibox channel add email` and the
TUI's setup and settings screens.

Check the settings, test the IMAP login and the SMTP connection (unless told not to), create
the inbox if it is missing, store a typed password in the keyring, add the channel. Network
and keyring work: callers run it off the UI thread. Errors are typed (`UniboxError`) with one
line that never contains the password.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .core.db import Workspace


@dataclass
class EmailChannelRequest:
    inbox: str
    address: str
    imap_host: str
    username: str
    password_source: str  # "keyring" (the typed password is stored there), "env:VAR", "file:PATH"
    password: str | None = None  # typed (keyring); None: read from the source
    name: str | None = None
    imap_port: int | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    security: str = "tls"
    smtp_security: str | None = None
    folder: str = "INBOX"
    check: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # sender settings and filters

    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "imap_host": self.imap_host.strip(),
            "imap_port": self.imap_port or 0,
            "smtp_host": (self.smtp_host or "").strip(),
            "smtp_port": self.smtp_port or 0,
            "security": self.security,
            "smtp_security": self.smtp_security or "",
            "username": self.username.strip(),
            "folder": self.folder or "INBOX",
            **self.extra,
        }
        settings["password_source"] = self.password_source
        return settings


def connect_email(ws: Workspace, request: EmailChannelRequest, *, actor: str | None) -> str:
    """Add the channel (after checking it, unless `request.check` is off); its id."""
    from .backends.email.channel import EmailChannel
    from .backends.email.settings import EmailSettings
    from .core import commands as cmd
    from .core import queries as q
    from .core.errors import InvalidRequest
    from .secrets import resolve_secret, store_secret

    address = request.address.strip().lower()
    if "@" not in address:
        raise InvalidRequest(f"address {request.address!r} is not an e-mail address")
    cmd.check_admin(ws, actor, "add channels")  # before any connection or stored secret
    settings = EmailChannel.check_settings(request.settings(), address)
    parsed = EmailSettings.from_dict(settings, address)
    source = request.password_source
    if source == "keyring":
        if not request.password:
            raise InvalidRequest("no password given")
        password = request.password
    else:
        password = resolve_secret(parsed.secret_name(), source)
    if request.check:
        probe = EmailChannel("probe", parsed, password, "check")
        asyncio.run(probe.check())
    names = {i.name.lower() for i in q.inboxes(ws)} | {i.id for i in q.inboxes(ws)}
    if request.inbox.lower() not in names:
        cmd.create_inbox(ws, request.inbox, actor=actor)
    if source == "keyring":
        store_secret(parsed.secret_name(), password)  # before the channel: no orphan
    channel_id = cmd.add_channel(
        ws,
        inbox=request.inbox,
        kind="email",
        name=(request.name or address).strip(),
        address=address,
        settings=settings,
        actor=actor,
    )
    cmd.update_channel(ws, channel_id, status="ok" if request.check else "not checked")
    return channel_id
