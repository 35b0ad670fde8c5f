"""GET /metrics with 1,000,000 events in the log and 100,000 open review tasks: scrape time
and query count, against same-run ceilings (a bare `SELECT 1` round trip, and the heaviest
single query of the scrape, the per-queue count of open tasks, run alone).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_metrics_bench \\
        .venv/bin/python bench/metrics_bench.py [--events 1000000] [--tasks 100000] [--runs 40]
    # where the CPU goes:
    ... bench/metrics_bench.py --profile

PostgreSQL only (the target is PostgreSQL); the database is created when missing. Events are
inserted with one INSERT ... SELECT generate_series (placeholder hashes: the scrape never reads
them) and only up to --events, so a second run reuses them; review tasks are replaced.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/opscore_metrics_bench")
os.environ.setdefault("OPSCORE_LOG_LEVEL", "WARNING")
os.environ.setdefault("OPSCORE_DEBUG", "false")
os.environ.setdefault("OPSCORE_METRICS_TOKEN", "bench-token")
os.environ.setdefault("OPSCORE_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault(
    "OPSCORE_AUDIT_KEYS", "b1:" + base64.b64encode(secrets.token_bytes(32)).decode()
)


def create_database() -> None:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    assert "postgresql" in config["ENGINE"], "metrics_bench runs on PostgreSQL"
    with psycopg.connect(
        host=config["HOST"], port=config["PORT"] or 5432, user=config["USER"], dbname="postgres"
    ) as admin:
        admin.autocommit = True
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{config["NAME"]}"')


create_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402


def load_events(count: int) -> None:
    from audit.models import ChainHead

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_event")
        have = cursor.fetchone()[0]
        if have >= count:
            print(f"events: {have:,} already in the log")
            return
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO audit_event (seq, occurred_at, recorded_at, type, actor_kind, actor_ref,
                                     payload, prev_hash, hash, key_id)
            SELECT n, now(), now(), 'workflow.transition', 'system', 'system',
                   jsonb_build_object('workflow', 'order', 'transition', 'approve'),
                   md5((n - 1)::text) || md5((n - 1)::text),
                   md5(n::text) || md5(n::text), ''
            FROM generate_series(%s, %s) AS n
            """,
            [have + 1, count],
        )
        cursor.execute("ANALYZE audit_event")
    ChainHead.objects.update_or_create(pk=1, defaults={"last_seq": count, "last_hash": "x" * 64})
    print(f"events: inserted {count - have:,} in {time.perf_counter() - started:.1f} s")


def load_tasks(count: int) -> None:
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from approvals.models import ReviewTask, TaskNotification, TaskStatus
    from processes.orders.models import Order

    started = time.perf_counter()
    TaskNotification.objects.all().delete()
    ReviewTask.objects.all().delete()
    queues = [Group.objects.get_or_create(name=f"bench-queue-{n}")[0] for n in range(8)]
    order_type = ContentType.objects.get_for_model(Order)
    now = timezone.now()
    batch: list[ReviewTask] = []
    for i in range(count):
        batch.append(
            ReviewTask(
                instance_type=order_type,
                instance_id=i + 1,
                instance_version=1,
                title=f"order BENCH-{i:06d}",
                workflow="order",
                step="manual.review",
                queue=queues[i % len(queues)],
                status=TaskStatus.CLAIMED if i % 7 == 0 else TaskStatus.OPEN,
                opened_at=now - timedelta(minutes=i % 600),
                due_at=now + timedelta(minutes=(i * 37) % 7200 - 1200),
                next_action_at=now + timedelta(days=1),
            )
        )
        if len(batch) == 5000:
            ReviewTask.objects.bulk_create(batch)
            batch = []
    ReviewTask.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE approvals_reviewtask")
    print(f"review tasks: {count:,} open in {time.perf_counter() - started:.1f} s")


def timings_ms(fn, runs: int) -> list[float]:
    fn()  # warm caches and plans
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def p95(samples: list[float]) -> float:
    return samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--profile", action="store_true", help="cProfile 20 scrapes")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    load_events(args.events)
    load_tasks(args.tasks)

    from django.db.models import Count
    from django.test import Client

    from approvals.models import ReviewTask

    client = Client(SERVER_NAME="localhost")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {os.environ['OPSCORE_METRICS_TOKEN']}"}

    def scrape() -> None:
        response = client.get("/metrics", **headers)
        assert response.status_code == 200, response.status_code

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def grouped_tasks() -> None:
        list(ReviewTask.objects.filter(active=1).values("queue_id").annotate(n=Count("id")))

    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(20):
            scrape()
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        return

    statements: list[tuple[float, str]] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - started, sql))

    with transaction.atomic(), connection.execute_wrapper(record):
        scrape()
    scrape_ms = timings_ms(scrape, args.runs)
    one_ms = timings_ms(select_one, args.runs)
    tasks_ms = timings_ms(grouped_tasks, args.runs)
    print(f"/metrics, {args.events:,} events, {args.tasks:,} open tasks, {args.runs} runs")
    print(f"  queries per scrape        : {len(statements)}")
    for seconds, sql in statements:
        print(f"      {seconds * 1000:7.2f} ms  {sql[:110]}")
    scrape_p50, scrape_p95 = statistics.median(scrape_ms), p95(scrape_ms)
    tasks_p50 = statistics.median(tasks_ms)
    print(f"  scrape p50 / p95          : {scrape_p50:7.1f} / {scrape_p95:7.1f} ms")
    print(f"  ceiling SELECT 1 p50      : {statistics.median(one_ms):7.2f} ms")
    print(f"  ceiling grouped tasks p50 : {tasks_p50:7.1f} ms")
    print(f"  ratio scrape p95 / grouped tasks p50 : {scrape_p95 / tasks_p50:5.2f}x")


if __name__ == "__main__":
    main()
