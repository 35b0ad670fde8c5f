"""One error format for the whole API: RFC 9457 problem details (application/problem+json).

Every DRF exception from every app passes through `problem_exception_handler`, so a refused
event, a 404 on a decision record and a 409 on a task all read the same way:
`{type, title, status, detail, instance, code}` plus `errors` (each with a JSON `pointer`)
for field-level validation failures.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler, set_rollback

from opscore.json_input import JSONInputError, storable
from opscore.renderers import PROBLEM_CONTENT_TYPE

PROBLEM_TYPE_PREFIX = "urn:opscore:problem:"


class Problem(exceptions.APIException):
    """A refusal with a stable code (its problem type), a human detail and optional field errors."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        detail: str,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status
        self.code = code
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors or []
        self.headers = headers or {}

    def as_problem(self, *, instance: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status_code,
            "detail": str(self.detail),
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        # Details quote what the caller sent; a lone surrogate there would not encode as UTF-8.
        return storable(body)


def json_input_problem(error: JSONInputError) -> Problem:
    """The 400 for a body opscore.json_input refused, pointing at the culprit when known."""
    errors = []
    if error.pointer is not None:
        errors = [{"pointer": error.pointer, "detail": error.detail, "code": error.code}]
    return Problem(
        status=400,
        code=error.code,
        title="Malformed JSON" if error.code == "bad_json" else "Unacceptable JSON",
        detail=error.detail,
        errors=errors,
    )


def _pointer(path: list[str]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def field_errors(detail: Any, path: list[str] | None = None) -> list[dict[str, Any]]:
    """Flatten DRF's nested validation detail into [{pointer, detail, code}]."""
    path = path or []
    if isinstance(detail, dict):
        return [
            error for key, value in detail.items() for error in field_errors(value, [*path, key])
        ]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [
                {
                    "pointer": _pointer(path),
                    "detail": str(item),
                    "code": getattr(item, "code", "invalid"),
                }
                for item in detail
            ]
        return [
            error
            for index, value in enumerate(detail)
            for error in field_errors(value, [*path, str(index)])
        ]
    return [{"pointer": _pointer(path), "detail": str(detail), "code": getattr(detail, "code", "")}]


def problem_from(exc: exceptions.APIException) -> Problem:
    if isinstance(exc, Problem):
        return exc
    status = exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = field_errors(exc.detail)
        summary = "; ".join(f"{error['pointer'] or '/'}: {error['detail']}" for error in errors[:5])
        return Problem(
            status=status,
            code="validation_error",
            title="Invalid request",
            detail=summary or "the request is invalid",
            errors=errors,
        )
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
    detail = exc.detail
    if isinstance(detail, dict | list):
        return Problem(status=status, code=code, detail=str(exc), errors=field_errors(detail))
    return Problem(status=status, code=code, detail=str(detail))


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's own handling (404s, 403s, rollback), problem-shaped."""
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500 stays a 500, logged by Django
    if isinstance(exc, exceptions.APIException):
        problem = problem_from(exc)
    else:  # Http404 / PermissionDenied from Django, already mapped to a status by DRF
        problem = Problem(
            status=response.status_code,
            code="not_found" if response.status_code == 404 else "permission_denied",
            detail=str(response.data.get("detail", HTTPStatus(response.status_code).phrase)),
        )
    request = context.get("request")
    body = problem.as_problem(instance=request.path if request is not None else "")
    headers = {
        key: value
        for key, value in response.items()
        if key.lower() in {"www-authenticate", "retry-after", "allow"}
    }
    set_rollback()
    return problem_response(body, headers={**headers, **problem.headers})


def problem_response(body: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_http_response(problem: Problem, *, instance: str) -> HttpResponse:
    """The same document outside DRF (middleware answering before any view runs)."""
    response = HttpResponse(
        json.dumps(problem.as_problem(instance=instance), ensure_ascii=False).encode(),
        status=problem.status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in problem.headers.items():
        response[name] = value
    return response


class ProblemFieldErrorSerializer(serializers.Serializer):
    pointer = serializers.CharField(help_text="JSON Pointer (RFC 6901) into the request body.")
    detail = serializers.CharField()
    code = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, as every API error is returned."""

    type = serializers.CharField(help_text="urn:opscore:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable, machine-readable problem code.")
    instance = serializers.CharField(required=False, help_text="The request path.")
    errors = ProblemFieldErrorSerializer(many=True, required=False)


_DEFAULT_DESCRIPTIONS = {
    400: "Malformed or invalid request (problem details name the field and rule).",
    401: "No or invalid credentials (session or `Authorization: Api-Key <key>`).",
    403: "Authenticated but not allowed (API key lacks the scope or event type).",
    404: "Not found.",
    409: "Conflict.",
    413: "Request body too large: over the event limit (OPSCORE_MAX_EVENT_BYTES) or the "
    "server's request limit.",
    422: "Refused: well-formed but cannot be processed.",
}


def problem_responses(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, each a problem details body.

    Per-status descriptions go in as `d409="..."` keyword arguments.
    """
    return {
        status: OpenApiResponse(
            response=ProblemSerializer,
            description=descriptions.get(f"d{status}", _DEFAULT_DESCRIPTIONS.get(status, "")),
        )
        for status in statuses
    }


REQUEST_LINE_TOO_LONG = {
    "description": (
        "URI Too Long: the request line (method, path and query) is over the HTTP server's "
        "limit, 4094 bytes with gunicorn. The server answers before opscore sees the request, "
        "with its own HTML page rather than problem details."
    ),
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def document_request_line_limit(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation can get the server's 414."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("414", REQUEST_LINE_TOO_LONG)
    return result


class UnknownEndpoint(APIView):
    """Catch-all under /api/: a path no route matches is a problem document, not an HTML page."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound(f"no API endpoint at {request.path}")

    def get(self, request, *args, **kwargs):
        raise exceptions.NotFound(f"no API endpoint at {request.path}")

    post = put = patch = delete = get
