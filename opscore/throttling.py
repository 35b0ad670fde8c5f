"""API rate limits: one budget per API key (integrations/throttling.py), one per client address
for callers without a key.

Rates come from settings.OPSCORE_THROTTLE_RATES on every request (DRF's own throttles read
theirs once, at import). Counters are fixed windows in the `opscore_ratewindow` table, shared
by every process and host, each request counted with one upsert (`count_hit`): the ingest path
pays one round trip for its limit. A fixed window lets a caller spend up to twice its rate
across a window boundary; the budget per window holds exactly. Staff sessions are not limited:
they are people, already behind a login that django-axes guards. A throttled request gets 429
problem details with Retry-After.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

TOO_MANY_REQUESTS = {
    "description": (
        "Too Many Requests: the API key's or, without a key, the client address's rate "
        "limit is spent. Retry-After says how many seconds to wait."
    ),
    "headers": {
        "Retry-After": {
            "description": "Seconds until the next request may be accepted.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
    # The same two renderings as every other problem response (opscore.renderers).
    "content": {
        media_type: {"schema": {"$ref": "#/components/schemas/Problem"}}
        for media_type in ("application/json", "application/problem+json")
    },
}


def count_hit(*, slot: str, ends_at: datetime, now: datetime) -> int:
    """Count one request in the window `slot` (ending at `ends_at`); return its count so far.

    One statement on PostgreSQL and SQLite alike (INSERT ... ON CONFLICT ... RETURNING), in
    autocommit: concurrent requests of one caller serialise on the row for that statement only.
    """
    table = connection.ops.quote_name("opscore_ratewindow")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (slot, hits, ends_at) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT (slot) DO UPDATE SET hits = {table}.hits + 1 RETURNING hits",
            [slot, ends_at],
        )
        (hits,) = cursor.fetchone()
        if hits == 1:
            # The caller opened a new window: windows that have ended count nothing any more.
            cursor.execute(f"DELETE FROM {table} WHERE ends_at <= %s", [now])  # noqa: S608
    return hits


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" -> (600, 60): DRF's notation, the period's first letter is what counts."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0]]


class RateFromSettings(BaseThrottle):
    """A budget per `scope` in settings.OPSCORE_THROTTLE_RATES, counted per caller identity
    (`get_cache_key`); the apps that know the callers (API keys, webhook sources) subclass it."""

    scope = ""
    cache_format = "%(scope)s:%(ident)s"

    def get_cache_key(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = settings.OPSCORE_THROTTLE_RATES.get(self.scope)
        ident = self.get_cache_key(request, view) if rate else None
        if ident is None:
            return True
        allowed, seconds = _parse_rate(rate)
        now = time.time()
        window_start = math.floor(now / seconds) * seconds
        window_end = window_start + seconds
        self._wait = window_end - now
        hits = count_hit(
            slot=f"{ident}:{window_start}"[:200],
            ends_at=datetime.fromtimestamp(window_end, tz=UTC),
            now=datetime.fromtimestamp(now, tz=UTC),
        )
        return hits <= allowed

    def wait(self) -> float:
        return max(1.0, self._wait)


class AnonymousThrottle(RateFromSettings):
    """Callers with neither key nor session (webhook senders, probes), by client address.

    The address is the socket's unless REST_FRAMEWORK["NUM_PROXIES"] says how many proxies
    append to X-Forwarded-For.
    """

    scope = "anonymous"

    def get_cache_key(self, request, view) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WebhookThrottle(RateFromSettings):
    """Webhook deliveries, per source and sending address.

    A carrier posts every delivery from the same few addresses, far more often than junk
    should be allowed from one address, so webhooks have their own, larger budget that one
    source's traffic cannot spend for another's.
    """

    scope = "webhook"

    def get_cache_key(self, request, view) -> str | None:
        source = (getattr(view, "kwargs", None) or {}).get("source", "")
        ident = f"{source}:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def document_throttling(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation is rate limited, so may answer 429."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("429", TOO_MANY_REQUESTS)
    return result
