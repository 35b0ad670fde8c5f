"""Where one ingestion request's CPU goes: cProfile on process time, in one process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_ingest_profile_bench \\
        .venv/bin/python bench/ingest_profile.py [--requests 400] [--batch 0] [--top 30]

Sends `--requests` `order.received` events through Django's full request stack (middleware,
DRF, Api-Key authentication, rate limit, the ingestion service, the engine) with the test
client, in this process, after as many unmeasured ones to warm caches and connections. The
profiler's clock is this process's CPU time, so PostgreSQL's own time and a busy machine's
waiting are left out: what remains is what the web worker spends per request. It prints CPU
per request, statements per request, a breakdown by part (the innermost frame of each
profiled call that lies in one of `PARTS`) and the top functions by own and cumulative time.
With `--batch N`, each request is `POST /api/v1/events:batch` with N events, and figures are
per event. `--save PATH` writes the profile for `pstats` (callers of a function, say);
`--plain` gives only the CPU per event without the profiler, whose overhead grows with the
number of Python calls (compare changes with it).

The database named in DATABASE_URL is dropped and recreated (its name must end in `_bench`).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
os.environ.setdefault("OPSCORE_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPSCORE_DEBUG", "false")
os.environ.setdefault("OPSCORE_DB_CONN_MAX_AGE", "60")
os.environ.setdefault("OPSCORE_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault(
    "OPSCORE_AUDIT_KEYS", "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()
)
os.environ.setdefault("OPSCORE_THROTTLE_KEY", "100000000/min")

# Cumulative CPU of the calls that make up a request, by (file path part, function name).
STAGES = (
    ("whole request (Django handler)", "django/core/handlers/base.py", "get_response"),
    ("API key authentication", "integrations/authentication.py", "authenticate"),
    ("rate limit", "opscore/throttling.py", "allow_request"),
    ("ingest_event", "integrations/services/ingestion.py", "ingest_event"),
    ("  JSON Schema (envelope + payload)", "integrations/services/", "_schema_errors"),
    ("  event type lookup", "integrations/selectors.py", "active_event_type"),
    ("  idempotency lock", "integrations/services/", "_lock_key"),
    ("  duplicate lookup", "integrations/services/", "answer_existing"),
    ("  sealing", "privacy/sealing.py", "seal_payload"),
    ("  start_instance (engine)", "workflows/engine.py", "start_instance"),
    ("    history row (simple-history)", "simple_history/models.py", "post_save"),
    ("    execution scheduled", "workflows/engine.py", "_schedule_execution"),
    ("      django-q2 enqueue", "django_q/tasks.py", "async_task"),
    ("    append_event", "audit/services.py", "append_event"),
    ("  QuerySet.create (execution, inbound event)", "django/db/models/query.py", "create"),
    ("ingest_batch (--batch: the bulk path)", "integrations/services/batch.py", "ingest_batch"),
    ("  read_event (checks, item by item)", "integrations/services/ingestion.py", "read_event"),
    (
        "  store and route, all items at once",
        "integrations/services/batch.py",
        "_store_and_route_all",
    ),
    ("    sealing (all subjects at once)", "privacy/sealing.py", "seal_payloads"),
    ("    start_instances (engine)", "workflows/engine.py", "start_instances"),
    ("      django-q2 packages", "workflows/engine.py", "_task_package"),
    ("    multi-row INSERTs", "opscore/bulk_insert.py", "insert_rows"),
    ("  chain write at commit", "audit/chaining.py", "write_pending_events"),
    ("  COMMIT", "django/db/backends/base/base.py", "commit"),
    ("psycopg execute (all statements)", "psycopg/cursor.py", "execute"),
)


def statements_of(connection, run: Callable[[], object]) -> list[str]:
    """The SQL of every statement `run()` sends."""
    executed: list[str] = []

    def record(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        run()
    return executed


def profiled(run: Callable[[], object]) -> tuple[cProfile.Profile, float]:
    """`run()` under cProfile on this process's CPU clock, and the CPU seconds it took."""
    profiler = cProfile.Profile(time.process_time)
    started = time.process_time()
    profiler.enable()
    run()
    profiler.disable()
    return profiler, time.process_time() - started


