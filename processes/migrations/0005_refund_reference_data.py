# The refund workflow's queue group, escalation policy, rule set, event type and binding,
# written once: what an operator changes or deletes later stays as they left it.

from django.db import migrations

from processes.refunds import seed as refund_seed


def seed(apps, schema_editor):
    refund_seed.seed(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('processes', '0004_refund'),
        ('approvals', '0004_information_answer'),
        ('decisions', '0002_admin_action_permissions'),
        ('integrations', '0005_admin_action_permissions'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
