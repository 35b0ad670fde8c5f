# The order and invoice models leave the engine for the processes app. Their tables stay:
# processes' first migration takes them over (and renames them), so this one changes the
# migration state alone.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0004_execution_request_id'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='HistoricalOrder'),
                migrations.DeleteModel(name='Order'),
                migrations.DeleteModel(name='HistoricalInvoice'),
                migrations.DeleteModel(name='Invoice'),
            ],
            database_operations=[],
        ),
    ]
