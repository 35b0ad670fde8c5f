"""The order workflow: policy check, manual review, dispatch, proof of delivery."""

from datetime import timedelta
from typing import Any

from django.conf import settings

from approvals.hooks import REVIEW_TASK
from processes.orders import steps
from processes.orders.models import Order, OrderState
from processes.orders.rules import ORDER_CARRIER, ORDER_POLICY
from workflows import registry
from workflows.declaration import (
    Edge,
    HumanStep,
    MachineStep,
    WaitStep,
    WorkflowDefinition,
    cancelled,
)


def _pod_timeout() -> timedelta:
    return timedelta(hours=getattr(settings, "OPSCORE_POD_TIMEOUT_HOURS", 72))


class OrderWorkflow(WorkflowDefinition):
    """Order fulfilment: policy check, manual review, dispatch, proof of delivery."""

    name = "order"
    version = 1
    model = Order
    initial = OrderState.RECEIVED
    terminal = (OrderState.COMPLETED, OrderState.CANCELLED, OrderState.FAILED)
    starts_on = ("order.received",)

    policy_check = MachineStep(
        "policy.check",
        state=OrderState.RECEIVED,
        executor=steps.check_policy,
        context_update=steps.record_policy,
        max_attempts=3,
        rule_sets=(ORDER_POLICY,),
    )
    clear_policy = policy_check.outcome(to=OrderState.DISPATCHING)
    flag_for_review = policy_check.outcome(to=OrderState.IN_REVIEW)

    @policy_check.routes
    def after_policy(self, result: dict[str, Any]) -> Edge:
        return self.flag_for_review if result["review_required"] else self.clear_policy

    manual_review = HumanStep(
        "manual.review",
        state=OrderState.IN_REVIEW,
        queue="reviewers",
        sla=timedelta(hours=2),
        hooks=REVIEW_TASK,
    )
    approve = manual_review.approved(to=OrderState.DISPATCHING, permission="processes.review_order")
    reject = manual_review.rejected(to=OrderState.CANCELLED, permission="processes.review_order")

    dispatch = MachineStep(
        "dispatch.execute",
        state=OrderState.DISPATCHING,
        executor=steps.dispatch_to_carrier,
        context_update=steps.record_shipment,
        max_attempts=6,
        rule_sets=(ORDER_CARRIER,),
        connectors=(("http", "OPSCORE_CARRIER_URL"),),
    )
    mark_dispatched = dispatch.outcome(to=OrderState.AWAITING_POD)
    abandon = dispatch.abandoned(to=OrderState.FAILED, permission="processes.cancel_order")

    pod_capture = WaitStep("pod.capture", state=OrderState.AWAITING_POD, timeout=_pod_timeout)
    confirm_delivery = pod_capture.signalled(by="shipment.delivered", to=OrderState.COMPLETED)
    expire_delivery = pod_capture.timed_out(to=OrderState.FAILED)

    cancel = cancelled(to=OrderState.CANCELLED, permission="processes.cancel_order")


ORDER = registry.register(OrderWorkflow())