def print_profile(
    profiler: cProfile.Profile,
    *,
    parts,
    count: int,
    unit: str,
    statements: list[str],
    statements_of_one: str,
    orders: tuple[str, ...],
    top: int,
    save: str | None,
) -> None:
    """The breakdown by part per `unit`, one unit's statements and the top functions."""
    stats = pstats.Stats(profiler)
    if save:
        stats.dump_stats(save)
    print(f"cumulative CPU per {unit} (ms) and share of the whole:")
    print_parts(stats, parts, count=count)
    print(f"statements of one {statements_of_one}:")
    for sql in statements:
        print(f"  {sql[:160]}")
    for order in orders:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(out.getvalue())


def print_parts(stats: pstats.Stats, parts, *, count: int) -> None:
    """Each part's cumulative CPU per unit of `count` (ms) and its share of the first part:
    the largest cumulative time of a function `name` in a file whose path holds `where`."""
    whole = None
    for label, where, name in parts:
        seconds = max(
            (
                cumulative
                for (filename, _line, function), (_cc, _nc, _own, cumulative, _callers) in (
                    stats.stats.items()
                )
                if where in filename and function == name
            ),
            default=0.0,
        )
        whole = whole or seconds
        print(f"  {seconds / count * 1000:7.3f}  {seconds / whole:6.1%}  {label}")


def _envelope(run: str, index: int) -> dict:
    ident = f"{run}-{index}"
    return {
        "type": "order.received",
        "source": "bench",
        "occurred_at": "2026-11-25T12:00:00Z",
        "correlation_key": ident,
        "payload": {
            "order_id": ident,
            "customer": "bench",
            "postcode": "AB1 2CD",
            "weight_kg": 2.5,
            "value": 120,
        },
    }


def _send(client, key: str, run: str, index: int, batch: int) -> None:
    if batch:
        items = [
            {"idempotency_key": f"{run}-{index}-{n}", "event": _envelope(run, index * batch + n)}
            for n in range(batch)
        ]
        response = client.post(
            "/api/v1/events:batch",
            data=json.dumps({"events": items}),
            content_type="application/json",
            headers={"authorization": f"Api-Key {key}"},
        )
        assert response.status_code == 207, response.content[:500]
        assert all(item["status"] == 201 for item in response.json()["results"])
        return
    response = client.post(
        "/api/v1/events",
        data=json.dumps(_envelope(run, index)),
        content_type="application/json",
        headers={"authorization": f"Api-Key {key}", "idempotency-key": f"{run}-{index}"},
    )
    assert response.status_code == 201, response.content[:500]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--batch", type=int, default=0, help="events per batch request")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--plain", action="store_true", help="CPU per event without the profiler, nothing else"
    )
    parser.add_argument(
        "--save", metavar="PATH", help="also write the profile (pstats) to PATH, for callers"
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database whose name ends in _bench")
    from ingest_bench import _recreate_database

    _recreate_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from integrations.services import create_api_key, ensure_integration

    call_command("migrate", verbosity=0)
    integration, _ = ensure_integration(name="bench")
    _, key = create_api_key(integration=integration, scopes=["events:write"], event_types=["*"])
    client = Client(HTTP_HOST="127.0.0.1")
    per_request = max(args.batch, 1)

    for index in range(args.requests):
        _send(client, key, "warm", index, args.batch)
    executed = statements_of(connection, lambda: _send(client, key, "count", 0, args.batch))
    statements = len(executed)
    if args.plain:
        started = time.process_time()
        for index in range(args.requests):
            _send(client, key, "plain", index, args.batch)
        cpu = time.process_time() - started
        print(
            f"{args.requests * per_request} events in {args.requests} requests: "
            f"{cpu / (args.requests * per_request) * 1000:.3f} ms CPU per event, no profiler"
        )
        return

    def measured() -> None:
        for index in range(args.requests):
            _send(client, key, "measured", index, args.batch)

    profiler, cpu = profiled(measured)
    events = args.requests * per_request
    print(
        f"{events} events in {args.requests} requests: {cpu / events * 1000:.2f} ms CPU per "
        f"event under the profiler, {statements / per_request:.1f} statements per event"
    )
    print_profile(
        profiler,
        parts=STAGES,
        count=events,
        unit="event",
        statements=executed,
        statements_of_one="request",
        orders=("tottime", "cumulative"),
        top=args.top,
        save=args.save,
    )


if __name__ == "__main__":
    main()
