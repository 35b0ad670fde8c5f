"""Standard Webhooks deliveries, signed with the `standardwebhooks` library itself."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from audit.models import Event
from integrations.models import InboundEvent, Rejection, WebhookSecret
from processes.orders.models import Order
from tests.factories import order_context, webhook_source

pytestmark = pytest.mark.django_db


def order_message(**overrides) -> dict:
    context = order_context()
    return {
        "type": "order.received",
        "timestamp": "2026-11-25T12:00:00Z",
        "data": {**context, "correlation_key": context["order_id"]},
        **overrides,
    }


def signed_headers(secret: str, msg_id: str, body: str, *, at: datetime | None = None) -> dict:
    at = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def deliver(body: str, headers: dict, source: str = "carrier"):
    return APIClient().post(
        f"/api/v1/hooks/{source}/", body, content_type="application/json", **headers
    )


def _written() -> tuple[int, int, int]:
    return InboundEvent.objects.count(), Order.objects.count(), Event.objects.count()


def test_a_signed_delivery_is_ingested_with_webhook_id_as_its_key():
    source = webhook_source()
    secret = source.secrets.get().secret
    body = json.dumps(order_message())
    response = deliver(body, signed_headers(secret, "msg_1", body))

    assert response.status_code == 201, response.content
    inbound = InboundEvent.objects.get()
    # Its keys live in the webhook source's own namespace, apart from any integration's.
    assert (inbound.source, inbound.idempotency_key, inbound.channel) == (
        "webhook:carrier",
        "msg_1",
        "webhook",
    )
    order = Order.objects.get()
    assert order.correlation_key == inbound.correlation_key
    assert response.json()["instance"]["id"] == order.pk

    # The sender retries the same delivery (same id, fresh signature): a replay.
    again = deliver(body, signed_headers(secret, "msg_1", body))
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert InboundEvent.objects.count() == Order.objects.count() == 1


def test_any_active_secret_verifies_during_rotation_and_retired_ones_do_not():
    source = webhook_source(secrets=2)
    old, new = source.secrets.order_by("created_at", "pk")
    for number, secret in enumerate([old.secret, new.secret]):
        body = json.dumps(order_message())
        assert deliver(body, signed_headers(secret, f"rot_{number}", body)).status_code == 201
    WebhookSecret.objects.filter(pk=old.pk).update(is_active=False)
    body = json.dumps(order_message())
    assert deliver(body, signed_headers(old.secret, "rot_late", body)).status_code == 401


@pytest.mark.parametrize(
    "attack",
    ["tampered", "expired", "future_dated", "unsigned", "wrong_secret", "garbage_signature"],
)
def test_bad_deliveries_are_refused_with_401_and_only_the_rejection_is_written(attack):
    source = webhook_source()
    secret = source.secrets.get().secret
    body = json.dumps(order_message())
    now = datetime.now(tz=UTC)
    headers = signed_headers(secret, "msg_bad", body)
    if attack == "tampered":
        body = body.replace('"value": ', '"value": 1')
    elif attack == "expired":
        headers = signed_headers(secret, "msg_bad", body, at=now - timedelta(minutes=6))
    elif attack == "future_dated":
        headers = signed_headers(secret, "msg_bad", body, at=now + timedelta(minutes=6))
    elif attack == "unsigned":
        headers = {"HTTP_WEBHOOK_ID": "msg_bad"}
    elif attack == "wrong_secret":
        headers = signed_headers("whsec_" + "A" * 43, "msg_bad", body)
    elif attack == "garbage_signature":
        headers["HTTP_WEBHOOK_SIGNATURE"] = "v1"
    before = _written()
    response = deliver(body, headers)

    assert response.status_code == 401, response.content
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "bad_signature"
    assert _written() == before
    rejection = Rejection.objects.get()
    assert (rejection.channel, rejection.status, rejection.source) == ("webhook", 401, "carrier")


def test_just_inside_the_five_minute_tolerance_is_accepted():
    secret = webhook_source().secrets.get().secret
    body = json.dumps(order_message())
    at = datetime.now(tz=UTC) - timedelta(minutes=4, seconds=50)
    assert deliver(body, signed_headers(secret, "msg_edge", body, at=at)).status_code == 201


def test_a_signed_but_invalid_event_gets_the_same_precise_400_as_the_api():
    secret = webhook_source().secrets.get().secret
    message = order_message()
    message["data"]["weight_kg"] = -3
    body = json.dumps(message)
    response = deliver(body, signed_headers(secret, "msg_invalid", body))
    assert response.status_code == 400
    assert response.json()["errors"][0]["pointer"] == "/payload/weight_kg"
    assert InboundEvent.objects.count() == 0
    assert Rejection.objects.get().problem == "schema_violation"


def test_an_unknown_source_is_a_404_and_recorded():
    body = json.dumps(order_message())
    response = deliver(body, {}, source="nobody")
    assert response.status_code == 404
    assert Rejection.objects.get().problem == "unknown_webhook_source"
