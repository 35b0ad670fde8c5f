"""The third reference workflow's instance: a customer's refund, judged eligible by a rule set,
approved by a person above a threshold, paid, and the customer told."""

from django.db import models
from django_fsm import FSMField

from workflows.models.base import WorkflowInstance


class RefundState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    PAYING = "paying", "Paying"
    NOTIFYING = "notifying", "Notifying the customer"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Refund(WorkflowInstance):
    """A refund's states; its transitions are generated from the refund workflow's declaration
    (`processes.refunds.definition.RefundWorkflow`)."""

    state = FSMField(
        default=RefundState.REQUESTED, choices=RefundState.choices, protected=True, db_index=True
    )
    workflow_name = "refund"

    class Meta(WorkflowInstance.Meta):
        permissions = [
            ("approve_refund", "Can approve or reject a refund"),
            ("cancel_refund", "Can cancel an open refund"),
        ]
