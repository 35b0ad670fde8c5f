from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    name = "processes"
    verbose_name = "Processes"

    def ready(self) -> None:
        # Importing the definitions registers them, in web processes and workers alike.
        from processes.invoices import definition as invoice  # noqa: F401
        from processes.orders import definition as order  # noqa: F401
        from processes.refunds import definition as refund  # noqa: F401
