"""POST /api/v1/events: validate, dedupe, store, route; refusals precise, recorded, atomic."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from audit.models import Event
from integrations.models import InboundEvent, Rejection
from privacy.sealing import reveal
from processes.orders.models import Order
from tests.factories import api_key, order_received_event, start_order
from workflows.models import Execution

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def key(db) -> str:
    return api_key()


def post(client: APIClient, key: str | None, body, *, idempotency_key: str | None = "auto"):
    headers = {}
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    if idempotency_key == "auto":
        idempotency_key = uuid.uuid4().hex
    if idempotency_key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/v1/events", raw, content_type="application/json", **headers)


def _counts() -> tuple[int, int, int, int]:
    return (
        InboundEvent.objects.count(),
        Order.objects.count(),
        Event.objects.count(),
        Execution.objects.count(),
    )


def test_an_order_event_starts_the_order_and_schedules_its_first_step(key):
    body = order_received_event(correlation_key="SO-1")
    response = post(APIClient(), key, body)

    assert response.status_code == 201, response.content
    data = response.json()
    order = Order.objects.get(correlation_key="SO-1")
    assert data["instance"] == {
        "workflow": "order",
        "id": order.pk,
        "correlation_key": "SO-1",
        "state": "received",
        "version": 0,
    }
    assert "Idempotent-Replayed" not in response.headers
    inbound = InboundEvent.objects.get(pk=data["id"])
    assert (inbound.workflow, inbound.instance_id, inbound.integration.name) == (
        "order",
        order.pk,
        "shop",
    )
    assert order.context["trigger"]["inbound_event"] == data["id"]
    # Stored sealed (privacy.sealing), read back as sent.
    assert order.context["input"]["postcode"].startswith("pii:v1:")
    assert reveal(order.context["input"]) == body["payload"]
    assert Execution.objects.get().step == "policy.check"
    started = Event.objects.get(type="workflow.started")
    assert (started.actor_kind, started.actor_ref) == ("integration", "shop")


def test_same_key_same_body_returns_the_first_response_marked_as_replay(key):
    client = APIClient()
    body = order_received_event()
    first = post(client, key, body, idempotency_key="k-1")
    before = _counts()
    # Same meaning, different bytes: key order and whitespace do not make a new request.
    reserialised = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    again = post(client, key, reserialised, idempotency_key="k-1")

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _counts() == before


def test_same_key_different_body_is_refused_with_422_and_recorded(key):
    client = APIClient()
    post(client, key, order_received_event(), idempotency_key="k-2")
    before = _counts()
    response = post(client, key, order_received_event(), idempotency_key="k-2")

    assert response.status_code == 422
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["code"] == "idempotency_key_reused"
    assert response.json()["type"] == "urn:opscore:problem:idempotency_key_reused"
    assert _counts() == before
    assert Rejection.objects.get().problem == "idempotency_key_reused"


def test_the_same_key_from_another_integration_is_a_different_event(key):
    client = APIClient()
    other = api_key(integration="other")
    assert post(client, key, order_received_event(), idempotency_key="k").status_code == 201
    assert (
        post(client, other, order_received_event(source="other"), idempotency_key="k").status_code
        == 201
    )
    assert sorted(InboundEvent.objects.values_list("source", flat=True)) == ["other", "shop"]


@pytest.mark.parametrize(
    ("mutate", "code", "pointer"),
    [
        (
            lambda body: body["payload"].update(weight_kg="heavy"),
            "schema_violation",
            "/payload/weight_kg",
        ),
        (lambda body: body["payload"].pop("postcode"), "schema_violation", "/payload"),
        (lambda body: body.update(type="order.teleported"), "unknown_event_type", "/type"),
        (lambda body: body.pop("occurred_at"), "invalid_envelope", ""),
        (lambda body: body.update(occurred_at="yesterday"), "invalid_envelope", "/occurred_at"),
        (lambda body: body.update(extra=1), "invalid_envelope", ""),
    ],
)
def test_invalid_events_get_a_precise_400_and_nothing_but_a_rejection(key, mutate, code, pointer):
    body = order_received_event()
    mutate(body)
    before = _counts()
    response = post(APIClient(), key, body)

    assert response.status_code == 400, response.content
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == 400
    assert problem["instance"] == "/api/v1/events"
    assert pointer in [error["pointer"] for error in problem["errors"]]
    assert _counts() == before
    rejection = Rejection.objects.get()
    assert (rejection.status, rejection.problem, rejection.channel) == (400, code, "api")
    assert rejection.integration.name == "shop"


def test_bad_json_gets_a_400_naming_where_it_broke(key):
    response = post(APIClient(), key, b'{"type": "order.received",')
    assert response.status_code == 400
    assert response.json()["code"] == "bad_json"
    assert "line 1 column" in response.json()["detail"]
    assert Rejection.objects.get().body_excerpt == '{"type": "order.received",'
    assert InboundEvent.objects.count() == 0


def test_a_missing_idempotency_key_is_a_400(key):
    response = post(APIClient(), key, order_received_event(), idempotency_key=None)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert InboundEvent.objects.count() == Order.objects.count() == 0


def test_routing_failure_rolls_back_the_inbound_event_and_records_the_rejection(key):
    client = APIClient()
    start_order(correlation_key="SO-TAKEN")
    before = _counts()
    response = post(client, key, order_received_event(correlation_key="SO-TAKEN"))

    assert response.status_code == 409
    assert response.json()["code"] == "correlation_key_taken"
    assert _counts() == before
    assert Rejection.objects.get().problem == "correlation_key_taken"


def test_proof_of_delivery_signals_the_order_found_by_correlation_key(key):
    client = APIClient()
    order = start_order(correlation_key="SO-POD")
    # The order is still in `received`: the signal is illegal there and refused whole.
    pod = {
        "type": "shipment.delivered",
        "source": "shop",
        "occurred_at": "2026-11-25T12:00:00Z",
        "correlation_key": "SO-POD",
        "payload": {"tracking_number": "TRK1"},
    }
    before = _counts()
    refused = post(client, key, pod, idempotency_key="pod-1")
    assert refused.status_code == 422
    assert refused.json()["code"] == "illegal_transition"
    assert _counts() == before

    Order.objects.filter(pk=order.pk).update(state="awaiting_pod")
    accepted = post(client, key, pod, idempotency_key="pod-1")
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["instance"]["state"] == "completed"
    assert accepted.json()["transition"] == "confirm_delivery"
    order.refresh_from_db()
    assert order.state == "completed"
    assert order.context["signals"]["confirm_delivery"]["input"] == {"tracking_number": "TRK1"}

    unknown = post(client, key, {**pod, "correlation_key": "SO-NOPE"})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "instance_not_found"


def test_keys_are_required_valid_unrevoked_and_scoped(key):
    client = APIClient()
    body = order_received_event()
    missing = post(client, None, body)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Api-Key"
    assert missing.headers["Content-Type"] == PROBLEM
    assert post(client, "opk_nope_nope", body).status_code == 401

    read_only = api_key(integration="reader", scopes=["instances:read"])
    assert post(client, read_only, body).status_code == 403
    pod_only = api_key(integration="carrier", event_types=["shipment.delivered"])
    refused = post(client, pod_only, body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "event_type_not_allowed"
    assert InboundEvent.objects.count() == 0
    assert Rejection.objects.filter(status__in=[401, 403]).count() == 4


def test_revoked_and_rotated_keys_stop_working_at_once(key):
    from integrations.models import ApiKey
    from integrations.services import revoke_api_key, rotate_api_key

    client = APIClient()
    old = ApiKey.objects.get()
    new, plaintext = rotate_api_key(api_key=old)
    assert post(client, key, order_received_event()).status_code == 401
    assert post(client, plaintext, order_received_event()).status_code == 201
    revoke_api_key(api_key=new)
    assert post(client, plaintext, order_received_event()).status_code == 401
    assert new.prefix in plaintext
    assert new.digest not in plaintext


def test_every_api_error_is_a_problem_document(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    not_found = client.get("/api/v1/instances/nope/")
    assert not_found.status_code == 404
    assert not_found.headers["Content-Type"] == PROBLEM
    assert set(not_found.json()) >= {"type", "title", "status", "detail", "code"}
    bad_filter = client.get("/api/v1/executions/?status=exploded")
    assert bad_filter.status_code == 400
    assert bad_filter.json()["errors"][0]["pointer"] == "/status"
    unsupported = client.post(
        "/api/v1/events", "a=b", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="x"
    )
    assert unsupported.status_code == 415
    assert unsupported.headers["Content-Type"] == PROBLEM
