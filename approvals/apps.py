from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals.hooks import escalation_groups
        from workflows import checks

        # The engine's checks ask which groups a human step's escalation policy reaches.
        checks.provide(checks.ESCALATION_GROUPS, escalation_groups)
