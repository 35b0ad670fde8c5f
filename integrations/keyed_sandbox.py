"""A stand-in for an outside API that honours `Idempotency-Key`, served on loopback.

The first POST with a key creates a record; a repeat returns the same record with
`Idempotent-Replayed: true`. Every request is counted per key, so a test can prove that a
step acted once however often it was retried. The carrier and payments sandboxes are this
server with their own record shapes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


@dataclass
class KeyedLedger:
    """What the stand-in API has done: one record per key, every request counted."""

    resource: ClassVar[str]  # the path it serves (/<resource>) and its name in stats
    unavailable: ClassVar[str] = "backend unavailable"
    delay_seconds: float = 0.0
    requests_by_key: Counter = field(default_factory=Counter)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The X-Request-ID of every request per key, as a real API's access log would keep it.
    request_ids: dict[str, list[str | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_record(self, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def fails(self, body: dict[str, Any]) -> bool:
        return False

    def handle(
        self, key: str, body: dict[str, Any], request_id: str | None = None
    ) -> tuple[int, dict[str, Any], bool]:
        with self.lock:
            self.requests_by_key[key] += 1
            self.request_ids.setdefault(key, []).append(request_id)
            if key in self.records:
                return 200, self.records[key], True
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.fails(body):
            return 503, {"error": self.unavailable}, False
        with self.lock:
            record = self.records.setdefault(key, self.new_record(body))
        return 201, record, False

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                self.resource: len(self.records),
                "requests": sum(self.requests_by_key.values()),
                "keys": len(self.requests_by_key),
                "repeated_keys": sum(1 for n in self.requests_by_key.values() if n > 1),
            }


def _handler(ledger: KeyedLedger) -> type[BaseHTTPRequestHandler]:
    class KeyedHandler(BaseHTTPRequestHandler):
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
            if self.path.rstrip("/") != f"/{ledger.resource}":
                self._reply(404, {"error": "not found"})
            elif not key:
                self._reply(400, {"error": "Idempotency-Key header is required"})
            else:
                self._reply(*ledger.handle(key, body, self.headers.get("X-Request-ID")))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return KeyedHandler


class KeyedSandbox:
    def __init__(self, *, ledger: KeyedLedger, host: str = "127.0.0.1", port: int = 0):
        self.ledger = ledger
        self.server = ThreadingHTTPServer((host, port), _handler(ledger))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/{self.ledger.resource}"

    def start(self) -> KeyedSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
