import pytest
from django.core.management import call_command
from django.db import transaction
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from approvals.services import SelfApprovalRefused, approve_review, reject_review
from audit.models import Event
from audit.selectors import instance_timeline
from opscore.actors import SYSTEM, Actor
from processes.orders.models import Order, OrderState
from tests.factories import order_context, start_order, user_with_perms
from tests.workflows.drain import drain_executions
from workflows import engine, registry, services
from workflows.models import Execution

pytestmark = pytest.mark.django_db


def test_full_order_path_reaches_completed_with_every_step_recorded(carrier):
    reviewer = user_with_perms("processes.review_order", group="reviewers")
    order = start_order(value=5000)

    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW
    assert order.context["policy"]["reasons"] == ["value at or above 1000"]

    approve_review(instance=order, actor=Actor.for_user(reviewer))
    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD
    assert order.context["shipment"]["shipment_id"].startswith("SHP-")

    services.signal_workflow(
        workflow="order",
        correlation_key=order.correlation_key,
        transition="confirm_delivery",
        actor=Actor.for_integration("carrier"),
        data={"signed_by": "J. Doe"},
    )
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED
    transitions = [
        (e.payload["source"], e.payload["target"])
        for e in instance_timeline(instance=order)
        if e.type == "workflow.transition"
    ]
    assert transitions == [
        ("received", "in_review"),
        ("in_review", "dispatching"),
        ("dispatching", "awaiting_pod"),
        ("awaiting_pod", "completed"),
    ]
    assert order.version == 4
    assert carrier.ledger.stats()["shipments"] == 1


def test_low_risk_order_skips_manual_review(carrier):
    order = start_order(value=50, weight_kg=1)
    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD


def test_illegal_transition_is_refused_and_writes_nothing():
    order = start_order()
    events_before = Event.objects.count()
    executions_before = Execution.objects.count()

    with pytest.raises(engine.IllegalTransition, match="cannot 'confirm_delivery' from state"):
        engine.transition(instance=order, name="confirm_delivery", actor=SYSTEM)

    order.refresh_from_db()
    assert order.state == OrderState.RECEIVED
    assert order.version == 0
    assert Event.objects.count() == events_before
    assert Execution.objects.count() == executions_before


def test_unknown_transition_is_refused_by_name():
    order = start_order()
    with pytest.raises(engine.UnknownTransition, match="no transition 'teleport'"):
        engine.transition(instance=order, name="teleport", actor=SYSTEM)


def test_state_cannot_be_assigned_directly():
    order = start_order()
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        order.state = OrderState.COMPLETED


def test_transition_needs_the_permission_it_declares(carrier):
    order = start_order(value=5000)
    drain_executions()
    clerk = user_with_perms(group="reviewers")
    with pytest.raises(engine.TransitionNotPermitted):
        approve_review(instance=order, actor=Actor.for_user(clerk))
    order.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW


def test_requester_cannot_review_their_own_order(carrier):
    requester = user_with_perms("processes.review_order", group="reviewers")
    order = start_order(actor=Actor.for_user(requester), value=5000)
    drain_executions()
    with pytest.raises(SelfApprovalRefused):
        approve_review(instance=order, actor=Actor.for_user(requester))
    with pytest.raises(SelfApprovalRefused):
        reject_review(instance=order, actor=Actor.for_user(requester), reason="looks fine to me")
    order.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW


def test_reject_requires_a_reason(carrier):
    reviewer = user_with_perms("processes.review_order", group="reviewers")
    order = start_order(value=5000)
    drain_executions()
    with pytest.raises(engine.WorkflowError, match="reason is required"):
        reject_review(instance=order, actor=Actor.for_user(reviewer), reason="  ")


def test_stale_version_is_refused():
    order = start_order()
    with pytest.raises(engine.StaleInstance):
        engine.transition(instance=order, name="clear_policy", actor=SYSTEM, expected_version=3)


def test_failure_after_the_event_rolls_back_event_and_state_together():
    order = start_order()
    events_before = Event.objects.count()

    class Boom(Exception):
        pass

    def transition_then_fail() -> None:
        with transaction.atomic():
            engine.transition(instance=order, name="clear_policy", actor=SYSTEM)
            raise Boom

    with pytest.raises(Boom):
        transition_then_fail()

    order.refresh_from_db()
    assert order.state == OrderState.RECEIVED
    assert Event.objects.count() == events_before


