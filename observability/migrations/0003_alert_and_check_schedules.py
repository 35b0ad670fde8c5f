from django.db import migrations

ALERTS = "opscore.alerts"
CHECKS = "opscore.consistency_checks"


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=ALERTS,
        defaults={
            "func": "observability.alerts.tasks.evaluate_alerts",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )
    # verify_audit reads the whole log and the projection check replays it: hourly, not each
    # minute; the alert rules read the latest result in between.
    Schedule.objects.update_or_create(
        name=CHECKS,
        defaults={
            "func": "observability.alerts.tasks.run_consistency_checks",
            "schedule_type": "I",
            "minutes": 60,
            "repeats": -1,
        },
    )


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[ALERTS, CHECKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("observability", "0002_alert_deliveries_acknowledge_permission"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
