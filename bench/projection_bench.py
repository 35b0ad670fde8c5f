"""`check_projections` at 100,000 and 1,000,000 events: peak RSS and seconds, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_projection_bench \\
        python bench/projection_bench.py --events 100000,1000000 [--compare-with /path/to/old]

PostgreSQL only; the database is dropped and recreated (its name must end in `_bench`). The
log is built with `INSERT ... SELECT generate_series`: per order six events (started, four
transitions, one review task event) and the order and review task rows they explain, so the
check finds no difference. After each size is built, `check_projections` runs in a fresh
process (`manage.py`-style, its own peak RSS from getrusage) and must report 0 differences.
`--compare-with DIR` also runs `rebuild_projections` from another checkout (an older one) on
the same data, as the before figure.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS_PER_ORDER = 6

MEASURE = r"""
import json, os, resource, sys, time, io
import django
django.setup()
from django.core.management import call_command
out = io.StringIO()
started = time.perf_counter()
try:
    call_command(sys.argv[1], stdout=out)
    ok = True
except Exception as error:
    ok = False
    out.write(str(error))
print(json.dumps({
    "seconds": round(time.perf_counter() - started, 2),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "consistent": ok,
    "output": out.getvalue().strip().splitlines()[-3:],
}))
"""

BUILD = """
INSERT INTO {order_table} (id, correlation_key, context, version, created_at, updated_at, state)
SELECT k, 'bench-' || k,
       jsonb_build_object(
         'input', jsonb_build_object('order_id', 'SO-' || k, 'value', k %% 5000),
         'policy', jsonb_build_object('review_required', true),
         'approval', jsonb_build_object('by', 'bench'),
         'shipment', jsonb_build_object('carrier', 'northpost', 'shipment_id', 'S-' || k),
         'signals', jsonb_build_object(
            'confirm_delivery', jsonb_build_object('input', '{}'::jsonb))),
       4, now(), now(), 'completed'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS k;

INSERT INTO approvals_reviewtask (id, instance_id, instance_version, title, workflow, step, status,
    opened_at, due_at, escalation_level, policy_snapshot, outcome, reason, information_requested,
    information_answer,
    updated_at, instance_type_id, queue_id)
SELECT k, k, 1, 'Review order ' || k, 'order', 'manual.review', 'approved', now(),
       '2026-01-01 00:00:00+00', 0, '{}', '', '', '', '', now(), %(ct)s::int, %(queue)s::int
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS k;

INSERT INTO audit_event (seq, occurred_at, recorded_at, type, instance_type_id, instance_id,
    actor_kind, actor_ref, payload, prev_hash, hash, key_id)
