"""The registered workflow types."""

from datetime import timedelta

from django.conf import settings

from workflows import order_steps, registry
from workflows.models import Order, OrderState
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
                executor=order_steps.check_policy,
                on_success=order_steps.route_after_policy,
                context_update=order_steps.record_policy,
                max_attempts=3,
            ),
            HumanStep(
                name="manual.review",
                state=OrderState.IN_REVIEW,
                approve_transition="approve",
                reject_transition="reject",
                sla=timedelta(hours=2),
                queue="reviewers",
            ),
            MachineStep(
                name="dispatch.execute",
                state=OrderState.DISPATCHING,
                executor=order_steps.dispatch_to_carrier,
                on_success=lambda result: "mark_dispatched",
                context_update=order_steps.record_shipment,
                max_attempts=6,
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
