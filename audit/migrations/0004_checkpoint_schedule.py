from django.db import migrations

CHECKPOINT = "opscore.audit_checkpoint"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=CHECKPOINT,
        defaults={
            "func": "audit.tasks.write_audit_checkpoint",
            "schedule_type": "I",
            "minutes": 10,
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=CHECKPOINT).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_event_key_id"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
