"""The API's outer edge: refusals Django would make in HTML, made as problem details.

A wrong `Host` header, a body over DATA_UPLOAD_MAX_MEMORY_SIZE or an unreadable Content-Length
never reach a view, so neither DRF's exception handler nor a view can shape or record them.
Under /api/ this middleware answers them itself and announces each on `api_request_refused`;
the trigger layer records them (the kernel does not know what a rejection row is). Other paths
keep Django's own behaviour (the admin's HTML 400).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse

from opscore.api_errors import Problem, problem_http_response

API_PREFIX = "/api/"

# Sent with `request` and `problem` (opscore.api_errors.Problem) for every refusal made here.
api_request_refused = Signal()


def _body_too_large(length: int) -> Problem:
    return Problem(
        status=413,
        code="body_too_large",
        title="Request body too large",
        detail=f"the body is {length} bytes; at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} "
        "are accepted",
    )


class ApiEdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            request.get_host()
        except DisallowedHost:
            return self._refuse(
                request,
                Problem(
                    status=400,
                    code="bad_host",
                    title="Unknown host",
                    detail="the Host header names no host this server answers for",
                ),
            )
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        # Here rather than in __call__: the session is loaded by now, so a staff caller's
        # oversize body is recorded as theirs, and still before any view reads the body.
        if not request.path.startswith(API_PREFIX):
            return None
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return self._refuse(
                request,
                Problem(
                    status=400,
                    code="bad_content_length",
                    detail="the Content-Length header is not a number of bytes",
                ),
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return self._refuse(request, _body_too_large(length))
        return None

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            return self._refuse(request, _body_too_large(length))
        return None

    def _refuse(self, request: HttpRequest, problem: Problem) -> HttpResponse:
        api_request_refused.send(sender=type(self), request=request, problem=problem)
        return problem_http_response(problem, instance=request.path)
