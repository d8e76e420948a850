"""Sending mail, and the suppression list: the one way every mail goes out.

`deliver` skips an address on the suppression list, hands the message to SMTP, and when the
receiving side refuses that address for good (an SMTP 5xx for the recipient or the message) puts
the address on the list and reports the mail as not sent: retrying a permanent refusal only earns
the service a poor reputation. Temporary failures (4xx, a server that is down or hangs) raise, so
the outbox tries again with back-off. Refusals that say nothing about the address (our sender,
our login, STARTTLS) also raise: they are the operator's to fix, not the reader's.

Admins see the list on the dashboard's Mail page and may take an address off it (`unsuppress`).
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation.config import MailSettings
from moderation.models import SuppressedAddress
from moderation.runtime import metrics
from moderation.services import Context
from moderation.storage.db import Database

log = logging.getLogger(__name__)


def normalise(address: str) -> str:
    """The form addresses are kept in: the bare address, trimmed, lower-case."""
    return (email.utils.parseaddr(address)[1] or address).strip().lower()


def is_suppressed(session: Session, address: str) -> bool:
    """Whether no mail may go to `address` (compared without case)."""
    return session.get(SuppressedAddress, normalise(address)) is not None


def suppress(session: Session, ctx: Context, address: str, reason: str) -> bool:
    """Put `address` on the list (inside the caller's write); False when it already was."""
    key = normalise(address)
    if session.get(SuppressedAddress, key) is not None:
        return False
    try:
        with session.begin_nested():  # another worker may suppress it at the same moment
            session.add(SuppressedAddress(email=key, reason=reason[:2000], created_at=ctx.clock()))
    except IntegrityError:
        return False
    return True


def unsuppress(session: Session, address: str) -> bool:
    """Take `address` off the list (inside the caller's write); False when it was not on it."""
    result = cast(
        CursorResult[Any],
        session.execute(
            delete(SuppressedAddress).where(SuppressedAddress.email == normalise(address))
        ),
    )
    return bool(result.rowcount)


def suppressed(session: Session, limit: int = 200) -> list[SuppressedAddress]:
    """The suppressed addresses, the most recent first."""
    query = select(SuppressedAddress).order_by(
        SuppressedAddress.created_at.desc(), SuppressedAddress.email
    )
    return list(session.scalars(query.limit(limit)))


def send(mail: MailSettings, message: EmailMessage, to: str) -> None:
    """Hand `message` to the configured SMTP server (STARTTLS and login when configured)."""
    sender = email.utils.parseaddr(mail.sender)[1] or mail.sender
    with smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=mail.timeout) as smtp:
        if mail.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if mail.username:
            smtp.login(mail.username, mail.password)
        smtp.send_message(message, from_addr=sender, to_addrs=[to])


def permanent_refusal(exc: Exception, to: str) -> str | None:
    """The reason ("550 no such user") when `exc` is a permanent refusal of `to` or of the message
    to it, else None (temporary, or not about the address)."""
    text: bytes | str
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = {normalise(k): v for k, v in exc.recipients.items()}
        code, text = refused.get(normalise(to), (0, b""))
    elif isinstance(exc, smtplib.SMTPDataError):
        code, text = exc.smtp_code, exc.smtp_error
    else:  # the sender, the login, HELO, STARTTLS, the connection: not the address's fault
        return None
    if not 500 <= int(code) < 600:
        return None
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()


def deliver(database: Database, ctx: Context, message: EmailMessage, to: str) -> bool:
    """Send `message` to `to` unless the address is suppressed. True when it was handed over.

    A permanent refusal suppresses the address and returns False (the caller is done with this
    mail); any other failure raises, for the outbox to try again later. Runs outside any write.
    """
    with database.read() as session:
        if is_suppressed(session, to):
            log.info("mail to %s not sent: the address is on the suppression list", to)
            metrics.MAILS.labels("suppressed").inc()
            return False
    try:
        send(ctx.settings.mail, message, to)
    except smtplib.SMTPException as exc:
        reason = permanent_refusal(exc, to)
        if reason is None:
            metrics.MAILS.labels("failed").inc()
            raise
        with database.write() as tx:
            suppress(tx, ctx, to, reason)
        log.warning("mail to %s refused for good (%s); the address is suppressed", to, reason)
        metrics.MAILS.labels("refused").inc()
        return False
    except OSError:  # no connection (refused, timed out, unreachable): the outbox tries again
        metrics.MAILS.labels("failed").inc()
        raise
    metrics.MAILS.labels("sent").inc()
    return True
