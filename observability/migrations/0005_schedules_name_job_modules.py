"""Every django-q2 schedule names its job in `<app>.jobs` (the callables left `<app>.tasks`,
where "task" meant a review task too). One migration for every app's schedules, after each
app's own: the old paths stay importable for rows already queued."""

from django.db import migrations

MOVED = {
    "approvals.tasks.sweep_review_deadlines": "approvals.jobs.sweep_review_deadlines",
    "audit.tasks.write_audit_checkpoint": "audit.jobs.write_audit_checkpoint",
    "integrations.tasks.fire_schedule": "integrations.jobs.fire_schedule",
    "integrations.tasks.purge_rejections": "integrations.jobs.purge_rejections",
    "workflows.tasks.sweep": "workflows.jobs.sweep",
    "observability.alerts.tasks.evaluate_alerts": "observability.alerts.jobs.evaluate_alerts",
    "observability.alerts.tasks.run_consistency_checks": (
        "observability.alerts.jobs.run_consistency_checks"
    ),
}


def _repoint(apps, moves: dict[str, str]) -> None:
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in moves.items():
        Schedule.objects.filter(func=old).update(func=new)


def forwards(apps, schema_editor):
    _repoint(apps, MOVED)


def backwards(apps, schema_editor):
    _repoint(apps, {new: old for old, new in MOVED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("observability", "0004_report_access_permission"),
        ("approvals", "0002_sweeper_schedule"),
        ("audit", "0004_checkpoint_schedule"),
        ("integrations", "0002_purge_rejections_schedule"),
        ("workflows", "0002_sweeper_schedule"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
