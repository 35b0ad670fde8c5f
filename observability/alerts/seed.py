"""Default alert rules for a new installation's demo: one per kind, mailed to on-call."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group

from observability.models import AlertKind, AlertRule

ON_CALL_GROUP = "on-call"

DEFAULT_RULES = [
    {"name": "Dead letters present", "kind": AlertKind.DEAD_LETTERS, "threshold": 1},
    {"name": "Worker cluster silent", "kind": AlertKind.CLUSTER_SILENT},
    {"name": "Sweeper stale", "kind": AlertKind.SWEEPER_STALE},
    {
        "name": "SLA breach rate over 20% (any queue, 24 h)",
        "kind": AlertKind.SLA_BREACH_RATE,
        "threshold": 0.2,
        "window": timedelta(hours=24),
    },
    {
        "name": "Rejection spike (50 in 5 min per integration)",
        "kind": AlertKind.REJECTION_SPIKE,
        "threshold": 50,
        "window": timedelta(minutes=5),
    },
    {
        "name": "401 storm (20 in 5 min per integration)",
        "kind": AlertKind.AUTH_FAILURE_STORM,
        "threshold": 20,
        "window": timedelta(minutes=5),
    },
    {
        "name": "Stuck orders",
        "kind": AlertKind.STUCK_INSTANCES,
        "workflow": "order",
        "threshold": 1,
        "window": timedelta(minutes=15),
    },
    {
        "name": "Stuck invoices",
        "kind": AlertKind.STUCK_INSTANCES,
        "workflow": "invoice",
        "threshold": 1,
        "window": timedelta(minutes=15),
    },
    {"name": "Audit verification failed", "kind": AlertKind.AUDIT_VERIFY_FAILED},
    {"name": "Projection check failed", "kind": AlertKind.PROJECTION_CHECK_FAILED},
]


def seed_default_alert_rules() -> int:
    """Create the default rules that are missing, mailed to the on-call group; returns how
    many were created. Never changes a rule that exists (people tune them)."""
    on_call, _ = Group.objects.get_or_create(name=ON_CALL_GROUP)
    created = 0
    for fields in DEFAULT_RULES:
        _, was_created = AlertRule.objects.get_or_create(
            name=fields["name"],
            defaults={**{k: v for k, v in fields.items() if k != "name"}, "notify_group": on_call},
        )
        created += was_created
    return created
