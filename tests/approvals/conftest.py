"""A real SMTP server on loopback for the approvals tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)


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
