"""SMTP out: build the reply (headers, sender name, signature, text + HTML, attachments, CC)
and send it with aiosmtplib, classifying every failure as transient or permanent.

Transient (retry with backoff): 4xx answers, refused/dropped connections, timeouts, and
problems of the channel's own configuration (login, TLS) that an admin can fix without the
message changing. Permanent (mark failed with the server's reason): a 5xx answer to the
message or to every recipient.

The hand-over: `send(..., before_data=record)` awaits `record()` just before the DATA
command, the first moment the server could take the message. A connection that breaks or
times out after that (the server may have stored it and not yet said 250) raises
`DeliveryUncertain`, never a transient error: retrying could deliver it twice. (A caller
that records no hand-over gets a transient error there, as it cannot tell anyway.)
"""

from __future__ import annotations

import html
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib

from ..base import DeliveryUncertain
from .errors import (
    AuthError,
    ChannelError,
    PermanentSendError,
    channel_error,
    default_tls_context,
)

SENDER_NAME_MODES = ("agent_and_company", "company", "agent")


@dataclass(frozen=True)
class SmtpAccount:
    host: str
    port: int
    username: str | None
    password: str | None = field(default=None, repr=False)
    security: str = "tls"  # tls (implicit, 465) | starttls (587) | none
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Sender:
    """Per-channel sender settings."""

    address: str  # the reply-from address
    company: str = ""
    name_mode: str = "agent_and_company"  # see SENDER_NAME_MODES
    signature: str = ""  # text; {{agent.name}} / {{agent.first_name}} are replaced

    def display_name(self, agent_name: str) -> str:
        agent = agent_name.strip()
        if self.name_mode == "company" or not agent:
            return self.company or agent
        if self.name_mode == "agent" or not self.company:
            return agent
        return f"{agent} from {self.company}"

    def signature_for(self, agent_name: str) -> str:
        # One rule with the composer, which shows it before sending.
        from ...core.composing import signature_for

        return signature_for(self.signature, agent_name)


@dataclass(frozen=True)
class OutgoingMail:
    """What to send; filled from the core's outbox item."""

    message_id: str  # without <>
    to: str
    to_name: str
    subject: str
    body: str
    agent_name: str
    date: datetime
    body_html: str | None = None
    cc: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    also_to: tuple[str, ...] = ()  # more To addresses the agent added
    bcc: tuple[str, ...] = ()  # in the envelope and the Sent copy; aiosmtplib strips the header
    forward: bool = False  # "Fwd:", not threaded on the customer's messages


def forward_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if subject.lower().startswith(("fwd:", "fw:")):
        return subject
    return f"Fwd: {subject}" if subject else "Fwd: a conversation"


def reply_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        return "Re: your message"
    return subject if subject.lower().startswith(("re:", "aw:", "sv:")) else f"Re: {subject}"


def _text_to_html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return (
        "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
        or "<p></p>"
    )


def build_message(mail: OutgoingMail, sender: Sender) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((sender.display_name(mail.agent_name), sender.address))
    first = formataddr((mail.to_name, mail.to)) if mail.to_name else mail.to
    also = [a for a in dict.fromkeys(a.lower() for a in mail.also_to) if a != mail.to.lower()]
    msg["To"] = ", ".join([first, *also])
    ours = {sender.address.lower(), mail.to.lower(), *also}
    cc = [c for c in dict.fromkeys(a.lower() for a in mail.cc) if c not in ours]
    if cc:
        msg["Cc"] = ", ".join(cc)
    bcc = [b for b in dict.fromkeys(a.lower() for a in mail.bcc) if b not in ours | set(cc)]
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = forward_subject(mail.subject) if mail.forward else reply_subject(mail.subject)
    msg["Date"] = format_datetime(mail.date)
    msg["Message-ID"] = f"<{mail.message_id}>"
    if mail.in_reply_to and not mail.forward:
        msg["In-Reply-To"] = f"<{mail.in_reply_to}>"
    references = list(dict.fromkeys([*mail.references, *filter(None, [mail.in_reply_to])]))
    if references and not mail.forward:
        msg["References"] = " ".join(f"<{r}>" for r in references[-20:])
    # Tell robots this is a person's answer, and ask auto-responders not to answer it (one
    # more guard against mail loops with another helpdesk).
    msg["Auto-Submitted"] = "no"
    msg["X-Auto-Response-Suppress"] = "All"

    signature = sender.signature_for(mail.agent_name)
    text = mail.body.rstrip() + (f"\n\n-- \n{signature}" if signature else "")
    msg.set_content(text)
    body_html = mail.body_html or _text_to_html(mail.body)
    if signature:
        body_html += f"<p>-- <br>{html.escape(signature).replace(chr(10), '<br>')}</p>"
    msg.add_alternative(f"<html><body>{body_html}</body></html>", subtype="html")
    for filename, content_type, data in mail.attachments:
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
        )
    return msg


