"""Gauges read from the database at scrape time, in a fixed number of cheap queries.

Every query is an indexed aggregate whose cost does not grow with the event log: the log's size
is the chain head's `last_seq` (one row), never a COUNT over `audit_event`. Open review tasks
are counted in one grouped query on the `task_queue` index; dead letters on `execution_lease`
(status first); due timers on `timer_due`; the queue on django-q2's small OrmQ table; the last
check per name on `checkrun_latest`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


def _age(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


class DatabaseCollector(Collector):
    """Registered on the scrape's own registry, so importing it queries nothing."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        yield from self._review_tasks(now)
        yield from self._engine(now)
        yield from self._queue(now)
        yield from self._audit()

    def _review_tasks(self, now: datetime) -> Iterator[GaugeMetricFamily]:
        from approvals.models import ReviewTask

        open_tasks = GaugeMetricFamily(
            "opscore_review_tasks_open", "Open or claimed review tasks per queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "opscore_review_task_oldest_open_age_seconds",
            "Age of the oldest open review task per queue.",
            labels=["queue"],
        )
        overdue = GaugeMetricFamily(
            "opscore_review_tasks_overdue",
            "Open review tasks past their SLA deadline per queue.",
            labels=["queue"],
        )
        rows = (
            ReviewTask.objects.filter(active=1)
            .values("queue__name")
            .annotate(
                open=Count("id"),
                oldest=Min("opened_at"),
                overdue=Count("id", filter=Q(due_at__lt=now)),
            )
            .order_by()
        )
        for row in rows:
            queue = row["queue__name"]
            open_tasks.add_metric([queue], row["open"])
            oldest.add_metric([queue], _age(now, row["oldest"]))
            overdue.add_metric([queue], row["overdue"])
        yield from (open_tasks, oldest, overdue)

    def _engine(self, now: datetime) -> Iterator[GaugeMetricFamily]:
        from workflows.models import Execution, Timer
        from workflows.models.execution import ExecutionStatus

        dead = Execution.objects.filter(status=ExecutionStatus.DEAD).count()
        yield GaugeMetricFamily(
            "opscore_dead_letters", "Executions in the dead letter now.", value=dead
        )
        oldest_due = Timer.objects.filter(fired_at__isnull=True, due_at__lte=now).aggregate(
            oldest=Min("due_at")
        )["oldest"]
        yield GaugeMetricFamily(
            "opscore_timer_overdue_seconds",
            "How long the oldest due, unfired timer has waited (0 when none).",
            value=_age(now, oldest_due),
        )

    def _queue(self, now: datetime) -> Iterator[GaugeMetricFamily]:
        from django_q.conf import Conf
        from django_q.models import OrmQ
        from django_q.status import Stat

        # The ORM broker's `lock` is the enqueue time until a worker takes the row.
        queue = OrmQ.objects.aggregate(
            depth=Count("id"), oldest=Min("lock", filter=Q(lock__lte=now))
        )
        yield GaugeMetricFamily(
            "opscore_queue_depth", "Jobs in the django-q2 queue.", value=queue["depth"]
        )
        yield GaugeMetricFamily(
            "opscore_queue_oldest_age_seconds",
            "Age of the oldest task waiting in the django-q2 queue (0 when none).",
            value=_age(now, queue["oldest"]),
        )
        stats = [s for s in Stat.get_all() if s.status not in (Conf.STOPPING, Conf.STOPPED)]
        yield GaugeMetricFamily(
            "opscore_queue_clusters_live", "django-q2 clusters with a heartbeat.", value=len(stats)
        )
        newest = max((s.timestamp for s in stats), default=None)
        yield GaugeMetricFamily(
            "opscore_queue_heartbeat_age_seconds",
            "Age of the newest django-q2 cluster heartbeat (absent when none).",
            value=_age(now, newest) if newest is not None else float("nan"),
        )

    def _audit(self) -> Iterator[GaugeMetricFamily]:
        from audit.models import ChainHead
        from observability.models import CheckName, CheckRun

        head = ChainHead.objects.filter(pk=1).values_list("last_seq", flat=True).first()
        yield GaugeMetricFamily(
            "opscore_audit_chain_head_seq", "Sequence number of the last event.", value=head or 0
        )
        ok = GaugeMetricFamily(
            "opscore_check_last_ok", "1 when the latest run of a check passed.", labels=["check"]
        )
        finished = GaugeMetricFamily(
            "opscore_check_last_finished_timestamp_seconds",
            "When the latest run of a check finished.",
            labels=["check"],
        )
        for name in CheckName.values:  # two index lookups on checkrun_latest
            row = (
                CheckRun.objects.filter(name=name)
                .order_by("-finished_at")
                .values("ok", "finished_at")
                .first()
            )
            if row is not None:
                ok.add_metric([name], 1.0 if row["ok"] else 0.0)
                finished.add_metric([name], row["finished_at"].timestamp())
        yield from (ok, finished)
