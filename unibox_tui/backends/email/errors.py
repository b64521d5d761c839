"""Network failures as one-line, actionable messages, split into transient and permanent.

Every IMAP/SMTP failure an agent can see (the channel status, `unibox channel add`, a failed
reply) goes through `channel_error()`, so a wrong password, an unreachable host and a
certificate problem each read as one clear line instead of a traceback. Messages never
contain the password.
"""

from __future__ import annotations

import functools
import socket
import ssl

from ..base import ChannelError


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """The system CA store, loaded once (it costs ~15 ms) and shared by every connection."""
    return ssl.create_default_context()


class AuthError(ChannelError):
    """Wrong user name or password: retrying will not help until the settings change."""

    transient = False


class CertificateError(ChannelError):
    transient = False


class ConnectError(ChannelError):
    transient = True


class PermanentSendError(ChannelError):
    """The server refused the message itself (5xx): it will never be accepted as it is."""

    transient = False


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return " ".join(text.split())[:300]


def channel_error(error: BaseException, what: str, host: str, port: int) -> ChannelError:
    """Turn any exception from a connection to `host:port` into a ChannelError.

    `what` names the service ("IMAP", "SMTP") for the message.
    """
    if isinstance(error, ChannelError):
        return error
    where = f"{what} server {host}:{port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or _reason(error)
        return CertificateError(
            f"the certificate of {where} is not trusted ({detail}); check the host name or "
            "use the provider's real host"
        )
    if isinstance(error, ssl.SSLError):
        return CertificateError(
            f"TLS with {where} failed ({_reason(error)}); check --security (tls for port "
            "993/465, starttls for 143/587) and the port"
        )
    if isinstance(error, socket.gaierror):
        return ConnectError(f"cannot resolve {host!r} ({what}); check the host name")
    if isinstance(error, ConnectionRefusedError):
        return ConnectError(f"{where} refused the connection; check the host and port")
    if isinstance(error, TimeoutError | socket.timeout):
        return ConnectError(f"{where} did not answer in time; check the host, port and network")
    if isinstance(error, OSError):
        return ConnectError(f"cannot reach {where}: {_reason(error)}")
    return ChannelError(f"{where}: {_reason(error)}")
