"""Checkpoints reach the outbound anchor endpoint signed, retried, and each exactly once.

The endpoint is a real HTTP server on loopback that answers 503 until told to accept.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from audit.anchor_delivery import deliver_checkpoints
from audit.anchors import anchor_path
from audit.jobs import AnchorDeliveryFailed, write_audit_checkpoint
from audit.services import write_checkpoint
from tests.conftest import free_port
from tests.factories import start_order

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtYW5jaG9yLXRlc3RzLTMyYnl0ZXM="


class AnchorReceiver:
    """Answers `failures` requests with 503 (or drops the connection), then accepts."""

    def __init__(self, *, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, body))
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(receiver.status)
                    self.end_headers()
                    return
                Webhook(SECRET).verify(body, headers)
                receiver.accepted.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/anchors"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AnchorReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[AnchorReceiver]:
    with AnchorReceiver(failures=10**6) as server:
        settings.OPSCORE_AUDIT_ANCHOR_URL = server.url
        settings.OPSCORE_AUDIT_ANCHOR_SECRET = SECRET
        settings.OPSCORE_AUDIT_ANCHOR_ATTEMPTS = 2
        settings.OPSCORE_AUDIT_ANCHOR_BACKOFF_SECONDS = 0.01
        settings.OPSCORE_AUDIT_ANCHOR_TIMEOUT_SECONDS = 5
        yield server


def _deliver(url: str, *, attempts: int = 3):
    return deliver_checkpoints(
        url=url, secret=SECRET, attempts=attempts, backoff_seconds=0.01, timeout_seconds=5
    )


def test_a_failed_delivery_is_retried_on_the_next_run_and_each_checkpoint_arrives_once(
    receiver,
):
    start_order()
    first = write_checkpoint()

    # Down for the whole run: two attempts, then the task fails with the checkpoint pending.
    with pytest.raises(AnchorDeliveryFailed, match=rf"#{first.seq}: .* answered 503"):
        write_audit_checkpoint()
    assert len(receiver.requests) == 2
    assert receiver.accepted == []

    receiver.failures = 0
    start_order()
    second_seq = write_audit_checkpoint().split("#")[1].split(";")[0]
    # Both checkpoints, oldest first, each once; a run with nothing new sends nothing.
    assert [c["seq"] for c in receiver.accepted] == [first.seq, int(second_seq)]
    assert write_audit_checkpoint() == "log unchanged; delivered 0 to the anchor endpoint"
    assert len(receiver.accepted) == 2
    lines = [json.loads(line) for line in anchor_path().read_text().splitlines()]
    assert receiver.accepted == lines


def test_transient_failures_are_retried_with_backoff_under_one_delivery_id():
    with AnchorReceiver(failures=2) as server:
        start_order()
        write_checkpoint()

        report = _deliver(server.url, attempts=3)

    assert report.ok, report.error
    assert len(report.delivered) == 1
    ids = {headers["webhook-id"] for headers, _ in server.requests}
    assert len(server.requests) == 3
    assert len(ids) == 1
    assert len(server.accepted) == 1


def test_a_delivery_is_signed_for_the_endpoint_and_a_wrong_secret_does_not_verify():
    with AnchorReceiver() as server:
        start_order()
        write_checkpoint()
        assert _deliver(server.url).ok

    headers, body = server.requests[0]
    Webhook(SECRET).verify(body, headers)
    other = "whsec_" + "b3RoZXItc2VjcmV0LWZvci10aGUtYW5jaG9yLXRlc3RzLTMy"
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_an_unreachable_endpoint_leaves_the_checkpoint_pending():
    start_order()
    write_checkpoint()

    report = _deliver(f"http://127.0.0.1:{free_port()}/anchors", attempts=2)

    assert not report.ok
    assert "unreachable" in report.error
    assert (report.delivered, report.pending) == ([], 1)


def test_a_refusal_other_than_429_is_not_retried_within_the_run_but_on_the_next():
    with AnchorReceiver(failures=1, status=400) as server:
        start_order()
        write_checkpoint()

        refused = _deliver(server.url, attempts=3)
        accepted = _deliver(server.url, attempts=3)

    assert "answered 400 (attempt 1 of 3)" in refused.error
    assert len(server.requests) == 2
    assert accepted.ok
    assert len(server.accepted) == 1


def test_a_checkpoint_file_shorter_than_what_was_delivered_stops_delivery_loudly():
    with AnchorReceiver() as server:
        start_order()
        write_checkpoint()
        assert _deliver(server.url).ok
        anchor_path().write_text("")  # replaced by someone

        report = _deliver(server.url)

    assert not report.ok
    assert "was replaced or cut" in report.error
    assert len(server.requests) == 1
