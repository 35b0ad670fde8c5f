from django.apps import AppConfig


class DecisionsConfig(AppConfig):
    name = "decisions"
    verbose_name = "decisions"

    def ready(self) -> None:
        from decisions.selectors import existing_rule_set_slugs
        from workflows import checks

        # The engine's checks ask whether the rule sets declarations name exist.
        checks.provide(checks.RULE_SETS, lambda slugs: existing_rule_set_slugs(slugs=slugs))