SELECT (k - 1) * 6 + e, now(), now(),
       CASE e WHEN 1 THEN 'workflow.started' WHEN 3 THEN 'task.decided'
              ELSE 'workflow.transition' END,
       %(ct)s::int, k, 'system', 'system',
       CASE e
         WHEN 1 THEN jsonb_build_object('workflow', 'order', 'correlation_key', 'bench-' || k,
           'state', 'received', 'version', 0,
           'context', jsonb_build_object('input',
              jsonb_build_object('order_id', 'SO-' || k, 'value', k %% 5000)))
         WHEN 2 THEN jsonb_build_object('workflow', 'order', 'transition', 'flag_for_review',
           'source', 'received', 'target', 'in_review', 'version', 1, 'data', '{}'::jsonb,
           'context_update', jsonb_build_object('policy',
              jsonb_build_object('review_required', true)))
         WHEN 3 THEN jsonb_build_object('task', k, 'step', 'manual.review', 'status', 'approved',
           'queue', %(queue_name)s::text, 'assignee', null, 'due_at', '2026-01-01T00:00:00Z',
           'escalation_level', 0)
         WHEN 4 THEN jsonb_build_object('workflow', 'order', 'transition', 'approve',
           'source', 'in_review', 'target', 'dispatching', 'version', 2, 'data', '{}'::jsonb,
           'context_update', jsonb_build_object('approval', jsonb_build_object('by', 'bench')))
         WHEN 5 THEN jsonb_build_object('workflow', 'order', 'transition', 'dispatched',
           'source', 'dispatching', 'target', 'awaiting_pod', 'version', 3, 'data', '{}'::jsonb,
           'context_update', jsonb_build_object('shipment',
              jsonb_build_object('carrier', 'northpost', 'shipment_id', 'S-' || k)))
         ELSE jsonb_build_object('workflow', 'order', 'transition', 'confirm_delivery',
           'source', 'awaiting_pod', 'target', 'completed', 'version', 4, 'data', '{}'::jsonb,
           'context_update', jsonb_build_object('signals', jsonb_build_object(
              'confirm_delivery', jsonb_build_object('input', '{}'::jsonb))))
       END,
       '', md5(k::text || '/' || e) || md5(e || '/' || k::text), ''
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS k, generate_series(1, 6) AS e;
"""


def _recreate_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if not name.endswith("_bench"):
        sys.exit(f"refusing to drop {name!r}: the bench database's name must end in _bench")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


ORDER_MODEL = r"""
import django
django.setup()
from django.contrib.contenttypes.models import ContentType
from workflows import registry
model = registry.get("order").model
print(model._meta.db_table, ContentType.objects.get_for_model(model).pk)
"""


def _order_model(env: dict[str, str]) -> tuple[str, int]:
    """The order model's table and content type, wherever its app is."""
    done = subprocess.run(
        [sys.executable, "-c", ORDER_MODEL],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    table, content_type = done.stdout.split()[-2:]
    return table, int(content_type)


def _build(url: str, *, first: int, last: int, order_table: str, ct: int) -> float:
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url) as connection:
        queue, queue_name = connection.execute(
            "SELECT id, name FROM auth_group ORDER BY id LIMIT 1"
        ).fetchone()
        params = {"first": first, "last": last, "ct": ct, "queue": queue, "queue_name": queue_name}
        for statement in BUILD.replace("{order_table}", order_table).split(";\n"):
            if statement.strip():
                connection.execute(statement, params)
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE audit_event")
        connection.execute(f"VACUUM ANALYZE {order_table}")
        connection.execute("VACUUM ANALYZE approvals_reviewtask")
    return time.monotonic() - started


def _measure(command: str, *, cwd: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, command],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="100000,1000000", help="log sizes, ascending")
    parser.add_argument("--compare-with", type=Path, help="an older checkout to run too")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    _recreate_database(url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opscore.settings",
        "OPSCORE_DEBUG": "1",
        "OPSCORE_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    report: dict = {"sizes": {}}
    order_table, ct = _order_model(env)
    orders = 0
    for events in [int(n) for n in args.events.split(",")]:
        target = events // EVENTS_PER_ORDER
        built = _build(url, first=orders + 1, last=target, order_table=order_table, ct=ct)
        orders = target
        size: dict = {"orders": orders, "events": orders * EVENTS_PER_ORDER}
        size["build_seconds"] = round(built, 1)
        size["load"] = Path("/proc/loadavg").read_text().split()[:3]
        size["check_projections"] = _measure("check_projections", cwd=ROOT, env=env)
        if args.compare_with:
            size["before"] = _measure("rebuild_projections", cwd=args.compare_with, env=env)
        report["sizes"][str(events)] = size
        print(json.dumps({events: size}), file=sys.stderr, flush=True)
    sizes = list(report["sizes"].values())
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        report["peak_rss_ratio"] = round(
            last["check_projections"]["peak_rss_mb"] / first["check_projections"]["peak_rss_mb"],
            3,
        )
        if args.compare_with:
            report["before_peak_rss_ratio"] = round(
                last["before"]["peak_rss_mb"] / first["before"]["peak_rss_mb"], 3
            )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
