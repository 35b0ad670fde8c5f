from django.apps import AppConfig


class OpscoreConfig(AppConfig):
    name = "opscore"
    verbose_name = "opscore kernel"

    def ready(self) -> None:
        from django_q import signals

        from opscore import history_manager, request_context
        from opscore.admin_links import guard_readonly_foreign_keys

        history_manager.cache_manager_classes()
        guard_readonly_foreign_keys()

        uid = "opscore.request_id"
        signals.pre_enqueue.connect(request_context.carry_into_task, dispatch_uid=uid)
        signals.pre_execute.connect(request_context.start_task, dispatch_uid=uid)
        # Newer django-q2 only; without it the next task's pre_execute clears the context.
        finished = getattr(signals, "post_execute_in_worker", None)
        if finished is not None:
            finished.connect(request_context.end_task, dispatch_uid=uid)
