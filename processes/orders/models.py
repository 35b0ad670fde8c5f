"""The reference workflow's instance: an order to fulfil."""

from django.db import models
from django_fsm import FSMField

from workflows.models.base import WorkflowInstance


class OrderState(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_REVIEW = "in_review", "In manual review"
    DISPATCHING = "dispatching", "Dispatching"
    AWAITING_POD = "awaiting_pod", "Awaiting proof of delivery"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Order(WorkflowInstance):
    """An order's states; its transitions are generated from the order workflow's declaration
    (`processes.orders.definition.OrderWorkflow`), which says who fires each."""

    state = FSMField(
        default=OrderState.RECEIVED, choices=OrderState.choices, protected=True, db_index=True
    )
    workflow_name = "order"

    class Meta(WorkflowInstance.Meta):
        permissions = [
            ("review_order", "Can approve or reject an order in manual review"),
            ("cancel_order", "Can cancel an open order"),
        ]
