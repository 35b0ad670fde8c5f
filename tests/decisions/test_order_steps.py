import pytest

from decisions import selectors, services
from processes.orders.models import OrderState
from processes.orders.rules import ORDER_CARRIER, ORDER_POLICY
from tests.factories import start_order
from tests.workflows.drain import drain_executions
from workflows.models import Execution
from workflows.models.execution import ExecutionStatus

pytestmark = pytest.mark.django_db


def test_policy_and_carrier_decisions_are_recorded_against_the_order_and_step(carrier):
    order = start_order(value=50, weight_kg=25, postcode="SW1A 1AA")
    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.AWAITING_POD

    policy = selectors.latest_decision_for(instance=order, rule_set=ORDER_POLICY)
    assert policy.step == "policy.check"
    assert policy.outputs == {"review_required": False, "reasons": []}
    assert policy.primary_rule_id == "low-risk"
    assert order.context["policy"]["decision_id"] == policy.pk

    choice = selectors.latest_decision_for(instance=order, rule_set=ORDER_CARRIER)
    assert choice.step == "dispatch.execute"
    assert choice.inputs == {"weight_kg": 25.0, "postcode_area": "SW"}
    assert choice.outputs == {"carrier": "freightline"}
    assert order.context["shipment"]["carrier"] == "freightline"


def test_a_heavy_order_is_flagged_by_the_heavy_rule(carrier):
    order = start_order(value=10, weight_kg=31)
    drain_executions()
    order.refresh_from_db()
    assert order.state == OrderState.IN_REVIEW
    assert order.context["policy"]["reasons"] == ["weight above 30 kg"]
    assert selectors.latest_decision_for(instance=order, rule_set=ORDER_POLICY).primary_rule_id == (
        "heavy"
    )


def test_without_a_published_version_the_step_dies_with_a_clear_error(publisher):
    services.retire_ruleset(rule_set=selectors.ruleset_by_slug(slug=ORDER_POLICY), actor=publisher)
    order = start_order()
    drain_executions()
    order.refresh_from_db()
    execution = Execution.objects.get(step="policy.check")
    assert order.state == OrderState.RECEIVED
    assert execution.status == ExecutionStatus.DEAD
    assert execution.attempts == 1  # permanent: no retries
    assert "NoPublishedVersion" in execution.last_error
    assert "'order-policy' has no published version" in execution.last_error


def test_a_reviewers_carrier_choice_is_used_and_counted_as_an_override(carrier):
    from approvals.selectors import active_task_for
    from approvals.services import approve_task
    from decisions.models import Override
    from opscore.actors import Actor
    from tests.factories import user_with_perms

    reviewer = user_with_perms(
        "approvals.work_reviewtask", "processes.review_order", username="rita", group="reviewers"
    )
    order = start_order(value=5000, weight_kg=2, postcode="AB1 2CD")
    drain_executions()
    # The reviewer picks the carrier as they approve: approvals writes the choice.
    order.refresh_from_db()
    approve_task(
        task=active_task_for(instance=order),
        actor=Actor.for_user(reviewer),
        context_update={
            "carrier_choice": {"carrier": "southexpress", "by": "rita", "reason": "island"}
        },
    )
    drain_executions()
    order.refresh_from_db()
    assert order.context["shipment"]["carrier"] == "southexpress"
    assert carrier.ledger.stats()["shipments"] == 1
    override = Override.objects.get()
    assert override.rule_id == "north"
    assert override.recommended == {"carrier": "northpost"}
    assert override.user == reviewer
