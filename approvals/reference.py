"""The escalation policies of the reference workflows' human steps, as first seeded."""

from datetime import timedelta

REVIEW_GROUPS = ["reviewers", "supervisors", "managers", "finance"]

# Invoices wait in office hours only: a manager is not expected to approve at midnight.
OFFICE_HOURS = {"timezone": "UTC", "weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}

REFERENCE_POLICIES = [
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
    {
        "workflow": "invoice",
        "step": "manager.approval",
        "sla": timedelta(hours=8),
        "reminder_before": timedelta(hours=1),
        "escalate_to": "supervisors",
        "further_levels": [],
        "expire_after": None,
        "business_hours": OFFICE_HOURS,
    },
    {
        "workflow": "invoice",
        "step": "finance.approval",
        "sla": timedelta(hours=8),
        "reminder_before": timedelta(hours=1),
        "escalate_to": "supervisors",
        "further_levels": [],
        "expire_after": None,
        "business_hours": OFFICE_HOURS,
    },
]
