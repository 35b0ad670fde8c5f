# The queue and escalation groups the reference data created get the permissions deciding
# their steps takes, so a database migrated and never seeded by hand passes workflows.E021.

from django.db import migrations


def grant(apps, schema_editor):
    from processes import seeding
    from processes.invoices.definition import INVOICE
    from processes.orders.definition import ORDER

    for definition in (ORDER, INVOICE):
        seeding.grant_step_permissions(apps=apps, definition=definition)


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0003_definition_version"),
        ("approvals", "0004_information_answer"),
    ]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
