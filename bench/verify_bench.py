"""verify_audit on a million events: the keyed chain against the unkeyed one, same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_bench \\
        python bench/verify_bench.py --events 1000000

PostgreSQL only. The database is migrated, then two chains of the same N events are built in
schemas of their own with COPY (hashes computed in Python, in batches): `bench_keyed`
(HMAC-SHA256 under a bench key, as production writes them) and `bench_legacy` (plain SHA-256,
key id "", the unkeyed chain). A chain already built with N events is reused. Each
measurement is `audit.selectors.verify_chain` in a fresh process whose search_path points at
one schema, so its peak RSS is its own: verify over the first 100,000 events and over all N,
for both chains; and, as the ceiling, the same rows read and decoded the same way
(`_canonical_rows`) without hashing.

Prints JSON: events/s of each, keyed/unkeyed ratio, peak RSS in MB.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEMAS = {"keyed": "bench_keyed", "legacy": "bench_legacy"}
# A fixed bench key, so a reused chain still verifies in a later run.
BENCH_KEY = hashlib.sha256(b"opscore verify bench key").digest()
BENCH_KEY_ID = "bench"
TRANSITIONS = [
    ("workflow.started", "received"),
    ("step.completed", "in_review"),
    ("review.decided", "dispatching"),
    ("step.completed", "awaiting_pod"),
    ("signal.received", "completed"),
]


def setup_django() -> None:
    os.environ.setdefault("OPSCORE_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    os.environ["OPSCORE_AUDIT_KEYS"] = f"{BENCH_KEY_ID}:{base64.b64encode(BENCH_KEY).decode()}"
    import django

    django.setup()


def event_rows(n: int, *, keyed: bool, batch: int = 20_000):
    """Yield batches of COPY rows: a realistic order workflow's events, chained."""
    from audit.hashing import GENESIS_HASH, event_hash

    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    rows = []
    for i in range(n):
        seq = i + 1
        order = i // len(TRANSITIONS) + 1
        type_, state = TRANSITIONS[i % len(TRANSITIONS)]
        at = start + timedelta(seconds=i, microseconds=(i * 7919) % 1_000_000)
        payload = {
            "transition": type_.split(".")[0],
            "to": state,
            "order": f"SO-{order:07d}",
            "context": {"value": (order * 37) % 5000, "postcode_area": "EH", "attempt": 1},
        }
        key_id = BENCH_KEY_ID if keyed else ""
        digest = event_hash(
            seq=seq,
            occurred_at=at,
            recorded_at=at,
            type=type_,
            instance_type_id=None,
            instance_id=order,
            actor_kind="system",
            actor_ref="engine",
            payload=payload,
            prev_hash=prev,
            key_id=key_id,
            key=BENCH_KEY if keyed else None,
        )
        rows.append(
            (
                seq,
                at.isoformat(),
                at.isoformat(),
                type_,
                order,
                "system",
                "engine",
                json.dumps(payload),
                prev,
                digest,
                key_id,
            )
        )
        prev = digest
        if len(rows) == batch:
            yield rows, prev
            rows = []
    if rows:
        yield rows, prev


def build(n: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    for kind, schema in SCHEMAS.items():
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [f"{schema}.audit_event"])
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"SELECT count(*), max(seq) FROM {schema}.audit_event")  # noqa: S608
                if cursor.fetchone() == (n, n):
                    print(f"{schema}: {n} events already built", file=sys.stderr)
                    continue
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cursor.execute(f"CREATE SCHEMA {schema}")
            for table in ("audit_event", "audit_chain_head"):
                cursor.execute(f"CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)")
        started = time.perf_counter()
        last = None
        with connection.cursor() as cursor:
            raw = cursor.cursor
            for rows, tail_hash in event_rows(n, keyed=kind == "keyed"):
                last = tail_hash
                with raw.copy(
                    f"COPY {schema}.audit_event (seq, occurred_at, recorded_at, type, "
                    "instance_id, actor_kind, actor_ref, payload, prev_hash, hash, key_id) "
                    "FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {schema}.audit_chain_head (id, last_seq, last_hash) "  # noqa: S608
                "VALUES (1, %s, %s)",
                [n, last],
            )
            cursor.execute(f"ANALYZE {schema}.audit_event")
        print(
            f"{schema}: built {n} events in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )


def measure(kind: str, limit: int | None, *, read_only: bool) -> dict:
    """In this process: verify (or only read) one chain; time and peak RSS."""
    from django.db import connection

    from audit.anchors import Checkpoint
    from audit.selectors import _canonical_rows, verify_chain

    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path TO {SCHEMAS[kind]}, public")
        if limit is not None:
            cursor.execute("SELECT hash FROM audit_event WHERE seq = %s", [limit])
            limit_hash = cursor.fetchone()[0]
    cpu_started = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if read_only:
        checked = sum(len(chunk) for chunk in _canonical_rows(5000, upto=limit))
    else:
        checkpoint = None
        if limit is not None:
            checkpoint = Checkpoint(seq=limit, hash=limit_hash, at="bench", key_id=BENCH_KEY_ID)
        report = verify_chain(checkpoint=checkpoint, upto_checkpoint=limit is not None)
        if not report.intact:
            sys.exit(f"{kind}: chain broken: {report.first_break}")
        checked = report.checked
    seconds = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu.ru_utime - cpu_started.ru_utime) + (cpu.ru_stime - cpu_started.ru_stime)
    return {
        "events": checked,
        "seconds": round(seconds, 2),
        "events_per_s": round(checked / seconds),
        # This process's CPU alone (the server's is not in it): steadier than the wall clock
        # on a shared machine.
        "events_per_cpu_s": round(checked / cpu_seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_child(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="the smaller measurement")
    parser.add_argument("--measure", choices=sorted(SCHEMAS))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="build the chains and stop")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL database of its own (it is rebuilt)")
    setup_django()
    if args.measure:
        print(json.dumps(measure(args.measure, args.limit, read_only=args.read_only)))
        return
    build(args.events)
    if args.build_only:
        return
    results = {}
    for label, extra in (
        ("keyed_small", ["--measure", "keyed", "--limit", str(args.small)]),
        ("legacy_small", ["--measure", "legacy", "--limit", str(args.small)]),
        ("keyed", ["--measure", "keyed"]),
        ("legacy", ["--measure", "legacy"]),
        ("read_ceiling", ["--measure", "keyed", "--read-only"]),
    ):
        results[label] = run_child(*extra)
        print(f"{label}: {results[label]}", file=sys.stderr)
    results["keyed_over_unkeyed"] = round(
        results["keyed"]["events_per_s"] / results["legacy"]["events_per_s"], 3
    )
    results["keyed_over_read_ceiling"] = round(
        results["keyed"]["events_per_s"] / results["read_ceiling"]["events_per_s"], 3
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
