"""Outbound HTTP: every call carries its idempotency key; failures say whether to retry."""

from __future__ import annotations

import os
import threading
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


# One client per process: building one costs a TLS context (about 24 ms of CPU, most of a
# step's), and its pool keeps connections alive between steps. httpx clients may be shared
# between threads. A forked child (django-q2 forks its workers) must not use its parent's
# sockets, so it forgets the client, and the lock in case a parent thread held it.
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """This process's outbound client, built on first use; timeouts are given per call."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client()
    return _client


def _forget_parent_client() -> None:
    # Dropped, never closed: closing would end TLS sessions the parent still uses.
    global _client, _client_lock
    _client = None
    _client_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_client)


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
        response = shared_client().post(
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