def test_duplicate_correlation_key_is_refused_clearly():
    start_order(correlation_key="SO-1")
    with pytest.raises(engine.DuplicateCorrelationKey, match="SO-1"):
        start_order(correlation_key="SO-1")
    assert Order.objects.filter(correlation_key="SO-1").count() == 1


def _start_in_a_transaction_without_savepoints(correlation_key: str) -> None:
    from tests.factories import order_context

    with transaction.atomic():
        services.start_workflow(
            workflow="order",
            payload=order_context(),
            actor=SYSTEM,
            correlation_key=correlation_key,
            savepoint=False,
        )


def test_a_start_without_savepoints_writes_none_and_a_taken_key_dooms_the_callers_work():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    start_order(correlation_key="SO-1")
    with CaptureQueriesContext(connection) as started:
        _start_in_a_transaction_without_savepoints("SO-2")
    # Only the test's own block takes a savepoint (and releases it).
    assert sum("SAVEPOINT" in query["sql"] for query in started) == 2
    events_before = Event.objects.count()
    with pytest.raises(engine.DuplicateCorrelationKey, match="SO-1"):
        _start_in_a_transaction_without_savepoints("SO-1")
    assert Order.objects.filter(correlation_key__in=["SO-1", "SO-2"]).count() == 2
    assert Event.objects.count() == events_before


def test_registry_lists_the_order_workflow_and_its_steps():
    definition = registry.get("order")
    assert [step.name for step in definition.steps] == [
        "policy.check",
        "manual.review",
        "dispatch.execute",
        "pod.capture",
    ]
    assert registry.for_model(Order) is definition


def _what_a_start_wrote(order: Order) -> dict:
    """An instance's rows as a person reads them, its own id and key aside."""
    execution = Execution.objects.get(instance_id=order.pk, step="policy.check")
    queued = {
        task["name"]: task
        for task in (SignedPackage.loads(row.payload) for row in OrmQ.objects.all())
    }[execution.idempotency_key]
    return {
        "state": order.state,
        "started_by": order.started_by_id,
        "events": [
            (event.type, event.actor_ref, sorted(event.payload))
            for event in instance_timeline(instance=order)
        ],
        "history": list(
            order.history.values_list(
                "history_type", "history_user_id", "history_change_reason", "state", "version"
            )
        ),
        "execution": (execution.status, execution.max_attempts, execution.instance_version),
        "execution_key": execution.idempotency_key.replace(str(order.pk), "<pk>"),
        "queued_args": queued["args"] == (execution.pk,),
        "queued": {k: v for k, v in queued.items() if k not in ("id", "name", "args", "started")},
    }


def test_starting_many_instances_at_once_writes_what_starting_each_writes(carrier):
    requester = user_with_perms(username="requester")
    actor = Actor.for_user(requester)
    alone = services.start_workflow(
        workflow="order", payload=order_context(), actor=actor, correlation_key="SO-ALONE"
    )
    together = services.start_workflows(
        workflow="order",
        starts=[
            services.WorkflowStart(payload=order_context(), correlation_key=f"SO-MANY-{n}")
            for n in range(3)
        ],
        actor=actor,
    )

    assert [order.correlation_key for order in together] == [f"SO-MANY-{n}" for n in range(3)]
    expected = _what_a_start_wrote(Order.objects.get(pk=alone.pk))
    assert expected["history"] == [("+", requester.pk, None, "received", 0)]
    assert expected["queued_args"]
    assert expected["queued"]["save"] is False
    for order in together:
        assert _what_a_start_wrote(Order.objects.get(pk=order.pk)) == expected
    drain_executions()
    assert set(Order.objects.values_list("state", flat=True)) == {OrderState.AWAITING_POD}
    call_command("verify_audit", "--quiet")


def test_starting_many_with_one_key_taken_starts_none_and_writes_nothing():
    start_order(correlation_key="SO-1")
    counts = (Order.objects.count(), Event.objects.count(), Execution.objects.count())
    queued = OrmQ.objects.count()
    with pytest.raises(engine.DuplicateCorrelationKey):
        services.start_workflows(
            workflow="order",
            starts=[
                services.WorkflowStart(payload=order_context(), correlation_key=key)
                for key in ("SO-2", "SO-1")
            ],
            actor=SYSTEM,
        )
    assert (Order.objects.count(), Event.objects.count(), Execution.objects.count()) == counts
    assert OrmQ.objects.count() == queued
    assert not Order.objects.filter(correlation_key="SO-2").exists()
