"""Personal data benchmark: what sealing costs ingestion, and what one erasure costs.

    python bench/privacy_bench.py --events 2000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscore_privacy_bench \\
        python bench/privacy_bench.py --events 2000

In-process, through `integrations.services.ingest_event` (validation, dedup, inbound row, the
order started, its events appended and its first step enqueued), every event for a different
customer (the worst case: a new subject and key each time). The ceiling, measured in the same
run: the same events under a copy of `order.received` whose schema marks nothing personal, so
nothing is sealed. Then one `erase_subject` on the log those events made (it scans the log
and the inbound events for the subject's sealed values), and revealing a page of 50 contexts.

Uses a fresh SQLite file in a temporary directory unless DATABASE_URL is set (that database
is migrated and must hold no events).
"""

from __future__ import annotations

import argparse
import base64
import copy
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
    parser.add_argument("--events", type=int, default=2000, help="events per phase")
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

    call_command("migrate", verbosity=0)
    from audit.models import Event
    from integrations.models import ApiKey, BindingAction, EventType, Integration, TriggerBinding
    from integrations.services import Caller, create_api_key, ingest_event
    from opscore.actors import Actor
    from privacy.sealing import PERSONAL_KEYWORD, SUBJECT_KEYWORD, reveal_many
    from privacy.services import erase_subject
    from processes.orders.events import ORDER_RECEIVED_SCHEMA
    from processes.orders.models import Order

    if Event.objects.exists():
        sys.exit("the audit log of this database is not empty; use a fresh database")
    unmarked = copy.deepcopy(ORDER_RECEIVED_SCHEMA)
    unmarked.pop(SUBJECT_KEYWORD)
    for definition in unmarked["properties"].values():
        definition.pop(PERSONAL_KEYWORD, None)
    plain_type = EventType.objects.create(name="bench.order.unmarked", schema=unmarked)
    TriggerBinding.objects.create(
        event_type=plain_type, action=BindingAction.START, workflow="order"
    )
    shop = Integration.objects.create(name="bench-shop")
    api_key, _ = create_api_key(integration=shop, scopes=["events:write"], event_types=["*"])
    caller = Caller.for_api_key(ApiKey.objects.select_related("integration").get(pk=api_key.pk))

    def body(type_: str, i: int) -> bytes:
        return json.dumps(
            {
                "type": type_,
                "source": "bench-shop",
                "occurred_at": "2026-11-25T12:00:00+00:00",
                "correlation_key": f"{type_}-{i}",
                "payload": {
                    "order_id": f"SO-{i:07d}",
                    "customer": f"Customer Number {i}",
                    "email": f"customer{i}@example.invalid",
                    "address": f"{i} Bench Street",
                    "postcode": "AB1 2CD",
                    "weight_kg": 2.5,
                    "value": 120,
                },
            }
        ).encode()

    # The phases alternate in blocks of 100, so neither pays alone for a log grown by the other.
    seconds = {"bench.order.unmarked": 0.0, "order.received": 0.0}
    print(f"ingesting {args.events} events per phase on {connection.vendor} …", file=sys.stderr)
    for block in range(0, args.events, 100):
        for type_ in seconds:
            started = time.perf_counter()
            for i in range(block, min(block + 100, args.events)):
                ingest_event(body=body(type_, i), idempotency_key=f"{type_}-{i}", caller=caller)
            seconds[type_] += time.perf_counter() - started
    plain_seconds, sealed_seconds = seconds.values()

    contexts = list(Order.objects.order_by("-pk").values_list("context", flat=True)[:50])
    reveal_started = time.perf_counter()
    revealed = reveal_many(contexts)
    reveal_seconds = time.perf_counter() - reveal_started
    assert revealed[0]["input"]["customer"].startswith("Customer Number")

    events = Event.objects.count()
    erase_started = time.perf_counter()
    erase_subject(
        ref=f"customer{args.events // 2}@example.invalid",
        reason="bench",
        actor=Actor.for_integration("bench"),
    )
    erase_seconds = time.perf_counter() - erase_started

    print(
        json.dumps(
            {
                "backend": connection.vendor,
                "events_per_phase": args.events,
                "ingest_unsealed_per_s": round(args.events / plain_seconds),
                "ingest_sealed_per_s": round(args.events / sealed_seconds),
                "sealed_ratio_to_unsealed": round(plain_seconds / sealed_seconds, 3),
                "reveal_page_of_50_ms": round(reveal_seconds * 1000, 2),
                "log_events_scanned": events,
                "erase_one_subject_seconds": round(erase_seconds, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
