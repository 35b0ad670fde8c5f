# The refund workflow's instance and its history: a new process needs only its own tables.

import django.core.serializers.json
import django.db.models.deletion
import django_fsm
import simple_history.models
import workflows.models.base
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('processes', '0003_definition_version'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalRefund',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('correlation_key', models.CharField(db_index=True, default=workflows.models.base.new_correlation_key, max_length=200)),
                ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('version', models.PositiveIntegerField(default=0, help_text='Number of transitions applied; executions and timers pin it.')),
                ('definition_version', models.PositiveIntegerField(default=1, help_text="The version of the workflow's declaration this instance started under (or was last moved to).")),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('updated_at', models.DateTimeField(blank=True, editable=False)),
                ('state', django_fsm.FSMField(choices=[('requested', 'Requested'), ('awaiting_approval', 'Awaiting approval'), ('paying', 'Paying'), ('notifying', 'Notifying the customer'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('failed', 'Failed')], db_index=True, default='requested', max_length=50, protected=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('started_by', models.ForeignKey(blank=True, db_constraint=False, help_text='The person who requested or started this instance (never its approver).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical refund',
                'verbose_name_plural': 'historical refunds',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='Refund',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('correlation_key', models.CharField(default=workflows.models.base.new_correlation_key, max_length=200, unique=True)),
                ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('version', models.PositiveIntegerField(default=0, help_text='Number of transitions applied; executions and timers pin it.')),
                ('definition_version', models.PositiveIntegerField(default=1, help_text="The version of the workflow's declaration this instance started under (or was last moved to).")),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('state', django_fsm.FSMField(choices=[('requested', 'Requested'), ('awaiting_approval', 'Awaiting approval'), ('paying', 'Paying'), ('notifying', 'Notifying the customer'), ('completed', 'Completed'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('failed', 'Failed')], db_index=True, default='requested', max_length=50, protected=True)),
                ('started_by', models.ForeignKey(blank=True, help_text='The person who requested or started this instance (never its approver).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at'],
                'permissions': [('approve_refund', 'Can approve or reject a refund'), ('cancel_refund', 'Can cancel an open refund')],
                'abstract': False,
            },
            bases=(django_fsm.FSMModelMixin, models.Model),
        ),
    ]
