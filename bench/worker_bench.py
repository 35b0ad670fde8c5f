"""Workflow steps drained by real django-q2 clusters, against a no-op drain of the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_worker_bench \\
        python bench/worker_bench.py --workers 1,2,4 --orders 600

PostgreSQL only; the database is dropped and recreated (its name must end in `_bench`). A
carrier sandbox runs in a process of its own. For each worker count W:

- no-op drain (the ceiling): as many django-q2 tasks as the steps phase runs, each a function
  that does nothing, enqueued with the options the engine enqueues a step with, then one
  `manage.py qcluster` with W workers drains them. Only django-q2's own work is left: the
  pusher's dequeue, the worker's unpickling and signals, the monitor's acknowledgement.
- steps: N low-value orders started (each `policy.check`, then `dispatch.execute` with an HTTP
  call to the carrier, so 2N steps), then the same cluster drains them until every order
  waits for its proof of delivery.

Rates are counted from the first finished task to the last (start-up left out), polling the
queue table (no-op) and the executions table (steps) every 50 ms. Each cluster runs with
production settings: DEBUG off, JSON logs at INFO to a file, the same Q_CLUSTER.

`--latency-rate R --latency-seconds S` then starts R orders a second for S seconds beside a
2-worker cluster and reports ingest -> first step done (an order's `policy.check` execution
from its creation, in the order's own transaction, to its finish): p50, p99, max. The orders
are high-value ones, which wait for review after that step, so the load is R steps a second;
`--latency-path dispatch` uses low-value ones (2R steps a second).

`--profile DIR` records the 2-worker steps phase with py-spy (every process of the cluster)
into DIR/steps-2.txt, collapsed stacks, and prints the functions with most own time.

Prints JSON.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def noop(number: int) -> None:
    """The ceiling's task: django-q2 delivers it, nothing else happens."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if not name.endswith("_bench"):
        sys.exit(f"refusing to drop {name!r}: the bench database's name must end in _bench")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _environment(carrier_port: int, var_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "OPSCORE_DEBUG": "false",
        "OPSCORE_SECRET_KEY": secrets.token_urlsafe(50),
        "OPSCORE_AUDIT_KEYS": f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "OPSCORE_VAR_DIR": var_dir,
        "OPSCORE_CARRIER_URL": f"http://127.0.0.1:{carrier_port}/shipments",
        "OPSCORE_LOG_LEVEL": "INFO",
        "OPSCORE_LOG_FORMAT": "json",
    }


