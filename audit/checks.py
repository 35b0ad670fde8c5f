"""Startup check: the event log needs a database engine that chains events at commit."""

from django.core.checks import Error, register
from django.db import connections

from audit.chaining import ChainEventsAtCommit


@register()
def check_engine_chains_events(app_configs, **kwargs) -> list[Error]:
    return [
        Error(
            f"database {alias!r} uses {connections[alias].__class__.__module__}, "
            "which would never write the audit log",
            hint="Use audit.db.postgresql or audit.db.sqlite3 as ENGINE "
            "(opscore/settings.py maps DATABASE_URL to them).",
            id="audit.E001",
        )
        for alias in connections
        if not isinstance(connections[alias], ChainEventsAtCommit)
    ]
