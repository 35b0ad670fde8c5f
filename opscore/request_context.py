"""What the current unit of work is about (request id, workflow, instance, actor...), for logs.

Fields live in structlog's context variables: bound where each becomes known (the request
edge, ingestion, the engine, a worker step) and merged into every log line written while
they are bound, whether by a structlog logger or a plain `logging.getLogger` one. The
request id travels further than the process: into the django-q2 task a request enqueues
(`task["request_id"]`, read back in the worker) and into outbound HTTP and email headers.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 128
# Letters, digits and a few separators: what UUIDs, ULIDs and proxies' ids (nginx's
# $request_id, AWS's Root=1-...) use, and nothing that could break a header, a log line or
# a grep (no spaces, quotes, control characters or non-ASCII).
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]*")

# The fields a log line may carry about the work it belongs to, in the order they are known.
FIELDS = (
    "request_id",
    "integration",
    "actor",
    "correlation_key",
    "workflow",
    "instance",
    "step",
    "execution",
    "idempotency_key",
)

logger = structlog.stdlib.get_logger(__name__)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's id when it is well-formed and short enough, otherwise a fresh one.

    A proxy or client that already tagged the request keeps its id end to end; anything else
    (oversize, a newline, a quote) is dropped, never echoed or logged as an id.
    """
    if value and len(value) <= REQUEST_ID_MAX_LENGTH and _WELL_FORMED.fullmatch(value):
        return value
    return new_request_id()


def bind(**fields: Any) -> None:
    """Bind fields for the rest of the current unit of work; None values are skipped."""
    present = {name: value for name, value in fields.items() if value is not None}
    if present:
        structlog.contextvars.bind_contextvars(**present)


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Bind fields for a block (one item of a batch); afterwards the context is as before.

    Whatever the block bound itself (the engine binds the instance it moved) goes too, so
    nothing of one item reaches the next item's lines.
    """
    before = structlog.contextvars.get_contextvars()
    bind(**fields)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**before)


def current() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()


def current_request_id() -> str | None:
    return current().get("request_id")


def start(*, request_id: str | None = None, **fields: Any) -> str:
    """Begin a new unit of work (a request, a task): forget everything bound before."""
    structlog.contextvars.clear_contextvars()
    request_id = request_id or new_request_id()
    bind(request_id=request_id, **fields)
    return request_id


def outbound_headers() -> dict[str, str]:
    """Headers that carry the current request id to another system (HTTP call, email)."""
    request_id = current_request_id()
    return {REQUEST_ID_HEADER: request_id} if request_id else {}


def _actor_of(request: HttpRequest) -> str | None:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return None


# URL parts that grant access by themselves (a signed link's token): whoever reads the logs
# must not be able to use them, so the line shows where they were, not what they were.
SECRET_URL_KWARGS = ("token",)


def loggable_path(request: HttpRequest) -> str:
    """The request's path with the values of `SECRET_URL_KWARGS` replaced by their names."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    for name in SECRET_URL_KWARGS:
        value = match.kwargs.get(name) if match is not None else None
        if value:
            path = path.replace(str(value), f"[{name}]")
    return path


class RequestContextMiddleware:
    """Give every request an id (the caller's if well-formed), bind it, echo it back.

    First in the middleware list, so even the probes' and the API edge's own answers carry
    the header, and every log line of the request has the id.
    """

    # Polled by load balancers and scrapers every few seconds: their lines are DEBUG.
    QUIET_PATHS = ("/healthz", "/readyz", "/metrics")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = start(request_id=accept_request_id(request.headers.get(REQUEST_ID_HEADER)))
        request.request_id = request_id
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            log = logger.debug if request.path.startswith(self.QUIET_PATHS) else logger.info
            log(
                "request.finished",
                method=request.method,
                path=loggable_path(request),
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return response
        finally:
            # A worker thread serves many requests: nothing of this one may reach the next.
            structlog.contextvars.clear_contextvars()

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        # Sessions are resolved by now; an API key's integration is bound by ingestion.
        bind(actor=_actor_of(request))


# --- django-q2: the request id rides along with each job -----------------------------------
# In django-q2's task dict itself rather than in the job's kwargs: every job keeps its
# signature, and a job enqueued by a worker step (the next step of the same order) inherits
# the id.


def carry_into_job(sender: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """django-q2 `pre_enqueue`: stamp the job with the enqueuing work's request id."""
    request_id = current_request_id()
    if request_id and "request_id" not in task:
        task["request_id"] = request_id


def start_job(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """django-q2 `pre_execute`, in the worker: the job's own context, its request id bound.

    A job without one (a schedule's tick) gets a fresh id, so its lines still group.
    """
    start(
        request_id=accept_request_id(task.get("request_id")),
        task=str(task.get("name") or "")[:100] or None,
    )


def end_job(sender: Any, func: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """django-q2 `post_execute_in_worker`: the worker's own lines between jobs carry none."""
    structlog.contextvars.clear_contextvars()
