"""A workflow model for declaration tests only: it has no table, and nothing runs on it."""

from django.db import models
from django_fsm import FSMField, transition

from workflows.models import WorkflowInstance


class ParcelState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    CHECKING = "checking", "Checking"
    SENT = "sent", "Sent"
    LOST = "lost", "Lost"


class Parcel(WorkflowInstance):
    # Its history model takes its app from the module: the engine's app, not tests.
    __module__ = "workflows.models"

    state = FSMField(
        default=ParcelState.WAITING, choices=ParcelState.choices, protected=True, db_index=True
    )
    workflow_name = "parcel"

    class Meta(WorkflowInstance.Meta):
        app_label = "workflows"
        permissions = [("check_parcel", "Can check a parcel")]

    @transition(field=state, source=ParcelState.LOST, target=ParcelState.SENT)
    def found_again(self) -> None:
        """Written on the model, never declared: the check reports it."""
