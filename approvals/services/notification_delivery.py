"""Sending the emails the sweeper owes, each once, retried while the mail server refuses."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
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


def _claim_for() -> timedelta:
    # Connecting, sending and quitting may each take the SMTP timeout.
    return timedelta(seconds=3 * (settings.EMAIL_TIMEOUT or 10) + 30)


def _owed(now: datetime) -> Q:
    return Q(sent_at__isnull=True, attempts__lt=MAX_SEND_ATTEMPTS) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


def deliver_notifications(*, batch_size: int = 200) -> tuple[int, int]:
    """Send owed emails, each once; a failure is kept and retried next sweep.

    No transaction is open while the mail server answers. Each attempt is claimed first, in one
    conditional UPDATE of its own (counted, and nobody else's until `claimed_until`), so of
    two sweeps only one sends it; the outcome is recorded afterwards: sent with its
    `task.notification_sent` event in one short transaction, or the error kept and the claim
    let go. A sweep that dies mid-send leaves the claim to expire; the email is tried again.
    """
    sent = failed = 0
    now = timezone.now()
    pending = list(
        TaskNotification.objects.filter(_owed(now)).values_list("pk", flat=True)[:batch_size]
    )
    for pk in pending:
        now = timezone.now()
        claimed = TaskNotification.objects.filter(_owed(now), pk=pk).update(
            attempts=F("attempts") + 1, claimed_until=now + _claim_for()
        )
        if not claimed:
            continue  # another sweep has it, or sent it meanwhile
        notification = TaskNotification.objects.select_related(
            "task__queue", "task__escalated_to", "task__instance_type"
        ).get(pk=pk)
        try:
            notifications.send(notification)
        except Exception as error:  # SMTP down or refusing: keep the row, try again later
            TaskNotification.objects.filter(pk=pk).update(
                last_error=recordable(f"{type(error).__name__}: {error}"), claimed_until=None
            )
            failed += 1
            NOTIFICATION_FAILURES.labels(kind=notification.kind).inc()
            logger.warning("notification %s not sent: %s", pk, error)
            continue
        with transaction.atomic():
            TaskNotification.objects.filter(pk=pk).update(
                sent_at=timezone.now(), claimed_until=None
            )
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
