"""The second reference workflow's instance: a supplier invoice to approve, tiered by amount,
then pay."""

from django.db import models
from django_fsm import FSMField, transition

from workflows.models.base import WorkflowInstance


class InvoiceState(models.TextChoices):
    RECEIVED = "received", "Received"
    AWAITING_MANAGER = "awaiting_manager", "Awaiting manager approval"
    AWAITING_FINANCE = "awaiting_finance", "Awaiting finance director approval"
    PAYING = "paying", "Paying"
    PAID = "paid", "Paid"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Payment failed"


INVOICE_OPEN_STATES = [
    InvoiceState.RECEIVED,
    InvoiceState.AWAITING_MANAGER,
    InvoiceState.AWAITING_FINANCE,
    InvoiceState.PAYING,
]


class Invoice(WorkflowInstance):
    """Transitions declare; the approval tier comes from the `invoice-approval` rule set."""

    state = FSMField(
        default=InvoiceState.RECEIVED, choices=InvoiceState.choices, protected=True, db_index=True
    )
    workflow_name = "invoice"

    class Meta(WorkflowInstance.Meta):
        permissions = [
            ("approve_invoice", "Can approve or reject an invoice as a manager"),
            ("finance_approve_invoice", "Can approve or reject an invoice as finance director"),
            ("cancel_invoice", "Can cancel an open invoice"),
        ]

    @transition(field=state, source=InvoiceState.RECEIVED, target=InvoiceState.PAYING)
    def auto_approve(self) -> None:
        """Small enough to pay without a person."""

    @transition(field=state, source=InvoiceState.RECEIVED, target=InvoiceState.AWAITING_MANAGER)
    def request_manager_approval(self) -> None:
        pass

    @transition(
        field=state,
        source=InvoiceState.AWAITING_MANAGER,
        target=InvoiceState.PAYING,
        permission="processes.approve_invoice",
    )
    def manager_approve(self) -> None:
        pass

    @transition(
        field=state,
        source=InvoiceState.AWAITING_MANAGER,
        target=InvoiceState.AWAITING_FINANCE,
        permission="processes.approve_invoice",
    )
    def manager_approve_for_finance(self) -> None:
        """The largest tier: a finance director approves after the manager."""

    @transition(
        field=state,
        source=InvoiceState.AWAITING_MANAGER,
        target=InvoiceState.REJECTED,
        permission="processes.approve_invoice",
    )
    def manager_reject(self) -> None:
        pass

    @transition(
        field=state,
        source=InvoiceState.AWAITING_FINANCE,
        target=InvoiceState.PAYING,
        permission="processes.finance_approve_invoice",
    )
    def finance_approve(self) -> None:
        pass

    @transition(
        field=state,
        source=InvoiceState.AWAITING_FINANCE,
        target=InvoiceState.REJECTED,
        permission="processes.finance_approve_invoice",
    )
    def finance_reject(self) -> None:
        pass

    @transition(field=state, source=InvoiceState.PAYING, target=InvoiceState.PAID)
    def mark_paid(self) -> None:
        pass

    @transition(
        field=state,
        source=InvoiceState.PAYING,
        target=InvoiceState.FAILED,
        permission="processes.cancel_invoice",
    )
    def abandon(self) -> None:
        """An operator gives up on a payment that went to the dead letter."""

    @transition(
        field=state,
        source=INVOICE_OPEN_STATES,
        target=InvoiceState.CANCELLED,
        permission="processes.cancel_invoice",
    )
    def cancel(self) -> None:
        pass
