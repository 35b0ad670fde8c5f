"""Outbound HTTP: every call carries its idempotency key; failures say whether to retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from opscore import request_context
from opscore.errors import PermanentError, RetryableError
from opscore.scrubbing import recordable

ERROR_BODY_MAX = 300


class RetryableHttpError(RetryableError):
    pass


class PermanentHttpError(PermanentError):
    pass


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: dict[str, Any]
    replayed: bool


def post_json(
    *, url: str, body: dict[str, Any], idempotency_key: str, timeout: float | None = None
) -> HttpResult:
    """POST `body` as JSON with an `Idempotency-Key` header, and the `X-Request-ID` of the
    work that made the call, so the other side's logs can be joined with ours.

    Timeouts, connection errors, 429 and 5xx raise RetryableHttpError; any other 4xx raises
    PermanentHttpError, since sending the same request again cannot fix it.
    """
    try:
        response = httpx.post(
            url,
            json=body,
            headers={
                "Idempotency-Key": idempotency_key,
                "Accept": "application/json",
                **request_context.outbound_headers(),
            },
            timeout=timeout or settings.OPSCORE_HTTP_TIMEOUT_SECONDS,
        )
    except httpx.TimeoutException as error:
        raise RetryableHttpError(recordable(f"timed out calling {url}: {error}")) from error
    except httpx.TransportError as error:
        raise RetryableHttpError(recordable(f"could not reach {url}: {error}")) from error
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableHttpError(
            recordable(f"{url} answered {response.status_code}: {_error_body(response)}")
        )
    if response.status_code >= 400:
        raise PermanentHttpError(
            recordable(f"{url} refused with {response.status_code}: {_error_body(response)}")
        )
    try:
        parsed = response.json() if response.content else {}
    except ValueError as error:
        raise PermanentHttpError(
            recordable(f"{url} answered {response.status_code} without JSON")
        ) from error
    return HttpResult(
        status=response.status_code,
        body=parsed if isinstance(parsed, dict) else {"data": parsed},
        replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
    )


def _error_body(response: httpx.Response) -> str:
    """The start of a refusal's body, secrets scrubbed: it is recorded (last error, log)."""
    return recordable(response.text, limit=ERROR_BODY_MAX)
