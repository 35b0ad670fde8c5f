from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_reference_rulesets(sender, using, **kwargs) -> None:
    # post_migrate also follows a flush (tests, resets), so the reference rules the order
    # workflow needs are there whenever the schema is.
    from django.db import connections

    from decisions.models import RuleSet
    from decisions.services import seed_reference_rulesets

    if RuleSet._meta.db_table not in connections[using].introspection.table_names():
        return
    seed_reference_rulesets()


class DecisionsConfig(AppConfig):
    name = "decisions"
    verbose_name = "decisions"

    def ready(self) -> None:
        post_migrate.connect(_seed_reference_rulesets, sender=self)
