"""The order workflow: policy check, manual review, dispatch, proof of delivery."""

from datetime import timedelta

from django.conf import settings

from approvals.hooks import close_review_task, confirm_decision, open_review_task
from processes.orders import steps
from processes.orders.models import Order, OrderState
from processes.orders.rules import ORDER_CARRIER, ORDER_POLICY
from workflows import registry
from workflows.registry import HumanStep, MachineStep, WaitStep, WorkflowDefinition


def _pod_timeout() -> timedelta:
    return timedelta(hours=getattr(settings, "OPSCORE_POD_TIMEOUT_HOURS", 72))


ORDER = registry.register(
    WorkflowDefinition(
        name="order",
        model=Order,
        description="Order fulfilment: policy check, manual review, dispatch, proof of delivery.",
        steps=(
            MachineStep(
                name="policy.check",
                state=OrderState.RECEIVED,
                executor=steps.check_policy,
                on_success=steps.route_after_policy,
                context_update=steps.record_policy,
                max_attempts=3,
                rule_sets=(ORDER_POLICY,),
            ),
            HumanStep(
                name="manual.review",
                state=OrderState.IN_REVIEW,
                approve_transition="approve",
                reject_transition="reject",
                sla=timedelta(hours=2),
                queue="reviewers",
                on_enter=open_review_task,
                on_exit=close_review_task,
                confirm_decision=confirm_decision,
            ),
            MachineStep(
                name="dispatch.execute",
                state=OrderState.DISPATCHING,
                executor=steps.dispatch_to_carrier,
                on_success=lambda result: "mark_dispatched",
                context_update=steps.record_shipment,
                max_attempts=6,
                rule_sets=(ORDER_CARRIER,),
                connectors=(("http", "OPSCORE_CARRIER_URL"),),
            ),
            WaitStep(
                name="pod.capture",
                state=OrderState.AWAITING_POD,
                signal_transition="confirm_delivery",
                timeout=_pod_timeout,
                on_timeout="expire_delivery",
            ),
        ),
        terminal_states=frozenset({OrderState.COMPLETED, OrderState.CANCELLED, OrderState.FAILED}),
    )
)
