"""Who may fire which transition, decided once, in the engine: human-step decisions only
through approvals, outside callers only the signal their workflow declares, bindings that
name anything else refused when saved, at start-up and when an event uses one anyway."""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from approvals.selectors import active_task_for
from approvals.services import approve_task
from audit.models import Event
from integrations.models import BindingAction, EventType, InboundEvent, Rejection, TriggerBinding
from opscore.actors import SYSTEM, Actor
from processes.invoices.models import Invoice, InvoiceState
from processes.orders.models import Order, OrderState
from tests.factories import (
    api_key,
    order_in_review,
    reviewer,
    start_invoice,
    start_order,
    user_with_perms,
)
from tests.workflows.drain import drain_executions
from workflows import engine

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def _snapshot(instance) -> tuple:
    fresh = type(instance).objects.get(pk=instance.pk)
    return (
        fresh.state,
        fresh.version,
        fresh.context,
        Event.objects.count(),
        InboundEvent.objects.count(),
    )


def _invoice_awaiting_manager(amount: float = 18_500) -> Invoice:
    invoice = start_invoice(amount=amount)
    drain_executions()
    invoice.refresh_from_db()
    assert invoice.state == InvoiceState.AWAITING_MANAGER
    return invoice


def _manager(name: str):
    return reviewer(name, group="managers", perms=("processes.approve_invoice",))


def _stale_binding(*, workflow: str, transition: str, name: str = "invoice.approved") -> EventType:
    """A binding as it may sit in a database from before the rule: written around clean()."""
    event_type = EventType.objects.create(name=name, schema={"type": "object"})
    TriggerBinding.objects.create(
        event_type=event_type,
        action=BindingAction.SIGNAL,
        workflow=workflow,
        transition=transition,
    )
    return event_type


# --- the engine ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["approve", "reject"])
def test_a_plain_engine_call_cannot_take_a_human_steps_decision(name):
    boss = user_with_perms("processes.review_order", "approvals.work_reviewtask", group="reviewers")
    order = order_in_review()
    before = _snapshot(order)
    for actor in (Actor.for_user(boss), SYSTEM, Actor.for_integration("shop")):
        with pytest.raises(engine.TransitionNotPermitted):
            engine.transition(instance=order, name=name, actor=actor)
    assert _snapshot(order) == before
    assert active_task_for(instance=order) is not None


@pytest.mark.parametrize("name", ["manager_approve", "manager_approve_for_finance"])
def test_every_approve_route_target_is_a_decision_too(name):
    manager = _manager("mia")
    invoice = _invoice_awaiting_manager()
    before = _snapshot(invoice)
    with pytest.raises(engine.TransitionNotPermitted):
        engine.transition(instance=invoice, name=name, actor=Actor.for_user(manager))
    assert _snapshot(invoice) == before


def test_a_decision_object_without_a_decided_task_moves_nothing():
    from workflows.declaration import Verdict

    boss = user_with_perms("processes.review_order", "approvals.work_reviewtask", group="reviewers")
    order = order_in_review()
    task = active_task_for(instance=order)
    before = _snapshot(order)
    for step in ("manual.review", "dispatch.execute"):
        with pytest.raises(engine.TransitionNotPermitted):
            engine.transition(
                instance=order,
                name="approve",
                actor=Actor.for_user(boss),
                verdict=Verdict(step=step, task_id=task.pk),
            )
    # Nor does a Verdict carry any other transition along.
    with pytest.raises(engine.TransitionNotPermitted):
        engine.transition(
            instance=order,
            name="cancel",
            actor=SYSTEM,
            verdict=Verdict(step="manual.review", task_id=task.pk),
        )
    assert _snapshot(order) == before


def test_the_approvals_service_still_decides(carrier):
    rita = reviewer("rita")
    order = order_in_review()
    approve_task(task=active_task_for(instance=order), actor=Actor.for_user(rita))
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING


@pytest.mark.parametrize(
    "actor",
    [Actor.for_integration("shop"), Actor(kind="system", ref="schedule:nightly")],
    ids=["integration", "schedule"],
)
def test_outside_callers_fire_only_the_wait_steps_signal(actor, carrier):
    order = start_order()
    before = _snapshot(order)
    for name in ("flag_for_review", "clear_policy", "cancel"):
        with pytest.raises(engine.TransitionNotPermitted):
            engine.transition(instance=order, name=name, actor=actor)
    assert _snapshot(order) == before

    drain_executions()  # low value: cleared, dispatched, now awaiting the proof of delivery
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD
    before = _snapshot(order)
    with pytest.raises(engine.TransitionNotPermitted):
        engine.transition(instance=order, name="expire_delivery", actor=actor)
    assert _snapshot(order) == before
    moved = engine.transition(instance=order, name="confirm_delivery", actor=actor)
    assert moved.state == OrderState.COMPLETED


def test_a_person_cannot_fire_a_machine_steps_outcome():
    everything = user_with_perms(
        "processes.review_order", "processes.cancel_order", group="reviewers"
    )
    order = start_order()
    before = _snapshot(order)
    for name in ("clear_policy", "flag_for_review"):
        with pytest.raises(engine.TransitionNotPermitted):
            engine.transition(instance=order, name=name, actor=Actor.for_user(everything))
    assert _snapshot(order) == before
    cancelled = engine.transition(instance=order, name="cancel", actor=Actor.for_user(everything))
    assert cancelled.state == OrderState.CANCELLED


