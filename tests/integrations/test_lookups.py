"""Cached API key and event type lookups: never stale, in this process or another one."""

import json
import uuid

import httpx
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import ApiKey, EventType, InboundEvent, Integration, Rejection
from integrations.services import revoke_api_key
from tests.factories import api_key, order_received_event

pytestmark = pytest.mark.django_db


def post(key: str, body: dict, *, client=None):
    return (client or APIClient()).post(
        "/api/v1/events",
        json.dumps(body).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def _stored_key(plaintext: str) -> ApiKey:
    return ApiKey.objects.get(prefix=plaintext.split("_")[1])


def _lookup_queries(queries) -> list[str]:
    tables = ('"integrations_apikey"', '"integrations_eventtype"')
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and any(t in q["sql"] for t in tables)
    ]


def test_a_second_request_reads_neither_the_key_nor_the_event_type_again():
    key = api_key()
    assert post(key, order_received_event(correlation_key="SO-1")).status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert post(key, order_received_event(correlation_key="SO-2")).status_code == 201
    assert _lookup_queries(queries) == []
    generation_reads = [q for q in queries if "integrations_lookup_generation" in q["sql"]]
    assert len(generation_reads) == 1


def test_a_revoked_key_is_refused_on_the_next_request_however_it_was_revoked():
    by_service, by_update = api_key(), api_key()
    for key in (by_service, by_update):
        assert post(key, order_received_event()).status_code == 201

    revoke_api_key(api_key=_stored_key(by_service))
    # Bulk update, no service, no signal: the database trigger still moves the generation.
    ApiKey.objects.filter(pk=_stored_key(by_update).pk).update(revoked_at=timezone.now())

    for key in (by_service, by_update):
        inbound_before = InboundEvent.objects.count()
        response = post(key, order_received_event())
        assert response.status_code == 401, response.content
        assert InboundEvent.objects.count() == inbound_before
    assert Rejection.objects.filter(status=401).count() == 2


def test_a_deactivated_integration_or_service_user_stops_its_cached_key():
    key = api_key(integration="shop")
    assert post(key, order_received_event()).status_code == 201
    Integration.objects.filter(name="shop").update(is_active=False)
    assert post(key, order_received_event()).status_code == 401
    Integration.objects.filter(name="shop").update(is_active=True)
    assert post(key, order_received_event()).status_code == 201


class Undo(Exception):
    pass


def _revoke_then_roll_back(key: str) -> None:
    with transaction.atomic():
        revoke_api_key(api_key=_stored_key(key))
        assert post(key, order_received_event()).status_code == 401
        raise Undo


def test_a_rolled_back_revocation_leaves_the_key_working_and_a_real_one_stops_it():
    key = api_key()
    assert post(key, order_received_event()).status_code == 201
    with pytest.raises(Undo):
        _revoke_then_roll_back(key)
    assert post(key, order_received_event()).status_code == 201
    revoke_api_key(api_key=_stored_key(key))
    assert post(key, order_received_event()).status_code == 401


def test_a_deactivated_or_edited_event_type_applies_to_the_next_request():
    key = api_key()
    assert post(key, order_received_event()).status_code == 201
    event_type = EventType.objects.get(name="order.received")
    schema = {**event_type.schema, "required": [*event_type.schema.get("required", []), "gift"]}
    EventType.objects.filter(pk=event_type.pk).update(schema=schema)
    response = post(key, order_received_event())
    assert response.status_code == 400
    assert response.json()["code"] == "schema_violation"
    EventType.objects.filter(pk=event_type.pk).update(is_active=False)
    response = post(key, order_received_event())
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_event_type"


def test_a_revocation_stops_the_key_in_every_web_process_at_once(gunicorn_url):
    """Two gunicorn workers, each with its own cache warmed by the key, then a revocation
    committed here: no worker accepts the key again, not even once."""
    key = api_key()
    url = f"{gunicorn_url}/api/v1/events"

    def send() -> int:
        # A new connection per request, so requests spread over both workers.
        return httpx.post(
            url,
            content=json.dumps(order_received_event()).encode(),
            headers={
                "Authorization": f"Api-Key {key}",
                "Idempotency-Key": uuid.uuid4().hex,
                "Content-Type": "application/json",
            },
            timeout=30,
        ).status_code

    assert [send() for _ in range(20)] == [201] * 20
    revoke_api_key(api_key=_stored_key(key))
    accepted_before = InboundEvent.objects.count()
    assert [send() for _ in range(20)] == [401] * 20
    assert InboundEvent.objects.count() == accepted_before
