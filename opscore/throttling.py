"""API rate limits: one budget per API key, one per client address for callers without a key.

Rates come from settings.OPSCORE_THROTTLE_RATES on every request (DRF's own throttles read
theirs once, at import), and the counters live in the default cache, the database table every
process shares. Staff sessions are not limited: they are people, already behind a login that
django-axes guards. A throttled request gets 429 problem details with Retry-After.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from integrations.models import ApiKey

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


class _RateFromSettings(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return settings.OPSCORE_THROTTLE_RATES.get(self.scope)


class ApiKeyThrottle(_RateFromSettings):
    """One budget per API key, whichever address its calls come from."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class AnonymousThrottle(_RateFromSettings):
    """Callers with neither key nor session (webhook senders, probes), by client address.

    The address is the socket's unless REST_FRAMEWORK["NUM_PROXIES"] says how many proxies
    append to X-Forwarded-For.
    """

    scope = "anonymous"

    def get_cache_key(self, request, view) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WebhookThrottle(_RateFromSettings):
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
