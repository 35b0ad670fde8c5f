from django.apps import AppConfig


class DecisionsConfig(AppConfig):
    name = "decisions"
    verbose_name = "decisions"

    def ready(self) -> None:
        from decisions.selectors import existing_rule_set_slugs, latest_decision_before
        from workflows import checks
        from workflows.selectors import DECISION_FINDERS

        # The engine's checks ask whether the rule sets declarations name exist.
        checks.provide(checks.RULE_SETS, lambda slugs: existing_rule_set_slugs(slugs=slugs))
        if latest_decision_before not in DECISION_FINDERS:
            DECISION_FINDERS.append(latest_decision_before)
