from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _revoke_event_rewrites(*, using: str, **kwargs) -> None:
    from audit.triggers import revoke_event_rewrites

    revoke_event_rewrites(connections[using])


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from audit import checks  # noqa: F401 - registers the engine check

        # Default privileges give the runtime role UPDATE and DELETE on every new table;
        # after each migrate the log's are taken back (audit/triggers.py).
        post_migrate.connect(_revoke_event_rewrites, sender=self)
