"""The approvals jobs django-q2 runs: thin wrappers that call one service each."""

from approvals import services


def sweep_review_deadlines() -> dict[str, int]:
    report = services.sweep_review_deadlines()
    return {
        "reminders": report.reminders,
        "escalations": report.escalations,
        "expirations": report.expirations,
        "emails_sent": report.emails_sent,
        "emails_failed": report.emails_failed,
    }


def deliver_notifications() -> dict[str, int]:
    sent, failed = services.deliver_notifications()
    return {"emails_sent": sent, "emails_failed": failed}
