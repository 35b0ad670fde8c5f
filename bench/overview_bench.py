"""The admin start page at 1,000,000 events and 100,000 open review tasks, on PostgreSQL:
its time (p50, p95) and query count against a same-run ceiling, the bare grouped query of the
queue block over the same open tasks (the heaviest single read the page makes).

    .venv/bin/python bench/overview_bench.py [--events 1000000] [--tasks 100000] [--runs 20]
    .venv/bin/python bench/overview_bench.py --profile      # where the page's time goes

Runs in its own database, `opscore_overview_bench` on 127.0.0.1 (override with
BENCH_DATABASE_URL), created and migrated when missing; the data is built once with bulk
INSERT ... SELECT generate_series statements and reused by later runs (--rebuild drops it).
The page is requested through Django's test client as one user who sees every block: a
supervisor (reviewers' and supervisors' queues) who may also view executions and alerts.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/opscore_overview_bench"
)
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
os.environ.setdefault("OPSCORE_LOG_LEVEL", "WARNING")
os.environ.setdefault("OPSCORE_DEBUG", "false")
if os.environ["OPSCORE_DEBUG"] == "false":
    os.environ.setdefault("OPSCORE_SECRET_KEY", "bench-" + "k3y-for-the-overview-bench-only" * 2)
    os.environ.setdefault(
        "OPSCORE_AUDIT_KEYS", "bench:YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDE="
    )
os.environ.setdefault("OPSCORE_ALLOWED_HOSTS", "testserver")


def ensure_database() -> None:
    import psycopg

    name = BENCH_URL.rsplit("/", 1)[1]
    admin_url = BENCH_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if "--rebuild" in sys.argv:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


ensure_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

USERNAME = "bench-supervisor"


def _ids() -> dict[str, int]:
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType

    from processes.orders.models import Order

    return {
        "order_type": ContentType.objects.get_for_model(Order).pk,
        "reviewers": Group.objects.get_or_create(name="reviewers")[0].pk,
        "managers": Group.objects.get_or_create(name="managers")[0].pk,
    }


def build(*, events: int, tasks: int) -> None:
    """Orders, review tasks, executions, alerts and the log, each in one bulk statement."""
    ids = _ids()
    closed_tasks = tasks // 2
    orders = tasks + closed_tasks + 20_000
    # Only integers from argparse and primary keys are formatted into these statements.
    statements = [
        # Orders: the first `tasks` wait in review, then closed ones, then 2,000 left in
        # received for hours (stuck) and the rest completed.
        f"""INSERT INTO processes_order (id, correlation_key, context, version, created_at,
              updated_at, state)
            SELECT g, 'BENCH-' || g, '{{}}'::jsonb, 2, now() - (g % 720) * interval '1 hour',
              now() - (g % 600) * interval '1 minute',
              CASE WHEN g <= {tasks} THEN 'in_review'
                   WHEN g > {orders} - 2000 THEN 'received'
                   ELSE 'completed' END
            FROM generate_series(1, {orders}) g""",  # noqa: S608
        """UPDATE processes_order SET updated_at = now() - interval '3 hours'
            WHERE state = 'received'""",
        # Open tasks: four in five in the reviewers' queue, the rest with managers; a tenth
        # overdue, a few due within the hour. Then closed tasks.
        f"""INSERT INTO approvals_reviewtask (instance_id, instance_version, title, workflow,
              step, status, opened_at, due_at, escalation_level, policy_snapshot, outcome,
              reason, information_requested, updated_at, instance_type_id, queue_id,
              next_action_at)
            SELECT g, 1, 'order BENCH-' || g, 'order', 'manual.review',
              CASE WHEN g <= {tasks} THEN 'open' ELSE 'approved' END,
              now() - (g % 300) * interval '1 minute',
              now() + ((g % 100) - 10) * interval '3 minutes',
              0, '{{}}'::jsonb, '', '', '', now(), {ids["order_type"]},
              CASE WHEN g % 5 = 4 THEN {ids["managers"]} ELSE {ids["reviewers"]} END,
              now() + interval '1 hour'
            FROM generate_series(1, {tasks + closed_tasks}) g""",  # noqa: S608
        # Executions: two per order succeeded, 500 dead letters over two steps.
        f"""INSERT INTO workflows_execution (instance_id, instance_version, step,
              idempotency_key, status, attempts, max_attempts, last_error, created_at,
              updated_at, instance_type_id)
            SELECT g / 2 + 1, g % 2, CASE WHEN g % 2 = 0 THEN 'policy.check'
              ELSE 'dispatch.execute' END, 'bench:' || g,
              CASE WHEN g % 400 = 0 THEN 'dead' ELSE 'succeeded' END, 1, 6, '',
              now() - (g % 1000) * interval '1 minute', now(), {ids["order_type"]}
            FROM generate_series(1, 200000) g""",  # noqa: S608
        # The log: 1M events over 60 days, the mix an order produces (starts, transitions,
        # scheduled steps, task events, a few escalations and expiries).
        f"""INSERT INTO audit_event (seq, occurred_at, recorded_at, type, instance_id,
              actor_kind, actor_ref, payload, prev_hash, hash, instance_type_id, key_id)
            SELECT base.top + g, ts, ts,
              CASE WHEN g % 100 < 12 THEN 'workflow.started'
                   WHEN g % 100 < 55 THEN 'workflow.transition'
                   WHEN g % 100 < 80 THEN 'execution.scheduled'
                   WHEN g % 100 < 88 THEN 'task.opened'
                   WHEN g % 100 < 95 THEN 'task.approved'
                   WHEN g % 100 < 97 THEN 'task.rejected'
                   WHEN g % 100 < 99 THEN 'task.escalated'
                   ELSE 'task.expired' END,
              g % {orders} + 1, 'system', 'bench', '{{}}'::jsonb, '',
              encode(sha256(('bench' || g)::bytea), 'hex'), {ids["order_type"]}, 'bench'
            FROM (SELECT coalesce(max(seq), 0) AS top FROM audit_event) base,
              LATERAL (SELECT g, now() - ({events} - g) * (interval '60 days' / {events}) AS ts
                       FROM generate_series(1, {events}) g) series""",  # noqa: S608
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            started = time.perf_counter()
            cursor.execute(sql)
            took = time.perf_counter() - started
            print(f"  {sql.split()[2]:<24} {cursor.rowcount:>9,} rows in {took:6.1f} s")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('processes_order', 'id'), %s)", [orders]
        )
    from django.contrib.auth.models import Group, Permission, User
    from django.utils import timezone

    from observability.models import Alert, AlertKind, AlertRule

    for number in range(5):
        rule = AlertRule.objects.create(name=f"bench rule {number}", kind=AlertKind.DEAD_LETTERS)
        Alert.objects.create(rule=rule, opened_at=timezone.now(), detail={})
    user = User.objects.create_user(
        USERNAME, "bench@example.test", "bench-pass-1234", is_staff=True
    )
    user.groups.add(
        Group.objects.get_or_create(name="reviewers")[0],
        Group.objects.get_or_create(name="supervisors")[0],
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "work_reviewtask",
                "review_order",
                "view_order",
                "view_execution",
                "view_alert",
                "view_alertrule",
            ]
        )
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # visibility map for index-only scans, fresh stats


BARE = """SELECT queue_id, workflow, step, count(*), count(*) FILTER (WHERE due_at < now()),
          count(*) FILTER (WHERE due_at >= now() AND due_at < now() + interval '1 hour'),
          min(opened_at)
          FROM approvals_reviewtask WHERE active = 1 AND queue_id = ANY(%s)
          GROUP BY queue_id, workflow, step"""


def _timed(fn, runs: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from audit.models import Event

    if not Event.objects.filter(actor_ref="bench").exists():
        print(f"building {args.events:,} events and {args.tasks:,} open tasks ...")
        started = time.perf_counter()
        build(events=args.events, tasks=args.tasks)
        print(f"  built in {time.perf_counter() - started:.0f} s")
    from django.contrib.auth.models import User

    user = User.objects.get(username=USERNAME)
    client = Client()
    client.force_login(user)
    queue_ids = list(user.groups.values_list("pk", flat=True))

    def page():
        response = client.get("/admin/")
        assert response.status_code == 200, response.status_code

    def bare():
        with connection.cursor() as cursor:
            cursor.execute(BARE, [queue_ids])
            cursor.fetchall()

    captured: list[tuple[str, float]] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            captured.append((sql, (time.perf_counter() - started) * 1000))

    page()
    # A wrapper rather than CaptureQueriesContext: the request may close and reopen the
    # connection (CONN_MAX_AGE 0), which empties the connection's own query log.
    with connection.execute_wrapper(record):
        page()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            page()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        for sql, took in sorted(captured, key=lambda query: -query[1])[:6]:
            print(f"{took:7.1f} ms  {' '.join(sql.split())[:200]}")
        return

    # Interleaved so both see the same machine load.
    page_ms: list[float] = []
    bare_ms: list[float] = []
    for _ in range(args.runs):
        page_ms += _timed(page, 1)
        bare_ms += _timed(bare, 1)
    from approvals.models import ReviewTask
    from audit.models import Event as E

    print(
        f"data: {E.objects.count():,} events, "
        f"{ReviewTask.objects.filter(active=1).count():,} open tasks; {args.runs} runs"
    )
    print(
        f"overview page: {len(captured)} queries, p50 {statistics.median(page_ms):.1f} ms, "
        f"p95 {_p95(page_ms):.1f} ms"
    )
    print(
        f"bare queue query (ceiling): p50 {statistics.median(bare_ms):.1f} ms, "
        f"p95 {_p95(bare_ms):.1f} ms"
    )
    print(
        f"ratio page/ceiling: p50 {statistics.median(page_ms) / statistics.median(bare_ms):.1f}, "
        f"p95 {_p95(page_ms) / _p95(bare_ms):.1f}"
    )


if __name__ == "__main__":
    main()
