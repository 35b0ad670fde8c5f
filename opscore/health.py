"""Readiness checks: can this deployment do its work right now, and if not, what is missing.

Each check is a plain function that returns a one-line detail when it passes and raises
`CheckFailed` with a one-line detail when it does not. Details name what failed, never a
connection string, a host or an exception message (a driver's message carries both). The
checks that run, and their names, are `settings.OPSCORE_READINESS_CHECKS`; the settings module
is the top layer, so the kernel runs checks that live in higher layers (the chain head's lock
is audit's to test) without importing them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django.utils.module_loading import import_string

DATABASE_CHECK = "database"

# The newest live cluster heartbeat this process has seen. django-q2 keeps each cluster's Stat
# in the cache for 3 seconds only, so a cluster restart would fail readiness at once; the
# remembered time is what makes "younger than N seconds" mean N seconds.
LAST_HEARTBEAT_KEY = "opscore:ready:last_cluster_heartbeat"


class CheckFailed(Exception):
    """A readiness check's refusal; its message is the detail shown to the caller."""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    ms: float

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "ms": self.ms}


def check_database() -> str:
    """A round trip to the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        raise CheckFailed(f"the {connection.vendor} database did not answer SELECT 1") from None
    return f"{connection.vendor} answered SELECT 1"


_migrations_clean = False


def check_migrations() -> str:
    """No migration is left unapplied.

    Loading the migration graph reads every migration file, so once a process has seen the
    database fully migrated it says so without looking again: migrations are applied before
    a release's processes start, and a later rollback of the schema is a new deployment.
    """
    global _migrations_clean
    if _migrations_clean:
        return "all migrations applied (checked at first probe)"
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise CheckFailed(f"{len(names)} unapplied migration(s): {shown}")
    _migrations_clean = True
    return "all migrations applied"


def forget_migration_state() -> None:
    """Make the next check read the migration graph again (tests migrate back and forth)."""
    global _migrations_clean
    _migrations_clean = False


def _age_seconds(moment: datetime) -> float:
    return (timezone.now() - moment).total_seconds()


def check_cluster() -> str:
    """A django-q2 cluster's heartbeat is younger than OPSCORE_READY_CLUSTER_MAX_AGE_SECONDS.

    The heartbeat is the Stat each cluster's sentinel saves to the broker's cache every guard
    cycle (what `manage.py qinfo` and the admin read); a stopping or stopped cluster does not
    count. The ORM queue's rows are no heartbeat: an idle queue is empty whether a cluster
    runs or not.
    """
    from django_q.conf import Conf
    from django_q.status import Stat

    max_age = settings.OPSCORE_READY_CLUSTER_MAX_AGE_SECONDS
    live = [
        stat.timestamp
        for stat in Stat.get_all()
        if stat.status not in (Conf.STOPPING, Conf.STOPPED)
    ]
    remembered = cache.get(LAST_HEARTBEAT_KEY)
    if live:
        newest = max(live)
        if remembered is None or newest > remembered:
            cache.set(LAST_HEARTBEAT_KEY, newest, timeout=None)
    else:
        newest = remembered
    if newest is None:
        raise CheckFailed("no django-q2 cluster heartbeat has been seen")
    age = _age_seconds(newest)
    if age > max_age:
        raise CheckFailed(f"newest cluster heartbeat is {age:.0f} s old (max {max_age} s)")
    return f"{len(live)} cluster(s) live; newest heartbeat {age:.1f} s old"


def check_sweeper() -> str:
    """Each sweeper schedule last succeeded less than OPSCORE_READY_SWEEPER_MAX_AGE_SECONDS ago.

    The scheduler enqueues a schedule's task with the schedule's name as its group, and the
    cluster records each finished task; the newest successful one is the sweeper's last run.
    A run that failed does not count: a sweeper that raises every minute is stale.
    """
    from django.db.models import Max
    from django_q.models import Task

    max_age = settings.OPSCORE_READY_SWEEPER_MAX_AGE_SECONDS
    names = list(settings.OPSCORE_READY_SWEEPER_SCHEDULES)
    last_runs = dict(
        Task.objects.filter(group__in=names, success=True)
        .values("group")
        .annotate(last=Max("stopped"))
        .values_list("group", "last")
    )
    stale, fresh = [], []
    for name in names:
        last = last_runs.get(name)
        if last is None:
            stale.append(f"{name} never succeeded")
            continue
        age = _age_seconds(last)
        (stale if age > max_age else fresh).append(f"{name} {age:.0f} s ago")
    if stale:
        raise CheckFailed("; ".join(stale) + f" (max {max_age} s)")
    return "last succeeded: " + "; ".join(fresh)


def _run(check) -> CheckResult:
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except CheckFailed as failure:
        detail, ok = str(failure), False
    except Exception as error:  # a probe reports a failure; it never answers 500
        # The class only: a driver's message can carry a host, a user or a query.
        detail, ok = f"check raised {type(error).__name__}", False
    return CheckResult(ok=ok, detail=detail, ms=round((time.perf_counter() - started) * 1000, 1))


def readiness() -> tuple[bool, dict[str, CheckResult]]:
    """Run every configured check, in order; without a database the others are not tried."""
    results: dict[str, CheckResult] = {}
    for name, path in settings.OPSCORE_READINESS_CHECKS.items():
        database = results.get(DATABASE_CHECK)
        if database is not None and not database.ok:
            results[name] = CheckResult(ok=False, detail="not run: no database", ms=0.0)
            continue
        results[name] = _run(import_string(path))
    return all(result.ok for result in results.values()), results
