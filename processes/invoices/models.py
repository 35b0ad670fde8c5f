"""The second reference workflow's instance: a supplier invoice to approve, tiered by amount,
then pay."""

from django.db import models
from django_fsm import FSMField

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


class Invoice(WorkflowInstance):
    """An invoice's states; its transitions are generated from the invoice workflow's
    declaration (`processes.invoices.definition.InvoiceWorkflow`)."""

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
