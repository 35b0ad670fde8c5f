"""The demo's local SMTP server: every message it receives is kept as a ReceivedMail."""

from __future__ import annotations

import logging

from aiosmtpd.controller import Controller
from asgiref.sync import sync_to_async
from django.db import connection

from demo.services import record_received_mail

logger = logging.getLogger(__name__)


def _keep(*, envelope_from: str, recipients: list[str], content: bytes) -> None:
    # One connection per message, closed after it: a sink receives little, and a connection
    # held by its worker thread would outlive a database restart (or a test's database).
    try:
        mail = record_received_mail(
            envelope_from=envelope_from, recipients=recipients, content=content
        )
    finally:
        connection.close()
    logger.info("mail received", extra={"mail": mail.pk, "subject": mail.subject})


class KeepEveryMessage:
    """aiosmtpd handler: accepts every message for every recipient and stores it."""

    async def handle_DATA(self, server, session, envelope) -> str:
        await sync_to_async(_keep)(
            envelope_from=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
            content=envelope.original_content or envelope.content or b"",
        )
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on loopback, run in a thread of this process."""

    def __init__(self, *, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.controller = Controller(KeepEveryMessage(), hostname=host, port=port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
