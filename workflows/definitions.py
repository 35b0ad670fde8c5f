"""The registered workflow types."""

from datetime import timedelta

from django.conf import settings

from approvals.hooks import close_review_task, confirm_decision, open_review_task
from decisions.reference import INVOICE_APPROVAL, ORDER_CARRIER, ORDER_POLICY
from workflows import invoice_steps, order_steps, registry
from workflows.models import Invoice, InvoiceState, Order, OrderState
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
                executor=order_steps.dispatch_to_carrier,
                on_success=lambda result: "mark_dispatched",
                context_update=order_steps.record_shipment,
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

INVOICE = registry.register(
    WorkflowDefinition(
        name="invoice",
        model=Invoice,
        description="Invoice approval: tier by amount, manager and finance approvals, payment.",
        steps=(
            MachineStep(
                name="approval.tier",
                state=InvoiceState.RECEIVED,
                executor=invoice_steps.decide_tier,
                on_success=invoice_steps.route_after_tier,
                context_update=invoice_steps.record_tier,
                max_attempts=3,
                rule_sets=(INVOICE_APPROVAL,),
            ),
            HumanStep(
                name="manager.approval",
                state=InvoiceState.AWAITING_MANAGER,
                approve_transition="manager_approve",
                approve_route=invoice_steps.route_manager_approval,
                approve_routes=("manager_approve", "manager_approve_for_finance"),
                reject_transition="manager_reject",
                sla=timedelta(hours=8),
                queue="managers",
                on_enter=open_review_task,
                on_exit=close_review_task,
                confirm_decision=confirm_decision,
            ),
            HumanStep(
                name="finance.approval",
                state=InvoiceState.AWAITING_FINANCE,
                approve_transition="finance_approve",
                reject_transition="finance_reject",
                sla=timedelta(hours=8),
                queue="finance",
                on_enter=open_review_task,
                on_exit=close_review_task,
                confirm_decision=confirm_decision,
            ),
            MachineStep(
                name="payment.execute",
                state=InvoiceState.PAYING,
                executor=invoice_steps.pay,
                on_success=lambda result: "mark_paid",
                context_update=invoice_steps.record_payment,
                max_attempts=6,
                connectors=(("http", "OPSCORE_PAYMENTS_URL"),),
            ),
        ),
        terminal_states=frozenset(
            {InvoiceState.PAID, InvoiceState.REJECTED, InvoiceState.CANCELLED, InvoiceState.FAILED}
        ),
    )
)
