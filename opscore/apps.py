from typing import Any

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
        signals.pre_enqueue.connect(request_context.carry_into_job, dispatch_uid=uid)
        signals.pre_execute.connect(request_context.start_job, dispatch_uid=uid)
        # Newer django-q2 only; without it the next job's pre_execute clears the context.
        finished = getattr(signals, "post_execute_in_worker", None)
        if finished is not None:
            finished.connect(request_context.end_job, dispatch_uid=uid)
            finished.connect(close_task_connections, dispatch_uid="opscore.task_connections")


def close_task_connections(sender: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """django-q2 `post_execute_in_worker`: what Django does at a request's end. A connection
    the task broke or that outlived its age is closed now rather than carried to the next
    task (django-q2 checks again before each one)."""
    from django.db import close_old_connections
    from django_q.conf import Conf

    # A synchronous task ran in its caller's process, maybe inside its transaction.
    if not (Conf.SYNC or task.get("sync")):
        close_old_connections()
