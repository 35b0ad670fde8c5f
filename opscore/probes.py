"""/healthz and /readyz, answered before the rest of the middleware stack.

Orchestrators and load balancers call these without credentials, often by IP address, over
plain HTTP. Answered here, first in MIDDLEWARE, a probe never meets ALLOWED_HOSTS (whose
refusal would be a 400 for any Host not listed), an HTTPS redirect, a session, CSRF, a
throttle or the API's rejection log: none of those means the process is unfit to serve, and
a probe builds no URL from the Host header, which is what host validation protects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from opscore.health import readiness

HEALTHZ = "/healthz"
READYZ = "/readyz"

_NO_STORE = {"Cache-Control": "no-store"}

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers; nothing else (no database) is touched."""
    return JsonResponse({"status": "ok"}, headers=_NO_STORE)


def readyz(request: HttpRequest) -> HttpResponse:
    """Every readiness check by name; 503 when any of them fails."""
    ok, results = readiness()
    body = {
        "status": "ok" if ok else "failing",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    response = JsonResponse(body, status=200 if ok else 503, headers=_NO_STORE)
    if not ok:
        failing = ", ".join(name for name, result in results.items() if not result.ok)
        logger.warning("not ready: %s", failing)
        # Said above with the checks' names; django.request's own line would name none.
        response._has_been_logged = True
    return response


_PROBES = {HEALTHZ: healthz, READYZ: readyz}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = _PROBES.get(request.path_info.rstrip("/") or "/")
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        response = probe(request)
        if request.method == "HEAD":
            response.content = b""
        return response
