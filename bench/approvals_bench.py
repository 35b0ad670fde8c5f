"""The reviewers' queue page with 100,000 open tasks: the "My team's queue" admin changelist's
query count and time, against a same-run ceiling (the bare paginated query of the same rows).

    .venv/bin/python bench/approvals_bench.py [--tasks 100000] [--runs 15]

Runs on a throwaway SQLite database in a temp dir unless DATABASE_URL is set; then it runs
on that database and replaces its review tasks, so point it only at a scratch database.
Tasks are bulk-inserted (their instances are not created: the queue page never reads them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
if "DATABASE_URL" not in os.environ:
    _tmp = tempfile.mkdtemp(prefix="opscore-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
os.environ.setdefault("OPSCORE_LOG_LEVEL", "WARNING")
# DEBUG would keep every bulk insert in the query log and slow each request down.
os.environ.setdefault("OPSCORE_DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

PAGE = 50


def load_tasks(count: int):
    from django.contrib.auth.models import Group, Permission, User
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from approvals.models import ReviewTask, TaskNotification, TaskStatus
    from processes.orders.models import Order

    TaskNotification.objects.all().delete()
    ReviewTask.objects.all().delete()
    reviewers = Group.objects.get_or_create(name="reviewers")[0]
    managers = Group.objects.get_or_create(name="managers")[0]
    user = User.objects.filter(username="bench-reviewer").first() or User.objects.create_user(
        "bench-reviewer", "bench@example.test", "bench-password-123", is_staff=True
    )
    user.groups.add(reviewers)
    user.user_permissions.add(Permission.objects.get(codename="work_reviewtask"))
    others = [
        User.objects.get_or_create(username=f"bench-peer-{n}", defaults={"is_staff": True})[0]
        for n in range(20)
    ]
    order_type = ContentType.objects.get_for_model(Order)
    now = timezone.now()
    batch: list[ReviewTask] = []
    started = time.perf_counter()
    for i in range(count):
        # Four in five in the reviewers' queue; some claimed, some overdue, a few escalated.
        queue = managers if i % 5 == 4 else reviewers
        claimed = i % 7 == 0
        batch.append(
            ReviewTask(
                instance_type=order_type,
                instance_id=i + 1,
                instance_version=1,
                title=f"order BENCH-{i:06d}",
                workflow="order",
                step="manual.review",
                queue=queue,
                assignee=others[i % len(others)] if claimed else None,
                status=TaskStatus.CLAIMED if claimed else TaskStatus.OPEN,
                opened_at=now - timedelta(minutes=i % 600),
                due_at=now + timedelta(minutes=(i * 37) % 7200 - 1200),
                next_action_at=now + timedelta(days=1),
                escalation_level=1 if i % 50 == 0 else 0,
            )
        )
        if len(batch) == 5000:
            ReviewTask.objects.bulk_create(batch)
            batch = []
    ReviewTask.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE approvals_reviewtask")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"loaded {count:,} open tasks in {time.perf_counter() - started:.1f} s")
    return user, reviewers


def median_ms(fn, runs: int) -> float:
    fn()  # warm caches, templates and the plan
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    setup_test_environment()
    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}")
    user, reviewers = load_tasks(args.tasks)

    from django.test import Client

    from approvals.models import ReviewTask

    client = Client()
    client.force_login(user)
    url = "/admin/approvals/teamtask/"

    def page() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    def last_page() -> None:
        response = client.get(url, {"p": "100"})
        assert response.status_code == 200, response.status_code

    def ceiling() -> None:
        rows = (
            ReviewTask.objects.select_related("queue", "assignee", "escalated_to")
            .filter(queue_id__in=[reviewers.pk], active=1)
            .order_by("due_at", "id")[:PAGE]
        )
        assert len(list(rows)) == PAGE

    def ceiling_with_count() -> None:
        ceiling()
        ReviewTask.objects.filter(queue_id__in=[reviewers.pk], active=1).count()

    statements: list[tuple[float, str]] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - started, sql))

    with connection.execute_wrapper(record):
        page()
    in_queue = ReviewTask.objects.filter(queue=reviewers, active=1).count()
    page_ms = median_ms(page, args.runs)
    later_ms = median_ms(last_page, args.runs)
    ceiling_ms = median_ms(ceiling, args.runs)
    counted_ms = median_ms(ceiling_with_count, args.runs)
    print(f'"My team\'s queue" page, {in_queue:,} tasks in the queue, {PAGE} per page')
    print(f"  queries per page            : {len(statements)}")
    for seconds, sql in statements:
        print(f"      {seconds * 1000:7.2f} ms  {sql[:100]}")
    print(f"  admin page (first)          : {page_ms:8.1f} ms (median of {args.runs})")
    print(f"  admin page (page 100)       : {later_ms:8.1f} ms")
    print(f"  ceiling: bare page query    : {ceiling_ms:8.1f} ms (same rows, no count)")
    print(f"  ceiling: page query + count : {counted_ms:8.1f} ms")
    print(f"  ratio page / bare query     : {page_ms / ceiling_ms:8.1f}x")
    print(f"  ratio page / query + count  : {page_ms / counted_ms:8.1f}x")


if __name__ == "__main__":
    main()
