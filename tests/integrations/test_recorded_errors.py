"""A remote error body is recorded scrubbed of secrets and bounded: in the dead letter's
last error and in the (uneditable) log."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit.models import Event
from integrations.connectors.http import PermanentHttpError, post_json
from opscore.scrubbing import RECORDED_TEXT_MAX
from tests.factories import start_order
from tests.workflows.drain import drain_executions
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
API_KEY = "opk_0badf00d_c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3OA"
PASSWORD = "hunter2-carrier"


class LeakyCarrier(BaseHTTPRequestHandler):
    """Refuses every request with a long body that repeats the caller's credentials."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (
            f"bad request; we saw Authorization: Bearer {BEARER} and key {API_KEY}; "
            f"retry at https://ops:{PASSWORD}@carrier.invalid/v2 " + "x" * 20_000
        ).encode()
        self.send_response(422)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def leaky_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), LeakyCarrier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/shipments"
    server.shutdown()


def assert_clean(text: str) -> None:
    for secret in (BEARER, API_KEY, PASSWORD):
        assert secret not in text
    assert "[redacted]" in text
    assert len(text) <= RECORDED_TEXT_MAX


def test_a_refusal_body_is_scrubbed_and_bounded_in_the_error(leaky_url):
    with pytest.raises(PermanentHttpError) as refused:
        post_json(url=leaky_url, body={}, idempotency_key="k-1")
    assert_clean(str(refused.value))


@pytest.mark.django_db
def test_a_dead_letter_records_the_remote_body_scrubbed(leaky_url, settings):
    settings.OPSCORE_CARRIER_URL = leaky_url
    order = start_order(value=10, weight_kg=1)
    drain_executions()
    dead = Execution.objects.get(instance_id=order.pk, step="dispatch.execute")
    assert dead.status == ExecutionStatus.DEAD
    assert "422" in dead.last_error
    assert_clean(dead.last_error)
    recorded = Event.objects.get(type="execution.dead", instance_id=order.pk)
    assert_clean(json.dumps(recorded.payload))
