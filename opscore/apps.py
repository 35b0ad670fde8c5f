from django.apps import AppConfig


class OpscoreConfig(AppConfig):
    name = "opscore"
    verbose_name = "opscore kernel"

    def ready(self) -> None:
        from django_q.signals import pre_enqueue, pre_execute

        from opscore import request_context

        pre_enqueue.connect(request_context.carry_into_task, dispatch_uid="opscore.request_id")
        pre_execute.connect(request_context.start_task, dispatch_uid="opscore.request_id")
