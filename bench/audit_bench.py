"""Audit log benchmark: append and verify N events, against same-run ceilings.

    python bench/audit_bench.py --events 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_bench python bench/audit_bench.py

Uses a fresh SQLite file in a temporary directory unless DATABASE_URL is set (that database
is migrated and its audit tables must be empty). Ceilings, measured in the same run:
- append: a bulk INSERT of the same rows with no chaining (what storage alone costs);
- verify: reading the same rows with the same query, without hashing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per transaction")
    args = parser.parse_args()

    os.environ.setdefault("OPSCORE_VAR_DIR", tempfile.mkdtemp(prefix="opscore-bench-"))
    os.environ.setdefault("OPSCORE_DEBUG", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    # The chain is keyed; a throwaway key measures the HMAC cost as production pays it.
    os.environ.setdefault(
        "OPSCORE_AUDIT_KEYS", f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    from audit.models import Event
    from audit.selectors import _rows, verify_chain
    from audit.services import append_event
    from opscore.actors import Actor

    if Event.objects.exists():
        sys.exit("the audit log of this database is not empty; use a fresh database")
    actor = Actor.for_integration("bench")

    def payload(i: int) -> dict:
        return {"order": f"SO-{i:07d}", "transition": "mark_dispatched", "data": {"n": i}}

    print(f"appending {args.events} events on {connection.vendor} …", file=sys.stderr)
    started = time.perf_counter()
    for offset in range(0, args.events, args.batch):
        with transaction.atomic():
            for i in range(offset, min(offset + args.batch, args.events)):
                append_event(type="bench.event", actor=actor, payload=payload(i))
    append_seconds = time.perf_counter() - started

    verify_started = time.perf_counter()
    report = verify_chain()
    verify_seconds = time.perf_counter() - verify_started
    if not report.intact or report.checked != args.events:
        sys.exit(f"verification failed: {report}")

    read_started = time.perf_counter()
    rows = sum(1 for _ in _rows(5000))
    read_seconds = time.perf_counter() - read_started

    # Storage ceiling: the same number of rows, bulk-inserted into a scratch table.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE bench_ceiling (seq bigint, type text, payload text)")
    ceiling_started = time.perf_counter()
    with connection.cursor() as cursor:
        for offset in range(0, args.events, args.batch):
            with transaction.atomic():
                cursor.executemany(
                    "INSERT INTO bench_ceiling VALUES (%s, %s, %s)",
                    [
                        (i, "bench.event", json.dumps(payload(i)))
                        for i in range(offset, min(offset + args.batch, args.events))
                    ],
                )
    ceiling_seconds = time.perf_counter() - ceiling_started

    print(
        json.dumps(
            {
                "backend": connection.vendor,
                "events": args.events,
                "append_events_per_s": round(args.events / append_seconds),
                "append_ceiling_rows_per_s": round(args.events / ceiling_seconds),
                "append_ratio": round(ceiling_seconds / append_seconds, 3),
                "verify_seconds": round(verify_seconds, 2),
                "verify_events_per_s": round(args.events / verify_seconds),
                "read_ceiling_rows_per_s": round(rows / read_seconds),
                "verify_ratio": round(read_seconds / verify_seconds, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