def recipients(msg: EmailMessage) -> list[str]:
    from email.utils import getaddresses

    headers = msg.get_all("To", []) + msg.get_all("Cc", []) + msg.get_all("Bcc", [])
    found = getaddresses([str(v) for v in headers])
    return list(dict.fromkeys(a.lower() for _, a in found if "@" in a))


class _SMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, with a hook awaited before the DATA command."""

    before_data: Callable[[], Awaitable[None]] | None = None
    handed_over = False

    async def data(self, message: str | bytes, /, **options: object) -> aiosmtplib.SMTPResponse:
        if self.before_data is not None:
            await self.before_data()
            self.handed_over = True
        return await super().data(message, **options)  # type: ignore[arg-type]


async def send(
    account: SmtpAccount,
    msg: EmailMessage,
    envelope_from: str,
    before_data: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Send `msg` once. Raises ChannelError (transient), PermanentSendError, or
    DeliveryUncertain (the connection failed after the hand-over)."""
    rcpts = recipients(msg)
    context = None
    if account.security != "none":
        context = account.ssl_context or default_tls_context()
    client = _SMTP(
        hostname=account.host,
        port=account.port,
        use_tls=account.security == "tls",
        start_tls=account.security == "starttls",
        tls_context=context,
        timeout=account.timeout,
    )
    client.before_data = before_data
    try:
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        # A relay that offers no AUTH (a local MTA, a trusted network) takes mail as is.
        if account.username and account.password and client.supports_extension("auth"):
            await client.login(account.username, account.password)
        errors, _response = await client.send_message(msg, sender=envelope_from, recipients=rcpts)
    except aiosmtplib.SMTPAuthenticationError as error:
        raise AuthError(
            f"the SMTP server {account.host} refused the login for {account.username} "
            f"({error.code} {error.message}); check the user name and password"
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [r.code for r in error.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            raise PermanentSendError(f"refused by the server: {reason}") from None
        raise ChannelError(f"recipients deferred: {reason}") from None
    except aiosmtplib.SMTPResponseException as error:
        reason = f"{error.code} {' '.join(str(error.message).split())}"
        if 500 <= error.code < 600:
            raise PermanentSendError(f"refused by the server: {reason}") from None
        raise ChannelError(f"the server asked to try later: {reason}") from None
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as error:
        cause = error.__cause__ or error
        raise channel_error(cause, "SMTP", account.host, account.port) from None
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as error:
        if client.handed_over:
            what = (
                "did not answer in time"
                if isinstance(error, aiosmtplib.SMTPTimeoutError)
                else "closed the connection"
            )
            raise DeliveryUncertain(
                f"the SMTP server {account.host}:{account.port} {what} after it was given the "
                "reply and before it confirmed it; it may or may not have arrived. Resend it, "
                "or mark it as sent"
            ) from None
        if not isinstance(error, aiosmtplib.SMTPServerDisconnected):
            raise _before_handover(error, account) from None
        raise ChannelError(
            f"the SMTP server {account.host}:{account.port} closed the connection"
        ) from None
    except aiosmtplib.SMTPException as error:
        raise ChannelError(f"SMTP error: {' '.join(str(error).split())[:300]}") from None
    finally:
        try:
            if client.is_connected:
                await client.quit()
        except Exception:
            client.close()
    if errors:
        # Some recipients (CC) refused, the rest accepted: the message is sent; retrying
        # would duplicate it for everyone else.
        return


def _before_handover(error: BaseException, account: SmtpAccount) -> ChannelError:
    """A timeout or a network error before the hand-over: the message did not leave."""
    if isinstance(error, aiosmtplib.SMTPTimeoutError):
        return ChannelError(f"the SMTP server {account.host}:{account.port} did not answer in time")
    return channel_error(error, "SMTP", account.host, account.port)
