from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # Importing the definitions registers them, in web processes and workers alike.
        from workflows import definitions  # noqa: F401
