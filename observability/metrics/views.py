"""GET /metrics: Prometheus text format behind a bearer token.

Without OPSCORE_METRICS_TOKEN configured the endpoint does not exist (404): nothing is exposed
by default. A missing or wrong token is a 401 problem document with no metric in it.
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from observability.metrics.collector import DatabaseCollector


def _problem(status: int, title: str, detail: str) -> JsonResponse:
    response = JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _presented_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def scrape() -> bytes:
    """Every process's counters when PROMETHEUS_MULTIPROC_DIR is set (else this process's),
    then the database gauges read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)
        process_metrics = generate_latest(registry)
    else:
        process_metrics = generate_latest(REGISTRY)
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return process_metrics + generate_latest(database)


@csrf_exempt  # no session, no cookie: a POST gets the 405 below, not the CSRF page
def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = _problem(405, "Method Not Allowed", "only GET reads the metrics")
        response["Allow"] = "GET, HEAD"
        return response
    expected = settings.OPSCORE_METRICS_TOKEN
    if not expected:
        return _problem(404, "Not Found", "metrics are not enabled on this server")
    presented = _presented_token(request)
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        return _problem(401, "Unauthorized", "a valid bearer token is required")
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)
