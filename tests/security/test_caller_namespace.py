"""What a caller sends stays its own: input lands under context["input"], never among the
server's fields; idempotency keys live in the authenticated caller's namespace; a staff
session sends only what it is permitted to."""

from __future__ import annotations

import json
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import Event
from decisions.models import Override
from integrations import services
from integrations.models import (
    BindingAction,
    EventType,
    InboundEvent,
    Integration,
    Rejection,
    Schedule,
    TriggerBinding,
)
from opscore.api_errors import Problem
from privacy.sealing import reveal
from processes.orders.models import Order, OrderState
from tests.factories import (
    api_key,
    order_context,
    order_received_event,
    reviewer,
    start_order,
    user_with_perms,
)
from tests.workflows.drain import drain_executions

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
SLOT = "2026-11-25T12:00:00+00:00"


def post(client: APIClient, body: dict, *, key: str | None = None, idempotency_key: str):
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key}
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client.post(
        "/api/v1/events", json.dumps(body), content_type="application/json", **headers
    )


def _counts() -> tuple[int, int, int]:
    return (InboundEvent.objects.count(), Order.objects.count(), Event.objects.count())


def _snapshot(order: Order) -> tuple:
    fresh = Order.objects.get(pk=order.pk)
    return (fresh.state, fresh.version, fresh.context, *_counts())


# --- hole 4: caller input is namespaced ----------------------------------------------------


def test_a_payload_cannot_choose_the_carrier_or_record_an_override_as_a_real_user(carrier):
    # An open schema, so the payload reaches the workflow: namespacing alone must hold.
    open_type = EventType.objects.create(name="order.open", schema={"type": "object"})
    TriggerBinding.objects.create(
        event_type=open_type, action=BindingAction.START, workflow="order"
    )
    reviewer("rita")
    forged = {"carrier": "southexpress", "by": "rita", "reason": "island"}
    body = {
        **order_received_event(source="shop"),
        "type": "order.open",
        "payload": {**order_context(value=50, weight_kg=2), "carrier_choice": forged},
    }
    response = post(APIClient(), body, key=api_key(integration="shop"), idempotency_key="o-1")
    assert response.status_code == 201, response.content

    drain_executions()
    order = Order.objects.get()
    assert order.state == OrderState.AWAITING_POD
    assert order.context["shipment"]["carrier"] == "northpost"  # the table's choice
    assert Override.objects.count() == 0
    assert carrier.ledger.stats()["shipments"] == 1
    assert "carrier_choice" not in order.context
    assert order.context["input"]["carrier_choice"] == forged


def test_a_carrier_choice_override_is_the_approvers_whatever_name_it_carries(carrier):
    from approvals.selectors import active_task_for
    from approvals.services import approve_task
    from opscore.actors import Actor

    rita = reviewer("rita")
    victor = reviewer("victor")
    order = start_order(value=5000, weight_kg=2, postcode="AB1 2CD")
    drain_executions()
    approve_task(
        task=active_task_for(instance=order),
        actor=Actor.for_user(rita),
        context_update={"carrier_choice": {"carrier": "southexpress", "by": "victor"}},
    )
    drain_executions()
    override = Override.objects.get()
    assert (override.user, override.actor_ref) == (rita, "user:rita")
    assert override.user != victor


@pytest.mark.parametrize(
    "extra",
    [
        {"carrier_choice": {"carrier": "southexpress", "by": "rita"}},
        {"policy": {"review_required": False}},
        {"postcode": "AB1 " + "X" * 100},
    ],
    ids=["carrier_choice", "policy", "oversize"],
)
def test_the_reference_schema_refuses_unknown_and_oversize_fields(extra):
    key = api_key(integration="shop")
    before = _counts()
    body = order_received_event(source="shop")
    body["payload"].update(extra)
    response = post(APIClient(), body, key=key, idempotency_key=uuid.uuid4().hex)
    assert response.status_code == 400, response.content
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["code"] == "schema_violation"
    assert _counts() == before
    assert Rejection.objects.get().problem == "schema_violation"


def test_a_signals_payload_stays_under_its_input(carrier):
    order = start_order(value=50, weight_kg=1)
    drain_executions()
    key = api_key(integration="shop")
    pod = {
        "type": "shipment.delivered",
        "source": "shop",
        "occurred_at": "2026-11-25T12:00:00Z",
        "correlation_key": order.correlation_key,
        "payload": {"tracking_number": "TRK1", "signed_by": "J. Doe"},
    }
    assert post(APIClient(), pod, key=key, idempotency_key="pod").status_code == 201
    order.refresh_from_db()
    received = order.context["signals"]["confirm_delivery"]
    # signed_by is personal: stored sealed, read back as sent.
    assert received["input"]["signed_by"].startswith("pii:v1:")
    assert reveal(received["input"]) == pod["payload"]
    assert received["trigger"]["source"] == "shop"
    assert "tracking_number" not in order.context


# --- hole 5: the idempotency namespace is the authenticated caller ------------------------


