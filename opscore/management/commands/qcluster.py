"""django-q2's `qcluster`, its processes keeping their database connections between tasks."""

from django.conf import settings
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand


class Command(DjangoQClusterCommand):
    help = (
        "Start a django-q2 cluster whose processes keep their database connections for "
        "OPSCORE_WORKER_DB_CONN_MAX_AGE seconds (checked before each task, replaced when broken)."
    )

    def handle(self, *args, **options):
        # Before the cluster forks: every process it starts inherits the setting. Django's
        # connection wrappers read it from this same dict each time they connect.
        for database in settings.DATABASES.values():
            database["CONN_MAX_AGE"] = settings.OPSCORE_WORKER_DB_CONN_MAX_AGE
        super().handle(*args, **options)
