"""What every inbound request is held to before it is read: its size, strict JSON, and the
limits on what is stored of it."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from opscore import json_input
from opscore.api_errors import Problem, json_input_problem

IDEMPOTENCY_KEY_MAX = 255
BODY_EXCERPT_BYTES = 4096


def check_size(body: bytes) -> None:
    limit = settings.OPSCORE_MAX_EVENT_BYTES
    if len(body) > limit:
        raise Problem(
            status=413,
            code="event_too_large",
            title="Event too large",
            detail=f"the event is {len(body)} bytes; at most {limit} are accepted "
            "(OPSCORE_MAX_EVENT_BYTES)",
        )


def parse_body(body: bytes) -> Any:
    """Strict JSON (opscore.json_input): what is refused here could not be hashed or stored."""
    try:
        return json_input.parse_strict(body)
    except json_input.JSONInputError as error:
        raise json_input_problem(error) from error
