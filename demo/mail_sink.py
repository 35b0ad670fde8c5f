"""The demo's local SMTP server: every message it receives is kept as a ReceivedMail."""

from __future__ import annotations

import logging
import queue
import threading
import time

from aiosmtpd.controller import Controller
from django.db import OperationalError, connection

from demo.services import record_received_mail

logger = logging.getLogger(__name__)

STORE_ATTEMPTS = 30


class AcceptEveryMessage:
    """aiosmtpd handler: accepts every message for every recipient and hands it on.

    It answers 250 at once and leaves the storing to a writer thread: a sender that mails from
    inside its own transaction (the deadline sweeper does) may hold SQLite's write lock until
    the answer comes, so storing before answering would wait on the sender that waits on us.
    """

    def __init__(self, inbox: queue.Queue) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope) -> str:
        self.inbox.put(
            (
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content or b"",
            )
        )
        return "250 Message accepted for delivery"


def _store(envelope_from: str, recipients: list[str], content: bytes) -> None:
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            mail = record_received_mail(
                envelope_from=envelope_from, recipients=recipients, content=content
            )
        except OperationalError as error:  # the database busy or restarting: try again
            logger.warning("mail not stored yet (attempt %s): %s", attempt, error)
            connection.close()
            time.sleep(1)
            continue
        finally:
            # A sink receives little: no connection is held between messages, so none
            # outlives a database restart (or a test's database).
            connection.close()
        logger.info("mail received", extra={"mail": mail.pk, "subject": mail.subject})
        return
    logger.error("mail from %s to %s dropped: the database refused it", envelope_from, recipients)


class MailSink:
    """An SMTP server on loopback, run in threads of this process."""

    def __init__(self, *, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.inbox: queue.Queue = queue.Queue()
        self.controller = Controller(AcceptEveryMessage(self.inbox), hostname=host, port=port)
        self.writer = threading.Thread(target=self._write, name="mail-sink-writer", daemon=True)

    def _write(self) -> None:
        while (message := self.inbox.get()) is not None:
            _store(*message)

    def start(self) -> MailSink:
        self.writer.start()
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening, then store what was accepted before returning."""
        self.controller.stop()
        self.inbox.put(None)
        self.writer.join(timeout=30)
