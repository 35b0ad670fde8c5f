from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals.hooks import escalation_groups
        from approvals.projections import compare_tasks_with_table
        from workflows import checks
        from workflows.projections import PROJECTION_CHECKS

        # The engine's checks ask which groups a human step's escalation policy reaches.
        checks.provide(checks.ESCALATION_GROUPS, escalation_groups)
        review_tasks = ("review tasks", "task(s)", compare_tasks_with_table)
        if review_tasks not in PROJECTION_CHECKS:
            PROJECTION_CHECKS.append(review_tasks)
