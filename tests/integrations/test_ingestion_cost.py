"""What one event costs the database on `POST /api/v1/events`, as a web worker runs it (no test
transaction around it, caches warm).

Each statement is a round trip to PostgreSQL and work for its backend, on the machines that
also run the web workers: these bounds keep a saving from silently going away.
"""

import json
import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from processes.orders.models import Order
from tests.factories import api_key, order_received_event

# An order.received event that starts an order, for a customer seen before: the API key and
# the rate limit, the idempotency lock (PostgreSQL only) and the duplicate lookup, the
# customer's subject, the order with its history row (one statement on PostgreSQL, two on
# SQLite), the first step's execution and its queue row, the inbound row, the audit chain's
# head read and the events written with the head advanced (one statement on PostgreSQL, two
# on SQLite). It was 12 on PostgreSQL before the order and its history row went in together.
STATEMENTS = {"postgresql": 11, "sqlite": 12}


def _send(key: str, correlation_key: str):
    return APIClient().post(
        "/api/v1/events",
        json.dumps(
            order_received_event(correlation_key=correlation_key, customer="jane@example.com")
        ).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def test_one_event_costs_a_bounded_number_of_statements(live_db):
    key = api_key()
    assert _send(key, "SO-COST-WARM").status_code == 201  # caches warm, Jane's subject exists

    with CaptureQueriesContext(connection) as queries:
        response = _send(key, "SO-COST-1")

    assert response.status_code == 201, response.content
    # SQLite's engine logs its BEGIN and COMMIT; PostgreSQL's are not captured.
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    assert len(statements) <= STATEMENTS[connection.vendor], "\n".join(s[:90] for s in statements)
    order = Order.objects.get(correlation_key="SO-COST-1")
    # The order's history (admin's "History" page) starts with its creation, as on save().
    created = order.history.get()
    assert (created.history_type, created.state, created.correlation_key) == (
        "+",
        "received",
        "SO-COST-1",
    )
