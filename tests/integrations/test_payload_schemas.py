"""JSON Schema checks of the envelope and of each event type's payload: every error named,
in the same order, on the single and the batch endpoint; a newly published schema applies
to the very next event."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from integrations.models import EventType
from tests.factories import api_key, order_received_event

pytestmark = pytest.mark.django_db

EVENTS, BATCH = "/api/v1/events", "/api/v1/events:batch"


@pytest.fixture
def key(db) -> str:
    return api_key()


def post(key: str, event: dict):
    return APIClient().post(
        EVENTS,
        json.dumps(event).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def post_batch(key: str, events: list[dict]):
    items = [{"idempotency_key": uuid.uuid4().hex, "event": event} for event in events]
    response = APIClient().post(
        BATCH,
        json.dumps({"events": items}).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 207, response.content
    return response.json()["results"]


def problems(key: str, event: dict) -> list[dict]:
    """The event's problem from the single endpoint and from a batch around a valid event."""
    single = post(key, event)
    assert single.status_code == 400, single.content
    results = post_batch(key, [order_received_event(), event])
    assert [result["status"] for result in results] == [201, 400]
    return [single.json(), results[1]["problem"]]


BAD_ENVELOPE = {
    "type": "",
    "source": 7,
    "occurred_at": True,
    "correlation_key": "x" * 201,
    "payload": [],
    "extra": 1,
}
BAD_ENVELOPE_ERRORS = [
    {
        "pointer": "",
        "detail": "Additional properties are not allowed ('extra' was unexpected)",
        "code": "additionalProperties",
    },
    {
        "pointer": "/correlation_key",
        "detail": f"'{'x' * 201}' is too long",
        "code": "maxLength",
    },
    {"pointer": "/occurred_at", "detail": "True is not of type 'string'", "code": "type"},
    {"pointer": "/payload", "detail": "[] is not of type 'object'", "code": "type"},
    {"pointer": "/source", "detail": "7 is not of type 'string'", "code": "type"},
    {"pointer": "/type", "detail": "'' should be non-empty", "code": "minLength"},
]

BAD_PAYLOAD = {
    "order_id": "",
    "customer": 5,
    "postcode": "1AB",
    "weight_kg": 0,
    "value": True,
    "email": "nobody",
    "gift": "x",
}
BAD_PAYLOAD_ERRORS = [
    {
        "pointer": "/payload",
        "detail": "Additional properties are not allowed ('gift' was unexpected)",
        "code": "additionalProperties",
    },
    {"pointer": "/payload/customer", "detail": "5 is not of type 'string'", "code": "type"},
    {"pointer": "/payload/email", "detail": "'nobody' is not a 'email'", "code": "format"},
    {"pointer": "/payload/order_id", "detail": "'' should be non-empty", "code": "minLength"},
    {
        "pointer": "/payload/postcode",
        "detail": "'1AB' does not match '^[A-Za-z]{1,2}[0-9]'",
        "code": "pattern",
    },
    {"pointer": "/payload/value", "detail": "True is not of type 'number'", "code": "type"},
    {
        "pointer": "/payload/weight_kg",
        "detail": "0 is less than or equal to the minimum of 0",
        "code": "exclusiveMinimum",
    },
]


def test_every_envelope_error_is_named_in_pointer_order_on_both_endpoints(key):
    for problem in problems(key, BAD_ENVELOPE):
        assert problem["code"] == "invalid_envelope"
        assert problem["errors"] == BAD_ENVELOPE_ERRORS
        assert problem["detail"] == "; ".join(
            f"{error['pointer'] or '/'}: {error['detail']}" for error in BAD_ENVELOPE_ERRORS[:5]
        )


def test_every_payload_error_is_named_in_pointer_order_on_both_endpoints(key):
    event = {**order_received_event(), "payload": BAD_PAYLOAD}
    for problem in problems(key, event):
        assert problem["code"] == "schema_violation"
        assert problem["errors"] == BAD_PAYLOAD_ERRORS
        assert problem["detail"] == "; ".join(
            f"{error['pointer']}: {error['detail']}" for error in BAD_PAYLOAD_ERRORS[:5]
        )


def _publish(schema: dict) -> None:
    """A new version of order.received's schema, saved as the admin form saves it."""
    event_type = EventType.objects.get(name="order.received")
    event_type.schema = schema
    event_type.save()


def test_a_newly_published_schema_applies_to_the_next_event_on_both_endpoints(key):
    # Warm every cache on the way (event type, compiled schema) with the first version.
    assert post(key, order_received_event()).status_code == 201
    assert post(key, order_received_event(gift="wrapped")).json()["errors"][0]["detail"] == (
        "Additional properties are not allowed ('gift' was unexpected)"
    )
    batch = [order_received_event(), order_received_event(gift="boxed")]
    assert [result["status"] for result in post_batch(key, batch)] == [201, 400]

    first = EventType.objects.get(name="order.received").schema
    # Looser: gift is allowed; tighter: and required.
    loosened = {**first, "properties": {**first["properties"], "gift": {"type": "string"}}}
    _publish(loosened)
    assert post(key, order_received_event(gift="wrapped")).status_code == 201
    batch = [order_received_event(gift="boxed"), order_received_event()]
    assert [result["status"] for result in post_batch(key, batch)] == [201, 201]

    _publish({**loosened, "required": [*first["required"], "gift"]})
    response = post(key, order_received_event())
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"pointer": "/payload", "detail": "'gift' is a required property", "code": "required"}
    ]
    batch = [order_received_event(gift="boxed"), order_received_event()]
    assert [result["status"] for result in post_batch(key, batch)] == [201, 400]

    _publish(first)
    assert post(key, order_received_event(gift="wrapped")).status_code == 400
    assert post(key, order_received_event()).status_code == 201
