"""Reads about alerts, for the overview, the system map and the metrics."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from observability.models import Alert, AlertKind, AlertRule

# Kinds that watch every workflow's steps when their rule names no workflow.
WORKFLOW_KINDS = (AlertKind.DEAD_LETTERS, AlertKind.STUCK_INSTANCES)


def open_alerts() -> QuerySet[Alert]:
    """Open alerts, unacknowledged first, newest first."""
    return (
        Alert.objects.filter(resolved_at__isnull=True)
        .select_related("rule", "acknowledged_by")
        .order_by("acknowledged_at", "-opened_at")
    )


def rules_covering_workflow(*, workflow: str) -> QuerySet[AlertRule]:
    """Enabled rules that would fire for a step of `workflow` going wrong (dead letter, stuck)."""
    return AlertRule.objects.filter(
        Q(workflow=workflow) | Q(workflow=""), enabled=True, kind__in=WORKFLOW_KINDS
    )
