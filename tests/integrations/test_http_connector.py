import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.connectors.http import PermanentHttpError, RetryableHttpError, post_json


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers /<status> with that status; /slow sleeps past the client's timeout."""

    seen_keys: list[str] = []

    def do_POST(self):
        self.seen_keys.append(self.headers.get("Idempotency-Key"))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/slow":
            time.sleep(1.0)
            status = 200
        elif self.path == "/not-json":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>")
            return
        else:
            status = int(self.path.strip("/"))
        body = json.dumps({"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted_server():
    ScriptedHandler.seen_keys = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_success_returns_the_body_and_sends_the_key(scripted_server):
    result = post_json(url=f"{scripted_server}/201", body={"a": 1}, idempotency_key="k-1")
    assert (result.status, result.body) == (201, {"status": 201})
    assert ScriptedHandler.seen_keys == ["k-1"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_retryable(scripted_server, status):
    with pytest.raises(RetryableHttpError, match=str(status)):
        post_json(url=f"{scripted_server}/{status}", body={}, idempotency_key="k")


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_final(scripted_server, status):
    with pytest.raises(PermanentHttpError, match=str(status)):
        post_json(url=f"{scripted_server}/{status}", body={}, idempotency_key="k")


def test_a_timeout_is_retryable(scripted_server):
    with pytest.raises(RetryableHttpError, match="timed out"):
        post_json(url=f"{scripted_server}/slow", body={}, idempotency_key="k", timeout=0.2)


def test_an_unreachable_host_is_retryable():
    with pytest.raises(RetryableHttpError, match="could not reach"):
        post_json(url="http://127.0.0.1:9/x", body={}, idempotency_key="k", timeout=1)


def test_a_non_json_success_is_final(scripted_server):
    with pytest.raises(PermanentHttpError, match="without JSON"):
        post_json(url=f"{scripted_server}/not-json", body={}, idempotency_key="k")
