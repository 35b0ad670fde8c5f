import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.connectors.http import (
    PermanentHttpError,
    RetryableHttpError,
    post_json,
    shared_client,
)


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


class KeepAliveHandler(BaseHTTPRequestHandler):
    """Answers 200 over HTTP/1.1 keep-alive, noting the client port of each request."""

    protocol_version = "HTTP/1.1"
    client_ports: list[int] = []

    def do_POST(self):
        self.client_ports.append(self.client_address[1])
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def keep_alive_server():
    KeepAliveHandler.client_ports = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_calls_in_one_process_reuse_one_client_and_its_connection(keep_alive_server):
    client = shared_client()
    first = post_json(url=f"{keep_alive_server}/a", body={}, idempotency_key="k-1")
    second = post_json(url=f"{keep_alive_server}/b", body={}, idempotency_key="k-2")

    assert shared_client() is client
    # One TCP connection (and, over TLS, one handshake) served both calls.
    assert first.body["port"] == second.body["port"]
    assert KeepAliveHandler.client_ports == [first.body["port"]] * 2


def test_threads_share_the_client_safely(keep_alive_server):
    results: list[int] = []

    def call(number: int) -> None:
        result = post_json(url=f"{keep_alive_server}/t", body={}, idempotency_key=f"t-{number}")
        results.append(result.status)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert results == [200] * 8
    assert len(KeepAliveHandler.client_ports) == 8


def test_a_forked_process_builds_its_own_client_and_leaves_the_parents(keep_alive_server):
    parent_client = shared_client()
    parent_port = post_json(url=f"{keep_alive_server}/p", body={}, idempotency_key="p-1")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            own = shared_client()
            result = post_json(url=f"{keep_alive_server}/c", body={}, idempotency_key="c-1")
            report = {"own_client": own is not parent_client, "port": result.body["port"]}
            os.write(writer, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child = json.loads(pipe.read() or "{}")
    os.waitpid(pid, 0)

    assert child["own_client"] is True
    assert child["port"] != parent_port.body["port"]
    # The child's exit closed nothing of the parent's: its connection still serves it.
    again = post_json(url=f"{keep_alive_server}/p", body={}, idempotency_key="p-2")
    assert shared_client() is parent_client
    assert again.body["port"] == parent_port.body["port"]
