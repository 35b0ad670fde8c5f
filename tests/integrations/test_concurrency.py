"""Idempotency under real concurrency: real threads, real HTTP, a real server, PostgreSQL."""

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection, transaction

from audit.models import ChainHead, Event
from integrations.models import InboundEvent
from processes.orders.models import Order
from tests.conftest import wait_until
from tests.factories import api_key, order_received_event, start_order

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]

CONCURRENCY = 50
ROUNDS = 6


def _post(client: httpx.Client, url: str, key: str, idempotency_key: str, raw: bytes):
    return client.post(
        url,
        content=raw,
        headers={
            "Authorization": f"Api-Key {key}",
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
        },
        timeout=60,
    )


def test_fifty_concurrent_requests_with_one_key_make_one_event_and_one_instance(gunicorn_url):
    key = api_key()
    url = f"{gunicorn_url}/api/v1/events"
    for round_number in range(ROUNDS):
        idempotency_key = f"round-{round_number}"
        raw = json.dumps(order_received_event()).encode()
        barrier = threading.Barrier(CONCURRENCY)

        def send(_, raw=raw, idempotency_key=idempotency_key, barrier=barrier):
            with httpx.Client() as client:
                barrier.wait()
                return _post(client, url, key, idempotency_key, raw)

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            responses = list(pool.map(send, range(CONCURRENCY)))

        statuses = Counter(response.status_code for response in responses)
        assert set(statuses) <= {201, 409}, statuses
        originals = [
            r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
        ]
        assert len(originals) == 1, statuses
        first = originals[0].json()
        assert all(r.json() == first for r in responses if r.status_code == 201)
        in_flight = [r for r in responses if r.status_code == 409]
        assert all(r.json()["code"] == "idempotency_key_in_flight" for r in in_flight)
        assert all(r.headers["Retry-After"] == "1" for r in in_flight)
        assert InboundEvent.objects.filter(idempotency_key=idempotency_key).count() == 1
        assert Order.objects.count() == round_number + 1
        assert Event.objects.filter(type="workflow.started").count() == round_number + 1

        # After the storm the key answers with the stored first response.
        with httpx.Client() as client:
            replay = _post(client, url, key, idempotency_key, raw)
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == first


def _advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        return cursor.fetchone()[0]


def test_a_key_in_flight_gets_409_then_its_first_response_and_a_changed_body_422(gunicorn_url):
    start_order()  # the chain head exists
    key = api_key()
    url = f"{gunicorn_url}/api/v1/events"
    raw = json.dumps(order_received_event()).encode()
    other = json.dumps(order_received_event()).encode()
    first: dict = {}

    with transaction.atomic():
        # Holding the log's chain head keeps the first request inside its transaction.
        ChainHead.objects.select_for_update().get(pk=1)

        def send_first():
            with httpx.Client() as client:
                first["response"] = _post(client, url, key, "slow-1", raw)

        thread = threading.Thread(target=send_first)
        thread.start()
        assert wait_until(lambda: _advisory_locks_held() == 1, timeout=20)
        with httpx.Client() as client:
            same = _post(client, url, key, "slow-1", raw)
            changed = _post(client, url, key, "slow-1", other)
        assert same.status_code == 409
        assert same.json()["code"] == "idempotency_key_in_flight"
        assert changed.status_code == 409
        assert "response" not in first
    thread.join(timeout=30)
    assert first["response"].status_code == 201

    with httpx.Client() as client:
        retry = _post(client, url, key, "slow-1", raw)
        changed = _post(client, url, key, "slow-1", other)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first["response"].json()
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"
    assert InboundEvent.objects.count() == 1
