"""The refund's admin: its page shows the context in the refund's own words."""

from django.contrib import admin

from processes.refunds.models import Refund
from workflows.admin import WorkflowInstanceAdmin
from workflows.context_display import HIDDEN, MONEY, Section, Shown


@admin.register(Refund)
class RefundAdmin(WorkflowInstanceAdmin):
    context_sections = (
        Section(
            "Refund",
            (
                Shown("input.refund_id", "Refund number"),
                Shown("input.order_id", "Order"),
                Shown("input.customer", "Customer", listed=True),
                Shown("input.email", "Email"),
                Shown(
                    "input.amount",
                    "Amount",
                    kind=MONEY,
                    currency_path="input.currency",
                    listed=True,
                ),
                Shown("input.purchased_on", "Purchased on"),
                Shown("input.reason", "Customer's reason"),
            ),
        ),
        Section(
            "Eligibility",
            (
                Shown("eligibility.eligible", "Eligible"),
                Shown("eligibility.approval_required", "Needs approval"),
                Shown("eligibility.reason", "Why"),
                Shown("eligibility.decision_id", "", kind=HIDDEN),
            ),
        ),
        Section(
            "Payment",
            (
                Shown("payment.payment_id", "Payment reference"),
                Shown("notice.sent", "Customer notified"),
            ),
        ),
    )
