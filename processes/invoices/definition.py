"""The invoice workflow: approval tier by amount, manager and finance approvals, payment."""

from datetime import timedelta

from approvals.hooks import close_review_task, confirm_decision, open_review_task
from processes.invoices import steps
from processes.invoices.models import Invoice, InvoiceState
from processes.invoices.rules import INVOICE_APPROVAL
from workflows import registry
from workflows.registry import HumanStep, MachineStep, WorkflowDefinition

INVOICE = registry.register(
    WorkflowDefinition(
        name="invoice",
        model=Invoice,
        description="Invoice approval: tier by amount, manager and finance approvals, payment.",
        steps=(
            MachineStep(
                name="approval.tier",
                state=InvoiceState.RECEIVED,
                executor=steps.decide_tier,
                on_success=steps.route_after_tier,
                context_update=steps.record_tier,
                max_attempts=3,
                rule_sets=(INVOICE_APPROVAL,),
            ),
            HumanStep(
                name="manager.approval",
                state=InvoiceState.AWAITING_MANAGER,
                approve_transition="manager_approve",
                approve_route=steps.route_manager_approval,
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
                executor=steps.pay,
                on_success=lambda result: "mark_paid",
                context_update=steps.record_payment,
                max_attempts=6,
                connectors=(("http", "OPSCORE_PAYMENTS_URL"),),
            ),
        ),
        terminal_states=frozenset(
            {InvoiceState.PAID, InvoiceState.REJECTED, InvoiceState.CANCELLED, InvoiceState.FAILED}
        ),
    )
)
