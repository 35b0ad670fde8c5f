from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_reference_event_types(sender, using, **kwargs) -> None:
    # post_migrate also follows a flush (tests, resets), so the order workflow's event types
    # and bindings exist whenever the schema does.
    from django.db import connections

    from integrations.models import EventType
    from integrations.services import seed_reference_event_types

    if EventType._meta.db_table not in connections[using].introspection.table_names():
        return
    seed_reference_event_types()


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import request_finished, request_started

        from integrations import (
            lookups,
            schema,  # noqa: F401 - registers the Api-Key OpenAPI scheme
        )
        from integrations.api import record_edge_refusal
        from integrations.checks import check_trigger_bindings
        from opscore.middleware import api_request_refused

        checks.register(check_trigger_bindings)
        post_migrate.connect(_seed_reference_event_types, sender=self)
        api_request_refused.connect(record_edge_refusal, dispatch_uid="integrations.edge")
        request_started.connect(lookups.request_started, dispatch_uid="integrations.lookups")
        request_finished.connect(lookups.request_finished, dispatch_uid="integrations.lookups")
