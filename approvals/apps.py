from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_reference_policies(sender, using, **kwargs) -> None:
    # post_migrate also follows a flush (tests, resets), so the reference steps always have
    # their policies and queues whenever the schema is there.
    from django.db import connections

    from approvals.models import EscalationPolicy
    from approvals.services import seed_reference_policies

    if EscalationPolicy._meta.db_table not in connections[using].introspection.table_names():
        return
    seed_reference_policies()


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        post_migrate.connect(_seed_reference_policies, sender=self)
