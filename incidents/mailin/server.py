"""The SMTP/LMTP receiver a mail server forwards intake mail to (aiosmtpd).

It accepts a recipient only if it is one of MAIL_INTAKE_ADDRESSES (550 otherwise), a message
only up to MAIL_INTAKE_MAX_BYTES (aiosmtpd advertises SIZE and answers 552 beyond it, before
anything is read into Beacon), and answers 250 only once what the message did has committed:
a database failure answers 451 and the mail server keeps the message and tries again, so
nothing is lost; a message without a usable sender answers 550 and the mail server tells its
sender. The database work runs in a worker thread (the ORM is not async).
"""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.conf import settings
from django.db import close_old_connections, connection

from .intake import receive
from .message import Unreadable

logger = logging.getLogger(__name__)


def _receive(raw: bytes, envelope_sender: str) -> str:
    """In a worker thread: act on the message with a fresh database connection each time."""
    close_old_connections()
    try:
        record = receive(raw, envelope_sender=envelope_sender)
        return f"250 2.0.0 Received: {record.get_outcome_display().lower()}"
    finally:
        connection.close()


class IntakeHandler:
    """aiosmtpd's handler: RCPT checks the address, DATA hands the message to intake.receive."""

    def __init__(self, *, lmtp: bool = False, workers: int = 4):
        self.lmtp = lmtp
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail-intake")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's API
        if address.lower() not in settings.MAIL_INTAKE_ADDRESSES:
            return "550 5.1.1 Not a Beacon intake address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        loop = asyncio.get_running_loop()
        try:
            status = await loop.run_in_executor(
                self.executor, _receive, envelope.original_content, envelope.mail_from or ""
            )
        except Unreadable as error:
            status = f"550 {error}"
        except Exception:  # noqa: BLE001 - anything else is ours: keep the message queued at the sender
            logger.exception("mail intake: could not act on a message from %s", envelope.mail_from)
            status = "451 4.3.0 Beacon could not store the message now; try again later"
        # LMTP answers DATA once per accepted recipient; the message was acted on once for all.
        return "\r\n".join([status] * len(envelope.rcpt_tos)) if self.lmtp else status


class IntakeController(Controller):
    """A thread running the receiver on host:port (SMTP, or LMTP with `lmtp=True`)."""

    def __init__(self, *, host: str, port: int, lmtp: bool = False, max_bytes: int | None = None):
        self.lmtp = lmtp
        super().__init__(
            IntakeHandler(lmtp=lmtp),
            hostname=host,
            port=port,
            data_size_limit=max_bytes or settings.MAIL_INTAKE_MAX_BYTES,
            # Bytes as received: the email package decodes them (policy=default).
            decode_data=False,
            ident="Beacon mail intake",
        )

    def factory(self):
        server_class = LMTP if self.lmtp else SMTP
        return server_class(self.handler, **self.SMTP_kwargs)

    def stop(self, no_assert: bool = False):
        super().stop(no_assert=no_assert)
        self.handler.executor.shutdown(wait=True)
