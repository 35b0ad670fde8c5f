"""The invoice workflow's approval queue groups and escalation policies, as first seeded."""

from datetime import timedelta

QUEUE_GROUPS = ["managers", "finance", "supervisors"]

# Invoices wait in office hours only: a manager is not expected to approve at midnight.
OFFICE_HOURS = {"timezone": "UTC", "weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}

ESCALATION_POLICIES = [
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
