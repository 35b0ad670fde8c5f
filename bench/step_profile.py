"""Where one workflow step's CPU goes: cProfile on process time, in one process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_step_profile_bench \\
        .venv/bin/python bench/step_profile.py [--steps 300] [--top 40] [--save PATH]

Ingests 2 x `--steps` `order.received` events (each queues a `policy.check` step), runs the
first `--steps` queued steps unmeasured (warming caches and connections), then runs the next
`--steps` under the profiler: each one as a django-q2 worker would, the queue row taken and
its signed package read, then the job it names (`workflows.jobs.run_execution`: the lease,
the step's decision, its outcome, the transition and the next step scheduled, the log's chain
written at commit). django-q2's own process handling (the worker's queue poll, the result
pipe, the monitor) is left out: `worker_bench.py`'s no-op drain measures that beside real
workers. The profiler's clock is this process's CPU time, so PostgreSQL's own time is left
out too. It prints CPU and statements per step, a breakdown by part and the top functions by
cumulative time; `--save PATH` writes the profile for `pstats`.

The database named in DATABASE_URL is dropped and recreated (its name must end in `_bench`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# ingest_profile sets the environment this process runs Django with.
from ingest_profile import ROOT, _send, print_profile, profiled, statements_of

PARTS = (
    ("whole step (the job)", "workflows/services.py", "run_execution"),
    ("  lease (claim)", "workflows/services.py", "_claim"),
    ("  instance load", "workflows/services.py", "_load_instance"),
    ("  the step's own code (check_policy)", "processes/orders/steps.py", "check_policy"),
    ("    personal data revealed", "privacy/sealing.py", "reveal"),
    ("    decision (rules evaluated, recorded)", "decisions/services/deciding.py", "decide"),
    ("  outcome recorded", "workflows/services.py", "_record_success"),
    ("    transition (engine)", "workflows/engine.py", "transition"),
    ("      history row (simple-history)", "simple_history/models.py", "post_save"),
    ("      next step scheduled", "workflows/engine.py", "_schedule_execution"),
    ("  chain write at commit", "audit/chaining.py", "write_pending_events"),
    ("psycopg execute (all statements)", "psycopg/cursor.py", "execute"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--save", metavar="PATH", help="also write the profile (pstats) to PATH")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    from ingest_bench import _recreate_database

    _recreate_database(url)
    os.chdir(ROOT)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils.module_loading import import_string
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from integrations.services import create_api_key, ensure_integration

    call_command("migrate", verbosity=0)
    integration, _ = ensure_integration(name="bench")
    _, key = create_api_key(integration=integration, scopes=["events:write"], event_types=["*"])
    client = Client(HTTP_HOST="127.0.0.1")
    for index in range(2 * args.steps):
        _send(client, key, "seed", index, 0)

    def run_steps(count: int) -> int:
        """Take the oldest queue rows and run the jobs they name, as a worker would."""
        ran = 0
        for row in OrmQ.objects.order_by("id")[:count]:
            task = SignedPackage.loads(row.payload)
            row.delete()
            import_string(task["func"])(*task["args"], **task["kwargs"])
            ran += 1
        return ran

    run_steps(args.steps - 1)
    executed = statements_of(connection, lambda: run_steps(1))
    ran = 0

    def measured() -> None:
        nonlocal ran
        ran = run_steps(args.steps)

    profiler, cpu = profiled(measured)
    if ran != args.steps:
        sys.exit(f"only {ran} steps were queued")
    print(
        f"{ran} steps: {cpu / ran * 1000:.2f} ms CPU per step under the profiler, "
        f"{len(executed)} statements per step (queue row read and deleted included)"
    )
    print_profile(
        profiler,
        parts=PARTS,
        count=ran,
        unit="step",
        statements=executed,
        statements_of_one="step",
        orders=("cumulative",),
        top=args.top,
        save=args.save,
    )


if __name__ == "__main__":
    main()
