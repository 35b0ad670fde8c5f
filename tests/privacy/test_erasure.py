"""Personal data is sealed per subject on the way in and erasable without breaking the chain."""

import json
import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from approvals.models import ReviewTask
from audit.models import Event
from integrations.models import InboundEvent, Rejection
from privacy.models import Subject
from privacy.sealing import ERASED
from processes.orders.models import Order
from processes.seed import seed_every_workflow
from tests.factories import api_key, user_with_perms
from workflows import engine
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db

JANE = {
    "customer": "Jane Quartermain",
    "email": "jane.q@example.invalid",
    "address": "12 Privet Lane, Little Whinging",
    "postcode": "SW1A 1AA",
}
BOB = {
    "customer": "Robert Oddington",
    "email": "bob.o@example.invalid",
    "address": "9 Harbour Row",
    "postcode": "EH3 9QQ",
}
JANE_TRACES = ["Quartermain", "jane.q@example.invalid", "Privet", "SW1A 1AA"]
BOB_TRACES = ["Oddington", "bob.o@example.invalid", "Harbour Row", "EH3 9QQ"]


def post_order(client: Client, key: str, order_id: str, person: dict, **overrides):
    body = {
        "type": "order.received",
        "source": "shop",
        "occurred_at": "2026-11-25T12:00:00+00:00",
        "correlation_key": order_id,
        "payload": {"order_id": order_id, "weight_kg": 2.5, "value": 120, **person, **overrides},
    }
    return client.post(
        "/api/v1/events",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


@pytest.fixture
def world():
    seed_every_workflow()
    key = api_key()
    client = Client()
    for order_id, person in (("ER-JANE", JANE), ("ER-BOB", BOB)):
        response = post_order(client, key, order_id, person)
        assert response.status_code == 201, response.content
    # Refused requests repeating Jane's details (one quoting her address in its field errors),
    # and a remote error that echoed her postcode.
    refused = post_order(client, key, "ER-BAD", JANE, weight_kg=-1)
    assert refused.status_code == 400
    refused = post_order(client, key, "ER-BAD2", {**JANE, "address": [JANE["address"]]})
    assert refused.status_code == 400
    assert Rejection.objects.filter(errors__icontains="Privet").exists()
    jane = Order.objects.get(correlation_key="ER-JANE")
    Execution.objects.filter(
        instance_type=ContentType.objects.get_for_model(Order), instance_id=jane.pk
    ).update(
        status=ExecutionStatus.DEAD,
        last_error="PermanentHttpError: carrier refused with 422: no service to SW1A 1AA",
    )
    for order in Order.objects.all():
        engine.transition(instance=order, name="flag_for_review", actor=engine.SYSTEM)
    return {
        "key": key,
        "jane": jane,
        "bob": Order.objects.get(correlation_key="ER-BOB"),
        "reviewer": user_with_perms(
            "approvals.work_reviewtask",
            "processes.review_order",
            "processes.view_order",
            group="reviewers",
        ),
        "viewer": user_with_perms(
            "processes.view_order",
            "workflows.view_execution",
            "audit.view_event",
            "integrations.view_inboundevent",
            "integrations.view_rejection",
        ),
    }


def pages(world, order) -> dict[str, str]:
    """What a reviewer and a view-only member of staff see of `order`, and what the API says."""
    task = ReviewTask.objects.get(instance_id=order.pk, instance_type__model="order")
    inbound = InboundEvent.objects.get(instance_id=order.pk, workflow="order")
    started = Event.objects.get(type="workflow.started", instance_id=order.pk)
    reviewer, viewer, api = Client(), Client(), Client()
    reviewer.force_login(world["reviewer"])
    viewer.force_login(world["viewer"])
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {world['key']}"}
    got = {
        "reviewer task": reviewer.get(reverse("admin:approvals_reviewtask_change", args=[task.pk])),
        "reviewer order": reviewer.get(reverse("admin:processes_order_change", args=[order.pk])),
        "viewer order": viewer.get(reverse("admin:processes_order_change", args=[order.pk])),
        "viewer history": viewer.get(reverse("admin:processes_order_history", args=[order.pk])),
        "viewer first version": viewer.get(
            reverse(
                "admin:processes_order_simple_history",
                args=[order.pk, order.history.earliest("history_date").history_id],
            )
        ),
        "viewer inbound": viewer.get(
            reverse("admin:integrations_inboundevent_change", args=[inbound.pk])
        ),
        "viewer event": viewer.get(reverse("admin:audit_event_change", args=[started.seq])),
        "api instance": api.get(f"/api/v1/instances/order/{order.pk}", **headers),
        "api list": api.get("/api/v1/instances/order/", **headers),
        "api timeline": api.get(f"/api/v1/instances/order/{order.pk}/timeline", **headers),
        "api inbound": api.get(f"/api/v1/inbound-events/{inbound.pk}", **headers),
    }
    for name, response in got.items():
        assert response.status_code == 200, (name, response.status_code)
    return {name: response.content.decode() for name, response in got.items()}


def test_personal_values_are_stored_sealed_and_read_back_while_the_key_exists(world):
    stored = json.dumps(
        [
            world["jane"].context,
            *Event.objects.values_list("payload", flat=True),
            *InboundEvent.objects.values_list("payload", flat=True),
            *Order.history.values_list("context", flat=True),
        ]
    )
    for trace in JANE_TRACES + BOB_TRACES:
        assert trace not in stored
    for name, page in pages(world, world["jane"]).items():
        if name != "viewer history":  # the list of versions shows no context
            assert "Quartermain" in page, name
    assert Subject.objects.filter(erased_at__isnull=True).count() == 2


def test_an_erased_subject_reads_erased_everywhere_and_the_chain_still_verifies(world):
    call_command("erase_subject", "  JANE.Q@example.invalid ", reason="erasure request ER-77")

    for name, page in pages(world, world["jane"]).items():
        for trace in JANE_TRACES:
            assert trace not in page, (name, trace)
        if name != "viewer history":
            assert ERASED in page, name
    # The free-text copies were scrubbed by value.
    assert "SW1A 1AA" not in Execution.objects.get(instance_id=world["jane"].pk).last_error
    assert ERASED in Execution.objects.get(instance_id=world["jane"].pk).last_error
    assert not Rejection.objects.filter(body_excerpt__contains="Quartermain").exists()
    assert not Rejection.objects.filter(errors__icontains="Privet").exists()
    # Bob is untouched.
    bob_pages = pages(world, world["bob"])
    assert "Oddington" in bob_pages["viewer order"]
    assert "EH3 9QQ" in bob_pages["api instance"]
    assert "Oddington" in bob_pages["api list"]
    # Recorded, without the person, and the log still verifies.
    erased = Event.objects.get(type="config.personal_data.erased")
    assert erased.payload["after"]["reason"] == "erasure request ER-77"
    assert all(trace not in json.dumps(erased.payload) for trace in JANE_TRACES)
    call_command("verify_audit", "--quiet")


def test_erasing_an_unknown_or_already_erased_subject_is_refused_and_changes_nothing(world):
    before = (Event.objects.count(), list(Subject.objects.values_list("pk", "key", "erased_at")))
    with pytest.raises(CommandError, match="no personal data is held"):
        call_command("erase_subject", "nobody@example.invalid", reason="request ER-78")
    with pytest.raises(CommandError, match="reason is required"):
        call_command("erase_subject", "jane.q@example.invalid", reason="   ")
    after = (Event.objects.count(), list(Subject.objects.values_list("pk", "key", "erased_at")))
    assert after == before
    call_command("erase_subject", "jane.q@example.invalid", reason="request ER-79")
    with pytest.raises(CommandError, match="no personal data is held"):
        call_command("erase_subject", "jane.q@example.invalid", reason="request ER-79")


def test_a_schema_with_personal_fields_must_name_a_required_subject():
    from integrations.services import SchemaError, check_schema

    personal = {"type": "object", "properties": {"name": {"type": "string", "x-personal": True}}}
    with pytest.raises(SchemaError, match="x-subject"):
        check_schema(personal)
    with pytest.raises(SchemaError, match="must be required"):
        check_schema({**personal, "x-subject": "name"})
    check_schema({**personal, "x-subject": "name", "required": ["name"]})


def test_redelivery_seals_again_and_is_refused_once_the_data_is_erased(world):
    from integrations.services import redeliver_inbound_event
    from opscore.api_errors import Problem

    operator = user_with_perms("integrations.redeliver_inboundevent")
    inbound = InboundEvent.objects.get(instance_id=world["jane"].pk, workflow="order")
    replay = redeliver_inbound_event(event=inbound, user=operator, new_key=False)
    assert replay.replayed  # the same body as sent: deduplicated, not a reuse with another body
    call_command("erase_subject", "jane.q@example.invalid", reason="request ER-80")
    count = InboundEvent.objects.count()
    with pytest.raises(Problem) as refused:
        redeliver_inbound_event(event=inbound, user=operator, new_key=True)
    assert refused.value.code == "personal_data_erased"
    assert InboundEvent.objects.count() == count


def test_a_reviewers_reason_is_recorded_scrubbed_and_bounded():
    from approvals.services import reject_task
    from opscore.actors import Actor
    from opscore.scrubbing import RECORDED_TEXT_MAX
    from tests.factories import order_in_review, reviewer

    order = order_in_review()
    task = ReviewTask.objects.get(instance_id=order.pk, instance_type__model="order")
    token = "eyJhbGciOiJIUzI1NiJ9.bGVha2VkLXRva2Vu.c2ln"
    reason = f"customer pasted Authorization: Bearer {token} into the note " + "z" * 5000
    reject_task(task=task, actor=Actor.for_user(reviewer()), reason=reason)
    task.refresh_from_db()
    rejected = Event.objects.get(type="task.rejected", instance_id=order.pk)
    for recorded in (task.reason, rejected.payload["reason"]):
        assert token not in recorded
        assert "[redacted]" in recorded
        assert len(recorded) == RECORDED_TEXT_MAX
