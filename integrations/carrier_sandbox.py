"""A stand-in carrier API on loopback, for the demo and the tests.

It behaves like a carrier that honours `Idempotency-Key`: the first request with a key books
a shipment; a repeat returns the same booking with `Idempotent-Replayed: true`. It counts
every request per key, so a test can prove a step acted once.
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
class CarrierLedger:
    delay_seconds: float = 0.0
    fail_postcodes: set[str] = field(default_factory=set)
    requests_by_key: Counter = field(default_factory=Counter)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def book(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        with self.lock:
            self.requests_by_key[key] += 1
            if key in self.shipments:
                return 200, self.shipments[key], True
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if body.get("postcode") in self.fail_postcodes:
            return 503, {"error": "carrier backend unavailable"}, False
        with self.lock:
            booking = self.shipments.setdefault(
                key,
                {
                    "shipment_id": f"SHP-{uuid.uuid4().hex[:12].upper()}",
                    "carrier": body.get("carrier", ""),
                    "order": body.get("order", ""),
                },
            )
        return 201, booking, False

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "shipments": len(self.shipments),
                "requests": sum(self.requests_by_key.values()),
                "keys": len(self.requests_by_key),
                "repeated_keys": sum(1 for n in self.requests_by_key.values() if n > 1),
            }


def _handler(ledger: CarrierLedger) -> type[BaseHTTPRequestHandler]:
    class CarrierHandler(BaseHTTPRequestHandler):
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
            if self.path.rstrip("/") != "/shipments":
                self._reply(404, {"error": "not found"})
            elif not key:
                self._reply(400, {"error": "Idempotency-Key header is required"})
            else:
                self._reply(*ledger.book(key, body))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return CarrierHandler


class CarrierSandbox:
    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, ledger: CarrierLedger | None = None
    ):
        self.ledger = ledger or CarrierLedger()
        self.server = ThreadingHTTPServer((host, port), _handler(self.ledger))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/shipments"

    def start(self) -> CarrierSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
