# The order and invoice workflows' queue groups, escalation policies, rule sets, event types
# and bindings, written once: a database that has them (seeded before they moved here) keeps
# them as they are, and what an operator deletes later stays deleted.

from django.db import migrations

from processes.invoices import seed as invoice_seed
from processes.orders import seed as order_seed


def seed(apps, schema_editor):
    order_seed.seed(apps=apps)
    invoice_seed.seed(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('processes', '0001_orders_and_invoices_from_workflows'),
        ('approvals', '0003_task_escalated_groups'),
        ('decisions', '0002_admin_action_permissions'),
        ('integrations', '0005_admin_action_permissions'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
