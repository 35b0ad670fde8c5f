"""A stand-in payments API on loopback, for the demo and the tests.

It behaves like a payment provider that honours `Idempotency-Key`: the first request with a
key makes a payment; a repeat returns the same payment with `Idempotent-Replayed: true`. It
counts every request per key, so a test can prove an invoice was paid once.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class PaymentsLedger:
    delay_seconds: float = 0.0
    fail_suppliers: set[str] = field(default_factory=set)
    requests_by_key: Counter = field(default_factory=Counter)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pay(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        with self.lock:
            self.requests_by_key[key] += 1
            if key in self.payments:
                return 200, self.payments[key], True
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if body.get("supplier") in self.fail_suppliers:
            return 503, {"error": "payment backend unavailable"}, False
        with self.lock:
            payment = self.payments.setdefault(
                key,
                {
                    "payment_id": f"PAY-{uuid.uuid4().hex[:12].upper()}",
                    "invoice": body.get("invoice", ""),
                    "amount": body.get("amount", ""),
                    "currency": body.get("currency", ""),
                },
            )
        return 201, payment, False

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "payments": len(self.payments),
                "requests": sum(self.requests_by_key.values()),
                "keys": len(self.requests_by_key),
                "repeated_keys": sum(1 for n in self.requests_by_key.values() if n > 1),
            }


def _handler(ledger: PaymentsLedger) -> type[BaseHTTPRequestHandler]:
    class PaymentsHandler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any], replayed: bool = False) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            # The caller may have died mid-request (a killed worker); its retry gets a replay.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/stats":
                self._reply(200, ledger.stats())
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            key = self.headers.get("Idempotency-Key")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._reply(400, {"error": "body is not JSON"})
                return
            if self.path.rstrip("/") != "/payments":
                self._reply(404, {"error": "not found"})
            elif not key:
                self._reply(400, {"error": "Idempotency-Key header is required"})
            else:
                self._reply(*ledger.pay(key, body))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return PaymentsHandler


class PaymentsSandbox:
    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, ledger: PaymentsLedger | None = None
    ):
        self.ledger = ledger or PaymentsLedger()
        self.server = ThreadingHTTPServer((host, port), _handler(self.ledger))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/payments"

    def start(self) -> PaymentsSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
