"""Reports benchmark: each report over a day and a week of a month-long log, against the
same-run ceiling of reading that window's events with one bare query.

    python bench/reports_bench.py --orders 20000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_bench python bench/reports_bench.py
    python bench/reports_bench.py --orders 20000 --profile cycle-time   # where the CPU goes

Uses a fresh SQLite file in a temporary directory unless DATABASE_URL is set (that database
is migrated and its audit log must be empty). Each synthetic order writes the events the engine
writes for a full run (started, scheduled, four transitions, a review task opened and decided),
one in twenty a dead letter, spread over 30 days; occurred_at is set, so windows are real.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import random
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPORTS = (
    "cycle-time",
    "step-time",
    "sla",
    "throughput-hourly",
    "throughput-daily",
    "dead-letters",
    "patterns",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", choices=REPORTS, help="profile one report over 7 days")
    args = parser.parse_args()

    os.environ.setdefault("OPSCORE_VAR_DIR", tempfile.mkdtemp(prefix="opscore-bench-"))
    os.environ.setdefault("OPSCORE_DEBUG", "false")
    os.environ.setdefault("OPSCORE_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    os.environ.setdefault(
        "OPSCORE_AUDIT_KEYS", f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from audit.models import Event
    from observability.reports import Window, run_report

    if Event.objects.exists():
        sys.exit("the audit log of this database is not empty; use a fresh database")
    now = timezone.now()
    started = time.perf_counter()
    events = _load(orders=args.orders, now=now)
    print(
        f"{connection.vendor}: {events} events for {args.orders} orders over 30 days "
        f"loaded in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    windows = {
        "24h": Window(since=now - timedelta(days=1), until=now),
        "7d": Window(since=now - timedelta(days=7), until=now),
    }
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(run_report, name=args.profile, window=windows["7d"])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        return

    def best(function) -> float:
        timings = []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            function()
            timings.append(time.perf_counter() - begun)
        return min(timings)

    print(f"{'report':20} {'window':6} {'events':>8} {'ceiling ms':>11} {'report ms':>10} ratio")
    for label, window in windows.items():
        in_window = Event.objects.filter(
            occurred_at__gte=window.since, occurred_at__lt=window.until
        )
        count = in_window.count()
        ceiling = best(lambda w=in_window: list(w.values_list("type", "occurred_at", "payload")))
        for name in REPORTS:
            took = best(lambda n=name, w=window: run_report(name=n, window=w))
            print(
                f"{name:20} {label:6} {count:8} {ceiling * 1000:11.0f} {took * 1000:10.0f} "
                f"{took / ceiling:5.1f}"
            )


def _load(*, orders: int, now) -> int:
    from django.db import transaction

    from audit.services import append_event
    from opscore.actors import SYSTEM
    from processes.orders.models import Order

    rng = random.Random(7)
    written = 0
    batch = 200
    for first in range(1, orders + 1, batch):
        with transaction.atomic():
            for number in range(first, min(first + batch, orders + 1)):
                order = Order(pk=number)
                moment = now - timedelta(seconds=rng.uniform(3600, 30 * 86400))
                written += _order_events(append_event, order, SYSTEM, moment, rng, number)
    return written


def _order_events(append_event, order, actor, moment, rng, number) -> int:
    def log(type_: str, payload: dict, seconds: float = 0.0) -> None:
        nonlocal moment
        moment += timedelta(seconds=seconds)
        append_event(type=type_, instance=order, actor=actor, payload=payload, occurred_at=moment)

    def move(name: str, source: str, target: str, seconds: float, data: dict | None = None):
        log(
            "workflow.transition",
            {"workflow": "order", "transition": name, "source": source, "target": target,
             "data": data or {}},
            seconds,
        )  # fmt: skip

    key = f"order:{number}:policy.check:v0"
    log("workflow.started", {"workflow": "order", "state": "received"})
    log("execution.scheduled", {"step": "policy.check", "idempotency_key": key})
    if number % 20 == 0:
        log(
            "execution.dead",
            {"step": "policy.check", "idempotency_key": key, "attempt": 3,
             "error": f"InvalidOrder: order SO-{number:06d} needs a numeric 'value'"},
            rng.uniform(1, 30),
        )  # fmt: skip
        return 3
    move("flag_for_review", "received", "in_review", rng.uniform(1, 60),
         {"step": "policy.check", "idempotency_key": key})  # fmt: skip
    due_at = moment + timedelta(hours=2)
    task = {"task": number, "step": "manual.review", "queue": "reviewers", "due_at": due_at}
    log("task.opened", {**task, "status": "open"})
    log("task.approved", {**task, "status": "approved"}, rng.uniform(60, 3 * 3600))
    move("approve", "in_review", "dispatching", 0)
    dispatch_key = f"order:{number}:dispatch.execute:v2"
    move("mark_dispatched", "dispatching", "awaiting_pod", rng.uniform(1, 30),
         {"step": "dispatch.execute", "idempotency_key": dispatch_key})  # fmt: skip
    move("confirm_delivery", "awaiting_pod", "completed", rng.uniform(3600, 48 * 3600))
    return 8


if __name__ == "__main__":
    main()
