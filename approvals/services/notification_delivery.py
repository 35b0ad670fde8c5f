"""Sending the emails the sweeper owes, each once, retried while the mail server refuses."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from approvals import notifications, selectors
from approvals.models import TaskNotification
from approvals.services._task_events import record_task_event
from opscore.actors import SYSTEM
from opscore.metrics import NOTIFICATION_FAILURES
from opscore.scrubbing import recordable

# The package logs under one name, `approvals.services`, whichever module speaks.
logger = logging.getLogger(__package__)


MAX_SEND_ATTEMPTS = 5


def deliver_notifications(*, batch_size: int = 200) -> tuple[int, int]:
    """Send owed emails, each under its row lock; a failure is kept and retried next sweep."""
    sent = failed = 0
    pending = list(
        TaskNotification.objects.filter(
            sent_at__isnull=True, attempts__lt=MAX_SEND_ATTEMPTS
        ).values_list("pk", flat=True)[:batch_size]
    )
    for pk in pending:
        with transaction.atomic():
            notification = (
                TaskNotification.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("task__queue", "task__escalated_to", "task__instance_type")
                .filter(pk=pk, sent_at__isnull=True)
                .first()
            )
            if notification is None:
                continue
            notification.attempts += 1
            try:
                notifications.send(notification)
            except Exception as error:  # SMTP down or refusing: keep the row, try again later
                notification.last_error = recordable(f"{type(error).__name__}: {error}")
                notification.save()
                failed += 1
                NOTIFICATION_FAILURES.labels(kind=notification.kind).inc()
                logger.warning("notification %s not sent: %s", pk, error)
                continue
            notification.sent_at = timezone.now()
            notification.save()
            task = notification.task
            record_task_event(
                task,
                instance=selectors.task_instance(task=task),
                type="task.notification_sent",
                actor=SYSTEM,
                extra={
                    "kind": notification.kind,
                    "level": notification.level,
                    "recipients": notification.recipients,
                },
            )
            sent += 1
    return sent, failed
