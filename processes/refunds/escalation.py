"""The refund workflow's approval queue group and escalation policy, as first seeded."""

from datetime import timedelta

QUEUE_GROUPS = ["refund-approvers", "supervisors"]

ESCALATION_POLICIES = [
    {
        "workflow": "refund",
        "step": "refund.approval",
        "sla": timedelta(hours=4),
        "reminder_before": timedelta(hours=1),
        "escalate_to": "supervisors",
        "further_levels": [],
        "expire_after": None,
        "business_hours": None,
    },
]
