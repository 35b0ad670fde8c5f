"""Real receivers for the alert tests: the approvals' SMTP sink and a webhook receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.approvals.conftest import smtp  # noqa: F401 - the same real SMTP sink
from tests.approvals.test_browser import browser_page, chromium  # noqa: F401 - Debian chromium


@dataclass
class WebhookReceiver:
    """An HTTP server on loopback that keeps every request and answers from a script."""

    url: str = ""
    secret: str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    # Each request as a Standard Webhooks receiver sees it on arrival: the verified payload,
    # or the verification error.
    verified: list[object] = field(default_factory=list)
    # Status codes to answer with, in order; 200 once they are used up.
    script: list[int] = field(default_factory=list)
    # Seconds to take before answering (a slow receiver).
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.requests)

    def payloads(self) -> list[dict]:
        """What each request carried; a request that failed verification fails the test."""
        with self.lock:
            found = list(self.verified)
        for payload in found:
            if isinstance(payload, Exception):
                raise AssertionError(f"webhook not verified: {payload}")
        return found


@pytest.fixture
def webhook_receiver(settings) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verified = Webhook(receiver.secret).verify(body, headers)
            except WebhookVerificationError as error:
                verified = error
            with receiver.lock:
                receiver.requests.append((headers, body))
                receiver.verified.append(verified)
                status = receiver.script.pop(0) if receiver.script else 200
            time.sleep(receiver.delay)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # keep the test output to the test
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/alerts"
    settings.OPSCORE_ALERT_WEBHOOK_URL = receiver.url
    settings.OPSCORE_ALERT_WEBHOOK_SECRET = receiver.secret
    yield receiver
    server.shutdown()
    server.server_close()
