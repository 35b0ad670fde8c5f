"""The order's admin: its page shows the context in the order's own words."""

from django.contrib import admin

from processes.orders.models import Order
from workflows.admin import WorkflowInstanceAdmin
from workflows.context_display import ADDRESS, HIDDEN, MOMENT, MONEY, WEIGHT, Section, Shown


@admin.register(Order)
class OrderAdmin(WorkflowInstanceAdmin):
    context_sections = (
        Section(
            "Order",
            (
                Shown("input.order_id", "Order number"),
                Shown("input.customer", "Customer", listed=True),
                Shown("input.email", "Email"),
                Shown("input.address", "Delivery address", kind=ADDRESS),
                Shown("input.postcode", "Postcode"),
                # order.received carries no currency: the reference shop sells in pounds.
                Shown("input.value", "Order value", kind=MONEY, currency="GBP", listed=True),
                Shown("input.weight_kg", "Weight", kind=WEIGHT, unit="kg", listed=True),
            ),
        ),
        Section(
            "Policy check",
            (
                Shown("policy.review_required", "Needs a review"),
                Shown("policy.reasons", "Because"),
                Shown("policy.decision_id", "", kind=HIDDEN),
            ),
        ),
        Section(
            "Review",
            (
                Shown("carrier_choice.carrier", "Carrier chosen by the reviewer"),
                Shown("carrier_choice.by", "Chosen by"),
                Shown("carrier_choice.reason", "Reason for the choice"),
            ),
        ),
        Section(
            "Shipment",
            (
                Shown("shipment.carrier", "Carrier"),
                Shown("shipment.shipment_id", "Shipment"),
                Shown("signals.confirm_delivery.input.tracking_number", "Tracking number"),
                Shown("signals.confirm_delivery.input.signed_by", "Signed for by"),
                Shown("signals.confirm_delivery.input.delivered_at", "Delivered", kind=MOMENT),
            ),
        ),
    )
