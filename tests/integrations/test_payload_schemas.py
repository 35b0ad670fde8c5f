"""JSON Schema checks of the envelope and of each event type's payload: every error named,
in the same order, on the single and the batch endpoint; a newly published schema applies
to the very next event."""

import json
import uuid

import pytest
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from integrations.models import EventType
from integrations.services._schema_validators import compiled
from integrations.services.ingestion import _schema_errors
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


# (schema, value, valid): jsonschema_rs is asked first for these, and must never accept what
# jsonschema refuses; where it is the stricter, jsonschema's verdict still stands.
FAST_CASES = [
    ({"type": "number"}, True, False),
    ({"type": "integer"}, True, False),
    ({"type": "integer"}, 1.0, True),
    ({"type": "integer"}, 2**70, True),
    ({"type": "string"}, 1, False),
    ({"type": ["string", "null"]}, None, True),
    ({"maximum": 0}, True, True),
    ({"maximum": 9007199254740992}, 9007199254740993, False),
    ({"maximum": 9007199254740993}, 9007199254740992.0, True),
    ({"maximum": 2**70}, 2**70 + 1, False),
    ({"minimum": 2**63}, 2**63 - 1, False),
    ({"maximum": 1}, 1.0000000000000002, False),
    ({"exclusiveMinimum": 0}, 0.0, False),
    ({"exclusiveMinimum": 0}, -0.0, False),
    ({"exclusiveMinimum": 0}, 5e-324, True),
    ({"exclusiveMaximum": 9007199254740992.0}, 9007199254740993, False),
    ({"enum": [1]}, 1.0, True),
    ({"enum": [1]}, True, False),
    ({"enum": [2**70]}, 2**70 + 1, False),
    ({"enum": [9007199254740992.0]}, 9007199254740993, False),
    ({"const": 0}, False, False),
    ({"const": {"a": 1}}, {"a": True}, False),
    ({"const": [1]}, [1.0], True),
    ({"const": "é"}, "e\u0301", False),
    ({"minLength": 1}, "", False),
    ({"maxLength": 1}, "\U0001f600\U0001f600", False),
    ({"maxLength": 2}, "\U0001f600\U0001f600", True),
    ({"maxLength": 1}, "e\u0301", False),
    ({"maxLength": 5}, "\ud800", True),
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
    ({"additionalProperties": {"type": "string"}}, {"a": 1}, False),
    ({"required": ["a"]}, {}, False),
    ({"required": ["a"]}, [], True),
    ({"properties": {"a": {"type": "string"}}}, {"a": 1}, False),
    ({"minProperties": 1}, {}, False),
    ({"items": {"type": "string"}}, ["a", 1], False),
    ({"prefixItems": [{"type": "string"}]}, [1], False),
    ({"maxItems": 1}, [1, 2], False),
    ({"pattern": "^[A-Za-z]{1,2}[0-9]"}, "1AB", False),
    ({"pattern": "^[a-z]+$"}, "abc\n", True),
    ({"pattern": "^\\d+$"}, "\u0661\u0662", True),
    ({"pattern": "^\\w+$"}, "é", True),
    ({"pattern": "^x"}, 5, True),
    # jsonschema_rs's own regex dialect would accept these three.
    ({"pattern": "^\\W$"}, "é", False),
    ({"pattern": "^\\s$"}, "\ufeff", False),
    ({"pattern": "^\\D$"}, "\u0661", False),
    ({"format": "email"}, "nobody", False),
    ({"format": "email"}, "@", True),
    ({"format": "date"}, "0000-01-01", False),
    ({"format": "date"}, "2026-02-29", False),
    ({"format": "date"}, "2024-02-29", True),
    ({"format": "uuid"}, "{01234567-89ab-cdef-0123-456789abcdef}", False),
    ({"format": "uuid"}, "01234567-89AB-cdef-0123-456789abcdef", True),
    ({"format": "ipv4"}, "01.2.3.4", False),
    ({"$schema": "https://json-schema.org/draft/2020-12/schema", "x-subject": ["a"]}, {}, True),
]
# Outside the subset both libraries read alike: jsonschema alone decides.
REFERENCE_ONLY_CASES = [
    ({"multipleOf": 0.1}, 0.3, False),
    ({"not": {"type": "string", "pattern": "^[a-z]+$"}}, "abc\n", False),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.0, False),
    ({"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}, 1, False),
    ({"uniqueItems": True}, [1, 1.0], False),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}, 1, False),
    ({"properties": {"a": {"multipleOf": 0.1}}}, {"a": 0.3}, False),
]


def _reference_errors(schema, value) -> list[tuple[str, str, str]]:
    """What jsonschema alone says, sorted as the answer sorts it."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    return [
        ("".join(f"/{part}" for part in error.absolute_path), error.message, error.validator)
        for error in found
    ]


@pytest.mark.parametrize(
    ("schema", "value", "valid", "fast"),
    [(*case, True) for case in FAST_CASES] + [(*case, False) for case in REFERENCE_ONLY_CASES],
)
def test_a_document_gets_exactly_jsonschemas_verdict_and_errors(schema, value, valid, fast):
    assert (compiled(schema).fast is not None) is fast
    errors = _schema_errors(schema=schema, value=value, prefix="")
    assert (errors == []) is valid
    assert [(e["pointer"], e["detail"], e["code"]) for e in errors] == _reference_errors(
        schema, value
    )


def test_a_published_schema_outside_the_fast_subset_is_checked_as_strictly(key):
    first = EventType.objects.get(name="order.received").schema
    properties = {
        **first["properties"],
        "weight_kg": {"type": "number", "multipleOf": 0.1},
        "bought_on": {"type": "string", "format": "date"},
    }
    _publish({**first, "properties": properties})

    response = post(key, order_received_event(weight_kg=0.3))
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "pointer": "/payload/weight_kg",
            "detail": "0.3 is not a multiple of 0.1",
            "code": "multipleOf",
        }
    ]
    response = post(key, order_received_event(bought_on="0000-01-01"))
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "pointer": "/payload/bought_on",
            "detail": "'0000-01-01' is not a 'date'",
            "code": "format",
        }
    ]
    assert post(key, order_received_event(weight_kg=0.5, bought_on="2024-02-29")).status_code == 201


def test_a_payload_date_time_is_checked_and_the_envelope_keeps_its_own_answer(key):
    delivered = {
        "type": "shipment.delivered",
        "source": "carrier",
        "occurred_at": "2026-11-25T12:00:00Z",
        "payload": {"tracking_number": "TRK-1", "delivered_at": "next tuesday"},
    }
    for problem in problems(key, delivered):
        assert problem["code"] == "schema_violation"
        assert problem["errors"] == [
            {
                "pointer": "/payload/delivered_at",
                "detail": "'next tuesday' is not a 'date-time'",
                "code": "format",
            }
        ]

    # ISO 8601 without seconds is not RFC 3339, and the envelope still takes it.
    assert (
        post(key, {**order_received_event(), "occurred_at": "2026-11-25T12:00Z"}).status_code == 201
    )
    for problem in problems(key, {**order_received_event(), "occurred_at": "2026-11-25T12:00"}):
        assert problem["errors"] == [
            {
                "pointer": "/occurred_at",
                "detail": "must be an ISO 8601 date-time with a time zone offset",
                "code": "format",
            }
        ]
