"""The order workflow's review queue groups and escalation policy, as first seeded."""

from datetime import timedelta

QUEUE_GROUPS = ["reviewers", "supervisors"]

ESCALATION_POLICIES = [
    {
        "workflow": "order",
        "step": "manual.review",
        "sla": timedelta(hours=2),
        "reminder_before": timedelta(minutes=30),
        "escalate_to": "supervisors",
        "further_levels": [],
        "expire_after": None,
        "business_hours": None,
    },
]