# --- bindings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "transition"),
    [
        ("invoice", "manager_approve"),
        ("invoice", "finance_approve"),
        ("order", "approve"),
        ("order", "clear_policy"),
        ("order", "cancel"),
        ("order", "nope"),
    ],
)
def test_a_binding_to_anything_but_a_declared_signal_is_refused_on_save(workflow, transition):
    event_type = EventType.objects.create(name="x.happened", schema={"type": "object"})
    binding = TriggerBinding(
        event_type=event_type, action=BindingAction.SIGNAL, workflow=workflow, transition=transition
    )
    with pytest.raises(ValidationError) as refused:
        binding.full_clean()
    assert "transition" in refused.value.message_dict
    TriggerBinding(
        event_type=event_type,
        action=BindingAction.SIGNAL,
        workflow="order",
        transition="confirm_delivery",
    ).full_clean()


def test_the_admin_form_refuses_a_binding_to_a_decision():
    author = user_with_perms(
        "integrations.add_eventtype",
        "integrations.change_eventtype",
        "integrations.view_eventtype",
        "integrations.add_triggerbinding",
        "integrations.change_triggerbinding",
        "integrations.view_triggerbinding",
    )
    client = Client()
    client.force_login(author)
    response = client.post(
        reverse("admin:integrations_eventtype_add"),
        {
            "name": "invoice.approved",
            "description": "",
            "schema": json.dumps({"type": "object"}),
            "is_active": "on",
            "binding-TOTAL_FORMS": "1",
            "binding-INITIAL_FORMS": "0",
            "binding-MIN_NUM_FORMS": "0",
            "binding-MAX_NUM_FORMS": "1",
            "binding-0-action": "signal",
            "binding-0-workflow": "invoice",
            "binding-0-transition": "manager_approve",
            "binding-0-is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "is not a signal of the invoice workflow" in response.content.decode()
    assert not EventType.objects.filter(name="invoice.approved").exists()
    assert not TriggerBinding.objects.filter(transition="manager_approve").exists()


def test_a_stored_binding_to_a_decision_fails_the_system_check():
    call_command("check")  # the seeded reference bindings pass
    _stale_binding(workflow="invoice", transition="manager_approve")
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    message = str(failed.value)
    assert "integrations.E001" in message
    assert "invoice.approved" in message
    assert "'invoice'" in message
    assert "'manager_approve'" in message


def test_migrate_runs_while_a_stored_binding_fails_the_check():
    """A data migration may be what repoints the binding: the check must not refuse it."""
    _stale_binding(workflow="invoice", transition="manager_approve")

    call_command("migrate", verbosity=0, skip_checks=False, stdout=StringIO())

    with pytest.raises(SystemCheckError, match=r"integrations.E001"):
        call_command("check")


def test_a_stale_binding_cannot_approve_an_invoice_through_the_api():
    _stale_binding(workflow="invoice", transition="manager_approve")
    invoice = _invoice_awaiting_manager(18_500)
    key = api_key(integration="shop")
    before = _snapshot(invoice)
    rejections = Rejection.objects.count()

    response = APIClient().post(
        "/api/v1/events",
        json.dumps(
            {
                "type": "invoice.approved",
                "source": "shop",
                "occurred_at": "2026-11-25T12:00:00Z",
                "correlation_key": invoice.correlation_key,
                "payload": {},
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )

    assert 400 <= response.status_code < 500, response.content
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["code"] == "transition_not_permitted"
    assert _snapshot(invoice) == before
    assert Invoice.objects.get(pk=invoice.pk).state == InvoiceState.AWAITING_MANAGER
    assert Rejection.objects.count() == rejections + 1
    assert Rejection.objects.latest("received_at").problem == "transition_not_permitted"


def test_a_stale_binding_cannot_move_an_order_for_a_staff_session_either():
    _stale_binding(workflow="order", transition="cancel", name="order.cancelled")
    staff = user_with_perms("integrations.send_event", "processes.cancel_order")
    order = start_order()
    before = _snapshot(order)
    client = APIClient()
    client.force_login(staff)
    response = client.post(
        "/api/v1/events",
        json.dumps(
            {
                "type": "order.cancelled",
                "source": "desk",
                "occurred_at": "2026-11-25T12:00:00Z",
                "correlation_key": order.correlation_key,
                "payload": {},
            }
        ),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "transition_not_permitted"
    assert _snapshot(order) == before
    assert Order.objects.get(pk=order.pk).state == OrderState.RECEIVED


def test_every_decision_and_signal_is_declared_and_names_a_real_transition(monkeypatch):
    from processes.invoices.definition import INVOICE
    from processes.invoices.models import Invoice
    from processes.orders.definition import ORDER
    from workflows.declaration import Edge, FiredBy

    assert INVOICE.verdicts() == {
        "manager_approve",
        "manager_approve_for_finance",
        "manager_reject",
        "finance_approve",
        "finance_reject",
    }
    assert (ORDER.verdicts(), ORDER.signals()) == ({"approve", "reject"}, {"confirm_delivery"})
    step = INVOICE.step_named("manager.approval")
    teleport = Edge(target="paying", fired_by=FiredBy.DECISION, name="manager_teleport")
    monkeypatch.setattr(step, "approve_router", lambda workflow, instance: teleport)
    with pytest.raises(ValueError, match="manager_teleport"):
        step.approve_transition_for(Invoice(context={"approval": {"tier": "manager"}}))
