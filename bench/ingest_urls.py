"""opscore's URLs plus two bench endpoints: the ceiling and the raw-SQL floor of full routing."""

import json
from datetime import timedelta

from django.db import connection, transaction
from django.urls import path
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.digests import advisory_lock_id, key_digest
from opscore.throttling import count_hit
from opscore.urls import urlpatterns as opscore_urlpatterns


class Ceiling(APIView):
    """What a DRF POST that writes one row costs on this machine, with nothing else."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []
    throttle_classes = []

    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_ceiling (body) VALUES (%s) RETURNING id",
                [json.dumps(json.loads(request.body))],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id}, status=201)


# One-row stand-ins for the rows full routing writes: order, its history row, execution,
# queue entry, inbound event; then the two log events under a global head lock at commit.
FLOOR_WRITES = ["order", "historical_order", "execution", "queue", "inbound_event"]


class Floor(APIView):
    """The database round trips of full routing, as raw SQL with no ORM and no engine.

    The reads are the real ones (API key, event type, idempotency lookup) and so is the
    key's rate-limit upsert, outside the transaction as in ingestion; the writes go to
    bench tables of one JSON column. No implementation that keeps these round trips can be
    faster than this on the same machine, so ingest / floor is what the code on top costs.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []
    # The key's rate limit is counted below as the one upsert ingestion pays for it.
    throttle_classes = []

    def post(self, request):
        key = request.headers["Authorization"].partition(" ")[2]
        envelope = json.loads(request.body)
        body = json.dumps(envelope)
        idempotency_key = request.headers["Idempotency-Key"]
        now = timezone.now()
        window_end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        count_hit(slot=f"floor:{key[:12]}:{window_end.isoformat()}", ends_at=window_end, now=now)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT k.id, u.id FROM integrations_apikey k "
                "JOIN integrations_integration i ON i.id = k.integration_id "
                "JOIN auth_user u ON u.id = i.user_id "
                "WHERE k.digest = %s AND k.revoked_at IS NULL AND i.is_active",
                [key_digest(key)],
            )
            cursor.fetchone()
            cursor.execute(
                "SELECT t.schema, b.workflow FROM integrations_eventtype t "
                "LEFT JOIN integrations_triggerbinding b ON b.event_type_id = t.id "
                "WHERE t.name = %s AND t.is_active",
                [envelope["type"]],
            )
            cursor.fetchone()
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s)",
                [advisory_lock_id(source=envelope["source"], idempotency_key=idempotency_key)],
            )
            cursor.execute(
                "SELECT response_body FROM integrations_inboundevent "
                "WHERE source = %s AND idempotency_key = %s",
                [envelope["source"], idempotency_key],
            )
            cursor.fetchone()
            for kind in FLOOR_WRITES:
                cursor.execute("INSERT INTO bench_floor (kind, body) VALUES (%s, %s)", [kind, body])
            cursor.execute("SELECT last_seq FROM bench_floor_head WHERE id = 1 FOR UPDATE")
            (last_seq,) = cursor.fetchone()
            cursor.execute(
                "INSERT INTO bench_floor (kind, body) VALUES ('event', %s), ('event', %s)",
                [body, body],
            )
            cursor.execute("UPDATE bench_floor_head SET last_seq = %s WHERE id = 1", [last_seq + 2])
        return Response({"id": idempotency_key}, status=201)


urlpatterns = [
    path("bench/ceiling", Ceiling.as_view()),
    path("bench/floor", Floor.as_view()),
    *opscore_urlpatterns,
]
