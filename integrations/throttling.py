"""The API keys' rate limit: one budget per key, whichever address its calls come from."""

from __future__ import annotations

from integrations.models import ApiKey
from opscore.throttling import RateFromSettings


class ApiKeyThrottle(RateFromSettings):
    """One budget per API key, whichever address its calls come from."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
