"""A real SMTP server on loopback for the approvals tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from tests.conftest import free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called with each message while its sender waits for the answer; what it returns, if
    # anything, is the answer ("451 ..." refuses the message, which is then not kept).
    on_message: Callable[[Message], str | None] | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        if self.on_message is not None:
            answer = _in_a_thread(self.on_message, message)
            if answer:
                return answer
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)


def _in_a_thread(call: Callable[[Message], str | None], message: Message) -> str | None:
    # The server's event loop is no place for the database: Django refuses synchronous
    # queries there, so the callback runs in a thread of its own, on its own connection.
    answers: list[str | None] = []

    def run() -> None:
        try:
            answers.append(call(message))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    return answers[0] if answers else "451 the test's callback failed"


# aiosmtpd logs every SMTP command at INFO; a failing test's output should show the test.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture
def smtp(settings) -> Iterator[Mailbox]:
    """Mail goes over SMTP to an aiosmtpd server on loopback; what it received is inspectable."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.OPSCORE_BASE_URL = "https://ops.example.test"
    yield mailbox
    controller.stop()


@pytest.fixture
def payments(settings):
    """A real HTTP payments provider on loopback that honours and counts Idempotency-Key."""
    from integrations.payments_sandbox import PaymentsSandbox

    sandbox = PaymentsSandbox().start()
    settings.OPSCORE_PAYMENTS_URL = sandbox.url
    yield sandbox
    sandbox.stop()
