"""The abstract workflow instance every workflow type's model extends, and the reference a row
keeps to one instance."""

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django_fsm import FSMField, FSMModelMixin
from simple_history.models import HistoricalRecords


def new_correlation_key() -> str:
    return uuid.uuid4().hex


class WorkflowInstance(FSMModelMixin, models.Model):
    """State is a protected FSM field: only `workflows.engine.transition` changes it."""

    state = FSMField(default="new", protected=True, db_index=True)
    correlation_key = models.CharField(max_length=200, unique=True, default=new_correlation_key)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    version = models.PositiveIntegerField(
        default=0, help_text="Number of transitions applied; executions and timers pin it."
    )
    definition_version = models.PositiveIntegerField(
        default=1,
        help_text="The version of the workflow's declaration this instance started under "
        "(or was last moved to).",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The person who requested or started this instance (never its approver).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(inherit=True)

    workflow_name: str = ""

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.correlation_key}"


class InstanceReference(models.Model):
    """A row that belongs to one workflow instance (a review task, an execution, a timer): a
    generic reference, since each workflow type is a model of its own."""

    instance_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    instance_id = models.PositiveBigIntegerField()
    instance = GenericForeignKey("instance_type", "instance_id")

    class Meta:
        abstract = True
