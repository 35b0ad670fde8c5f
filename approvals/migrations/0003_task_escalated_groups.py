from django.db import migrations, models


def backfill(apps, schema_editor):
    """Tasks escalated before this field existed get every level they reached so far."""
    ReviewTask = apps.get_model("approvals", "ReviewTask")
    Group = apps.get_model("auth", "Group")
    for task in ReviewTask.objects.filter(escalation_level__gt=0).iterator():
        names = (task.policy_snapshot or {}).get("levels") or []
        groups = set(Group.objects.filter(name__in=names[: task.escalation_level]))
        if task.escalated_to_id:
            groups.add(Group.objects.get(pk=task.escalated_to_id))
        task.escalated_groups.add(*groups)


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0002_sweeper_schedule"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewtask",
            name="escalated_groups",
            field=models.ManyToManyField(blank=True, related_name="+", to="auth.group"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
