"""The invoice's admin: its page shows the context in the invoice's own words."""

from django.contrib import admin

from processes.invoices.models import Invoice
from workflows.admin import WorkflowInstanceAdmin
from workflows.context_display import HIDDEN, MONEY, Section, Shown


@admin.register(Invoice)
class InvoiceAdmin(WorkflowInstanceAdmin):
    context_sections = (
        Section(
            "Invoice",
            (
                Shown("input.invoice_id", "Invoice number"),
                Shown("input.supplier", "Supplier", listed=True),
                Shown(
                    "input.amount",
                    "Amount",
                    kind=MONEY,
                    currency_path="input.currency",
                    listed=True,
                ),
            ),
        ),
        Section(
            "Approval",
            (
                Shown(
                    "approval.tier",
                    "Approvals needed",
                    choices=(
                        ("auto", "none: paid without a person"),
                        ("manager", "a manager"),
                        ("manager_and_finance", "a manager, then a finance director"),
                    ),
                ),
                Shown("approval.decision_id", "", kind=HIDDEN),
            ),
        ),
        Section("Payment", (Shown("payment.payment_id", "Payment reference"),)),
    )
