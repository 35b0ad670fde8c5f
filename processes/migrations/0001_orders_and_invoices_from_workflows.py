# Order and invoice, with their simple-history models, arrive from the workflows app with
# their rows: the state takes over the tables as they are, then the tables are renamed, and the
# content type rows change app label in place (same ids), so what refers to an instance by
# content type (executions, timers, review tasks, decision records, audit events) and the
# permissions groups hold keep pointing at the same rows.

import django.core.serializers.json
import django.db.models.deletion
import django_fsm
import simple_history.models
import workflows.models.base
from django.conf import settings
from django.db import migrations, models

MOVED = ('order', 'historicalorder', 'invoice', 'historicalinvoice')


def _relabel(apps, schema_editor, *, old, new):
    content_type = apps.get_model('contenttypes', 'ContentType')
    rows = content_type.objects.using(schema_editor.connection.alias)
    for model in MOVED:
        if rows.filter(app_label=new, model=model).exists():
            continue  # already there (created after the move): nothing of the old label to keep
        rows.filter(app_label=old, model=model).update(app_label=new)
    # The running process may have cached the old labels.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


def move_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, old='workflows', new='processes')


def move_content_types_back(apps, schema_editor):
    _relabel(apps, schema_editor, old='processes', new='workflows')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('workflows', '0005_orders_and_invoices_move_to_processes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='HistoricalOrder',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('correlation_key', models.CharField(db_index=True, default=workflows.models.base.new_correlation_key, max_length=200)),
                        ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ('version', models.PositiveIntegerField(default=0, help_text='Number of transitions applied; executions and timers pin it.')),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('updated_at', models.DateTimeField(blank=True, editable=False)),
                        ('state', django_fsm.FSMField(choices=[('received', 'Received'), ('in_review', 'In manual review'), ('dispatching', 'Dispatching'), ('awaiting_pod', 'Awaiting proof of delivery'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('failed', 'Failed')], db_index=True, default='received', max_length=50, protected=True)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('started_by', models.ForeignKey(blank=True, db_constraint=False, help_text='The person who requested or started this instance (never its approver).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'workflows_historicalorder',
                        'verbose_name': 'historical order',
                        'verbose_name_plural': 'historical orders',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='Order',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('correlation_key', models.CharField(default=workflows.models.base.new_correlation_key, max_length=200, unique=True)),
                        ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ('version', models.PositiveIntegerField(default=0, help_text='Number of transitions applied; executions and timers pin it.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('state', django_fsm.FSMField(choices=[('received', 'Received'), ('in_review', 'In manual review'), ('dispatching', 'Dispatching'), ('awaiting_pod', 'Awaiting proof of delivery'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('failed', 'Failed')], db_index=True, default='received', max_length=50, protected=True)),
                        ('started_by', models.ForeignKey(blank=True, help_text='The person who requested or started this instance (never its approver).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'workflows_order',
                        'ordering': ['-created_at'],
                        'permissions': [('review_order', 'Can approve or reject an order in manual review'), ('cancel_order', 'Can cancel an open order')],
                        'abstract': False,
                    },
                    bases=(django_fsm.FSMModelMixin, models.Model),
                ),
                migrations.CreateModel(
                    name='HistoricalInvoice',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('correlation_key', models.CharField(db_index=True, default=workflows.models.base.new_correlation_key, max_length=200)),
                        ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ('version', models.PositiveIntegerField(default=0, help_text='Number of transitions applied; executions and timers pin it.')),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('updated_at', models.DateTimeField(blank=True, editable=False)),
                        ('state', django_fsm.FSMField(choices=[('received', 'Received'), ('awaiting_manager', 'Awaiting manager approval'), ('awaiting_finance', 'Awaiting finance director approval'), ('paying', 'Paying'), ('paid', 'Paid'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('failed', 'Payment failed')], db_index=True, default='received', max_length=50, protected=True)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('started_by', models.ForeignKey(blank=True, db_constraint=False, help_text='The person who requested or started this instance (never its approver).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'workflows_historicalinvoice',
                        'verbose_name': 'historical invoice',
                        'verbose_name_plural': 'historical invoices',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='Invoice',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('correlation_key', models.CharField(default=workflows.models.base.new_correlation_key, max_length=200, unique=True)),
                        ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ('version', models.PositiveIntegerField(default=0, help_text='Number of transitions applied; executions and timers pin it.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('state', django_fsm.FSMField(choices=[('received', 'Received'), ('awaiting_manager', 'Awaiting manager approval'), ('awaiting_finance', 'Awaiting finance director approval'), ('paying', 'Paying'), ('paid', 'Paid'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('failed', 'Payment failed')], db_index=True, default='received', max_length=50, protected=True)),
                        ('started_by', models.ForeignKey(blank=True, help_text='The person who requested or started this instance (never its approver).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'workflows_invoice',
                        'ordering': ['-created_at'],
                        'permissions': [('approve_invoice', 'Can approve or reject an invoice as a manager'), ('finance_approve_invoice', 'Can approve or reject an invoice as finance director'), ('cancel_invoice', 'Can cancel an open invoice')],
                        'abstract': False,
                    },
                    bases=(django_fsm.FSMModelMixin, models.Model),
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='historicalorder', table=None),
        migrations.AlterModelTable(name='order', table=None),
        migrations.AlterModelTable(name='historicalinvoice', table=None),
        migrations.AlterModelTable(name='invoice', table=None),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
