"""An e-mail channel's settings: what `channel.settings` (JSON) holds, with defaults.

Never the password: only `password_source` ("env:VAR", "file:/path" or "keyring"), resolved
by unibox_tui.secrets when connecting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Messages fetched, parsed and stored per transaction in a sync.
DEFAULT_BATCH = 1000

SECURITY = ("tls", "starttls", "none")
IMAP_PORTS = {"tls": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"tls": 465, "starttls": 587, "none": 25}
FORWARDED = ("original", "forwarder")  # who a forwarded mail is attributed to


@dataclass
class EmailSettings:
    imap_host: str
    username: str
    address: str  # the channel's own address (support@...)
    imap_port: int = 0  # 0: the default for `security`
    smtp_host: str = ""  # "": same as imap_host
    smtp_port: int = 0
    security: str = "tls"
    smtp_security: str = ""  # "": same as `security`
    smtp_username: str = ""  # "": same as `username`
    password_source: str = "keyring"
    folder: str = "INBOX"
    # Sender
    reply_from: str = ""  # "": the channel address
    sender_name: str = "agent_and_company"  # agent_and_company | company | agent
    company: str = ""
    signature: str = ""  # {{agent.name}} / {{agent.first_name}} are replaced
    # Receiving
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    attachment_limit_mb: float = 25.0
    forwarded: str = "original"
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def from_dict(cls, data: dict[str, Any], address: str | None = None) -> EmailSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if address and not values.get("address"):
            values["address"] = address
        values.setdefault("address", values.get("username", ""))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def imap_port_value(self) -> int:
        return self.imap_port or IMAP_PORTS.get(self.security, 993)

    @property
    def smtp_security_value(self) -> str:
        return self.smtp_security or self.security

    @property
    def smtp_host_value(self) -> str:
        return self.smtp_host or self.imap_host

    @property
    def smtp_port_value(self) -> int:
        return self.smtp_port or SMTP_PORTS.get(self.smtp_security_value, 465)

    @property
    def from_address(self) -> str:
        return (self.reply_from or self.address).strip().lower()

    @property
    def attachment_limit(self) -> int:
        return int(self.attachment_limit_mb * 1024 * 1024)

    def secret_name(self) -> str:
        """The keyring entry name: stable, and never the password itself."""
        return f"email:{self.username}@{self.imap_host}"

    def sync_key(self) -> str:
        return f"imap:{self.folder}"