class Cluster:
    """`manage.py qcluster` in its own process group; stopped by SIGTERM to the sentinel."""

    def __init__(self, *, env: dict[str, str], workers: int, log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "OPSCORE_Q_WORKERS": str(workers)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()


def _task_options() -> dict:
    """The options the engine enqueues a step with, so the no-op pays for the same."""
    from workflows import engine

    return dict(getattr(engine, "RUN_EXECUTION_OPTIONS", {}))


def _enqueue_noops(count: int) -> None:
    from django.db import transaction
    from django_q.tasks import async_task

    options = _task_options()
    with transaction.atomic():
        for number in range(count):
            async_task("bench.worker_bench.noop", number, task_name=f"noop-{number}", **options)


def _start_orders(count: int, *, value: int) -> list[int]:
    from opscore.actors import SYSTEM
    from workflows import services

    run = secrets.token_hex(4)
    ids = []
    for number in range(count):
        order = services.start_workflow(
            workflow="order",
            payload={
                "order_id": f"B-{run}-{number}",
                "customer": f"bench-{number}",
                "postcode": "AB1 2CD",
                "weight_kg": 2.5,
                "value": value,
            },
            actor=SYSTEM,
        )
        ids.append(order.pk)
    return ids


def _drain(*, count: int, done, timeout: float) -> dict:
    """Poll `done()` until it reaches `count`; the rate from the first to the last finish."""
    started = time.monotonic()
    first = None
    last_change, last_done = started, 0
    while True:
        now, finished = time.monotonic(), done()
        if finished != last_done:
            last_change, last_done = now, finished
        if first is None and finished > 0:
            first = (now, finished)
        if finished >= count:
            break
        if now - started > timeout:
            raise SystemExit(f"drain timed out: {finished} of {count} after {timeout:.0f}s")
        time.sleep(0.05)
    t0, c0 = first
    elapsed = max(last_change - t0, 1e-6)
    return {
        "tasks": count,
        "per_second": round((count - c0) / elapsed, 1),
        "seconds": round(elapsed, 2),
        "startup_seconds": round(t0 - started, 2),
    }


def _queue_left() -> int:
    from django_q.models import OrmQ

    return OrmQ.objects.count()


def _steps_done(since_pk: int):
    from workflows.models import Execution
    from workflows.models.execution import ExecutionStatus

    def done() -> int:
        return Execution.objects.filter(pk__gt=since_pk, status=ExecutionStatus.SUCCEEDED).count()

    return done


def _last_execution_pk() -> int:
    from workflows.models import Execution

    return Execution.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _profile_summary(path: Path, top: int = 25) -> list[tuple[str, float]]:
    """Own time per function from py-spy's collapsed stacks, as shares of all samples."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        own[stack.split(";")[-1]] += samples
    return [(frame, round(100 * n / total, 1)) for frame, n in own.most_common(top)]


def _uptime() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma separated")
    parser.add_argument("--orders", type=int, default=600, help="orders per steps phase (2 steps)")
    parser.add_argument("--latency-rate", type=float, default=0, help="orders/s; 0 skips")
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--latency-path", choices=["review", "dispatch"], default="review")
    parser.add_argument("--profile", type=Path, help="py-spy the 2-worker steps phase here")
    parser.add_argument("--skip-noop", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    _recreate_database(url)
    var_dir = tempfile.mkdtemp(prefix="opscore-worker-bench-")
    carrier_port = _free_port()
    env = _environment(carrier_port, var_dir)
    os.environ.update({k: v for k, v in env.items() if k.startswith("OPSCORE_")})
    os.environ["OPSCORE_LOG_LEVEL"] = "WARNING"  # the bench's own lines; the clusters log INFO
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    subprocess.run([sys.executable, "manage.py", "createcachetable"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from django.conf import settings

    carrier = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "carrier", "--port", str(carrier_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    logs = Path(var_dir)
    report: dict = {
        "database": "postgresql",
        "q_cluster": {k: settings.Q_CLUSTER.get(k) for k in ("poll", "bulk", "save_limit")},
        "worker_conn_max_age": getattr(settings, "OPSCORE_WORKER_DB_CONN_MAX_AGE", 0),
        "task_options": _task_options(),
        "load_before": _uptime(),
        "phases": {},
    }
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            phase: dict = {}
            steps = 2 * args.orders
            if not args.skip_noop:
                _enqueue_noops(steps)
                cluster = Cluster(env=env, workers=workers, log=logs / f"noop-{workers}.log")
                try:
                    phase["noop"] = _drain(
                        count=steps, done=lambda steps=steps: steps - _queue_left(), timeout=600
                    )
                finally:
                    cluster.stop()
            since = _last_execution_pk()
            seeding = time.monotonic()
            _start_orders(args.orders, value=120)
            phase["seeded_orders_seconds"] = round(time.monotonic() - seeding, 1)
            cluster = Cluster(env=env, workers=workers, log=logs / f"steps-{workers}.log")
            spy = None
            if args.profile and workers == 2:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--subprocesses",
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "--output",
                        str(args.profile / "steps-2.txt"),
                        "--pid",
                        str(cluster.process.pid),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            try:
                phase["steps"] = _drain(count=steps, done=_steps_done(since), timeout=900)
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
                cluster.stop()
            if "noop" in phase:
                phase["steps_to_noop"] = round(
                    phase["steps"]["per_second"] / phase["noop"]["per_second"], 3
                )
            phase["load_after"] = _uptime()
            report["phases"][f"{workers}_workers"] = phase
            print(json.dumps({f"{workers}_workers": phase}), file=sys.stderr, flush=True)
        if args.latency_rate:
            report["latency"] = _latency(args, env=env, logs=logs)
        if args.profile:
            report["profile_own_time_percent"] = _profile_summary(args.profile / "steps-2.txt")
    finally:
        carrier.terminate()
        carrier.wait(timeout=10)
    report["load_after"] = _uptime()
    report["logs"] = var_dir
    print(json.dumps(report, indent=2))


def _latency(args, *, env: dict[str, str], logs: Path) -> dict:
    from django.db.models import F

    from workflows.models import Execution

    since = _last_execution_pk()
    cluster = Cluster(env=env, workers=2, log=logs / "latency.log")
    value = 4000 if args.latency_path == "review" else 120
    try:
        time.sleep(3)  # the cluster's start-up is not an order's wait
        interval = 1 / args.latency_rate
        total = int(args.latency_rate * args.latency_seconds)
        next_at = time.monotonic()
        behind = 0.0
        for _ in range(total):
            _start_orders(1, value=value)
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                behind = max(behind, -pause)
        done = _steps_done(since)
        deadline = time.monotonic() + 300
        first_steps = Execution.objects.filter(pk__gt=since, step="policy.check")
        while first_steps.filter(finished_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("latency phase: steps still pending after 300 s")
            time.sleep(0.2)
        waits = sorted(
            (finished - created).total_seconds() * 1000
            for created, finished in first_steps.annotate(done_at=F("finished_at")).values_list(
                "created_at", "done_at"
            )
        )
    finally:
        cluster.stop()

    def pct(p: float) -> float:
        return round(waits[min(len(waits) - 1, int(p * len(waits)))], 1)

    return {
        "orders": len(waits),
        "rate_per_s": args.latency_rate,
        "path": args.latency_path,
        "ingest_fell_behind_ms": round(behind * 1000, 1),
        "steps_done": done(),
        "first_step_p50_ms": pct(0.50),
        "first_step_p99_ms": pct(0.99),
        "first_step_max_ms": round(waits[-1], 1),
    }


if __name__ == "__main__":
    main()