def test_another_key_cannot_read_or_claim_an_integrations_idempotency_key():
    shop = api_key(integration="demo-shop")
    intruder = api_key(integration="intruder")
    client = APIClient()
    body = order_received_event(source="demo-shop")

    first = post(client, body, key=shop, idempotency_key="shop-1")
    assert first.status_code == 201
    before = _counts()
    stolen = post(client, body, key=intruder, idempotency_key="shop-1")
    assert stolen.status_code == 403, stolen.content
    assert stolen.headers["Content-Type"] == PROBLEM
    assert stolen.json()["code"] == "source_mismatch"
    assert first.json()["id"] not in stolen.content.decode()
    assert _counts() == before
    refusal = Rejection.objects.get()
    assert (refusal.problem, refusal.status, refusal.integration.name) == (
        "source_mismatch",
        403,
        "intruder",
    )

    # Claiming a key first does not block the integration's own request either.
    claim = order_received_event(source="demo-shop")
    assert post(client, claim, key=intruder, idempotency_key="shop-2").status_code == 403
    own = post(client, claim, key=shop, idempotency_key="shop-2")
    assert own.status_code == 201, own.content
    assert "Idempotent-Replayed" not in own.headers
    assert InboundEvent.objects.filter(source="demo-shop").count() == 2
    assert not InboundEvent.objects.filter(integration__name="intruder").exists()


def test_an_admin_start_cannot_collide_with_an_integration_named_admin():
    key = api_key(integration="admin")
    body = order_received_event(source="admin")
    assert post(APIClient(), body, key=key, idempotency_key="form-1").status_code == 201

    boss = user_with_perms("integrations.start_workflow_manually", username="boss")
    result = services.start_manually(
        event_type=EventType.objects.get(name="order.received"),
        payload=order_context(),
        correlation_key="",
        idempotency_key="form-1",
        occurred_at=timezone.now(),
        user=boss,
    )
    assert (result.status, result.replayed) == (201, False)
    assert set(InboundEvent.objects.values_list("source", flat=True)) == {"admin", "admin:boss"}
    assert Order.objects.count() == 2


def test_a_key_cannot_claim_a_schedules_slot():
    schedule = Schedule.objects.create(
        name="nightly",
        event_type=EventType.objects.get(name="order.received"),
        cron="0 2 * * *",
        payload=order_context(),
    )
    key = api_key(integration="shop")
    forged = {
        "type": "order.received",
        "source": "schedule:nightly",
        "occurred_at": SLOT,
        "correlation_key": None,
        "payload": order_context(),
    }
    before = _counts()
    response = post(APIClient(), forged, key=key, idempotency_key=SLOT)
    assert response.status_code == 403
    assert response.json()["code"] == "source_mismatch"
    assert _counts() == before

    fired = services.fire_schedule(schedule_id=schedule.pk, slot=SLOT)
    assert (fired.status, fired.replayed) == (201, False)
    event = InboundEvent.objects.get()
    assert (event.source, event.integration) == ("schedule:nightly", None)


def test_staff_channels_each_have_their_own_namespace():
    alice = user_with_perms("integrations.send_event", username="alice")
    bob = user_with_perms("integrations.send_event", username="bob")
    for user in (alice, bob):
        client = APIClient()
        client.force_login(user)
        body = order_received_event(source="desk")
        response = post(client, body, idempotency_key="same")
        assert response.status_code == 201, response.content
        assert response.json()["source"] == f"staff:{user.username}"
    assert Order.objects.count() == 2


# --- hole 6 (first half): staff sessions send only what they are permitted to ------------


def test_a_staff_session_without_permission_cannot_mark_an_order_delivered(carrier):
    Integration.objects.get_or_create(name="shop")
    order = start_order(value=50, weight_kg=1)
    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD
    nobody = user_with_perms(username="nobody")  # staff, no permissions at all
    client = APIClient()
    client.force_login(nobody)
    before = _snapshot(order)
    response = post(
        client,
        {
            "type": "shipment.delivered",
            "source": "carrier",
            "occurred_at": "2026-11-25T12:00:00Z",
            "correlation_key": order.correlation_key,
            "payload": {"tracking_number": "TRK1"},
        },
        idempotency_key="pod-1",
    )
    assert response.status_code == 403, response.content
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["code"] == "event_type_not_allowed"
    assert _snapshot(order) == before
    assert Order.objects.get(pk=order.pk).state == OrderState.AWAITING_POD
    refusal = Rejection.objects.get()
    assert (refusal.status, refusal.problem, refusal.event_type) == (
        403,
        "event_type_not_allowed",
        "shipment.delivered",
    )


def test_a_manual_start_needs_the_manual_start_permission():
    clerk = user_with_perms("integrations.view_inboundevent", username="clerk")
    before = _counts()
    with pytest.raises(Problem) as refused:
        services.start_manually(
            event_type=EventType.objects.get(name="order.received"),
            payload=order_context(),
            correlation_key="",
            idempotency_key="form-9",
            occurred_at=timezone.now(),
            user=clerk,
        )
    assert (refused.value.status_code, refused.value.code) == (403, "event_type_not_allowed")
    assert _counts() == before
    assert Rejection.objects.get().channel == "admin"
