"""The invoice workflow: approval tier by amount, manager and finance approvals, payment."""

from datetime import timedelta
from typing import Any

from approvals.hooks import REVIEW_TASK
from processes.invoices import steps
from processes.invoices.models import Invoice, InvoiceState
from processes.invoices.rules import INVOICE_APPROVAL
from workflows import registry
from workflows.declaration import Edge, HumanStep, MachineStep, WorkflowDefinition, cancelled
from workflows.models import WorkflowInstance


class InvoiceWorkflow(WorkflowDefinition):
    """Invoice approval: tier by amount, manager and finance approvals, payment."""

    name = "invoice"
    version = 1
    model = Invoice
    initial = InvoiceState.RECEIVED
    terminal = (
        InvoiceState.PAID,
        InvoiceState.REJECTED,
        InvoiceState.CANCELLED,
        InvoiceState.FAILED,
    )

    approval_tier = MachineStep(
        "approval.tier",
        state=InvoiceState.RECEIVED,
        executor=steps.decide_tier,
        context_update=steps.record_tier,
        max_attempts=3,
        rule_sets=(INVOICE_APPROVAL,),
    )
    auto_approve = approval_tier.outcome(to=InvoiceState.PAYING)
    request_manager_approval = approval_tier.outcome(to=InvoiceState.AWAITING_MANAGER)

    @approval_tier.routes
    def after_tier(self, result: dict[str, Any]) -> Edge:
        if steps.pays_without_approval(result):
            return self.auto_approve
        return self.request_manager_approval

    manager_approval = HumanStep(
        "manager.approval",
        state=InvoiceState.AWAITING_MANAGER,
        queue="managers",
        sla=timedelta(hours=8),
        hooks=REVIEW_TASK,
    )
    manager_approve = manager_approval.approved(
        to=InvoiceState.PAYING, permission="processes.approve_invoice"
    )
    manager_approve_for_finance = manager_approval.approved(
        to=InvoiceState.AWAITING_FINANCE, permission="processes.approve_invoice"
    )
    manager_reject = manager_approval.rejected(
        to=InvoiceState.REJECTED, permission="processes.approve_invoice"
    )

    @manager_approval.routes_approval
    def after_manager(self, instance: WorkflowInstance) -> Edge:
        if steps.needs_finance_approval(instance):
            return self.manager_approve_for_finance
        return self.manager_approve

    finance_approval = HumanStep(
        "finance.approval",
        state=InvoiceState.AWAITING_FINANCE,
        queue="finance",
        sla=timedelta(hours=8),
        hooks=REVIEW_TASK,
    )
    finance_approve = finance_approval.approved(
        to=InvoiceState.PAYING, permission="processes.finance_approve_invoice"
    )
    finance_reject = finance_approval.rejected(
        to=InvoiceState.REJECTED, permission="processes.finance_approve_invoice"
    )

    payment = MachineStep(
        "payment.execute",
        state=InvoiceState.PAYING,
        executor=steps.pay,
        context_update=steps.record_payment,
        max_attempts=6,
        connectors=(("http", "OPSCORE_PAYMENTS_URL"),),
    )
    mark_paid = payment.outcome(to=InvoiceState.PAID)
    abandon = payment.abandoned(to=InvoiceState.FAILED, permission="processes.cancel_invoice")

    cancel = cancelled(to=InvoiceState.CANCELLED, permission="processes.cancel_invoice")


INVOICE = registry.register(InvoiceWorkflow())
