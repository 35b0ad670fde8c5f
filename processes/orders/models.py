"""The reference workflow's instance: an order to fulfil."""

from django.db import models
from django_fsm import FSMField, transition

from workflows.models.base import WorkflowInstance


class OrderState(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_REVIEW = "in_review", "In manual review"
    DISPATCHING = "dispatching", "Dispatching"
    AWAITING_POD = "awaiting_pod", "Awaiting proof of delivery"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


OPEN_STATES = [
    OrderState.RECEIVED,
    OrderState.IN_REVIEW,
    OrderState.DISPATCHING,
    OrderState.AWAITING_POD,
]


class Order(WorkflowInstance):
    """Transitions declare; they hold no side effects (the engine schedules those)."""

    state = FSMField(
        default=OrderState.RECEIVED, choices=OrderState.choices, protected=True, db_index=True
    )
    workflow_name = "order"

    class Meta(WorkflowInstance.Meta):
        permissions = [
            ("review_order", "Can approve or reject an order in manual review"),
            ("cancel_order", "Can cancel an open order"),
        ]

    @transition(field=state, source=OrderState.RECEIVED, target=OrderState.DISPATCHING)
    def clear_policy(self) -> None:
        """policy.check found nothing that needs a person."""

    @transition(field=state, source=OrderState.RECEIVED, target=OrderState.IN_REVIEW)
    def flag_for_review(self) -> None:
        """policy.check wants a person to look at this order."""

    @transition(
        field=state,
        source=OrderState.IN_REVIEW,
        target=OrderState.DISPATCHING,
        permission="processes.review_order",
    )
    def approve(self) -> None:
        pass

    @transition(
        field=state,
        source=OrderState.IN_REVIEW,
        target=OrderState.CANCELLED,
        permission="processes.review_order",
    )
    def reject(self) -> None:
        pass

    @transition(field=state, source=OrderState.DISPATCHING, target=OrderState.AWAITING_POD)
    def mark_dispatched(self) -> None:
        pass

    @transition(field=state, source=OrderState.AWAITING_POD, target=OrderState.COMPLETED)
    def confirm_delivery(self) -> None:
        pass

    @transition(field=state, source=OrderState.AWAITING_POD, target=OrderState.FAILED)
    def expire_delivery(self) -> None:
        """No proof of delivery arrived before the timer ran out."""

    @transition(
        field=state,
        source=OrderState.DISPATCHING,
        target=OrderState.FAILED,
        permission="processes.cancel_order",
    )
    def abandon(self) -> None:
        """An operator gives up on a dispatch that went to the dead letter."""

    @transition(
        field=state,
        source=OPEN_STATES,
        target=OrderState.CANCELLED,
        permission="processes.cancel_order",
    )
    def cancel(self) -> None:
        pass
