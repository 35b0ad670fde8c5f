"""Signed, expiring links that let a requester answer one information request, no login needed.

The token names the task and which of its requests it answers; django.core.signing makes it
tamper-evident and dates it, so a changed or stale link is refused before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "approvals.information-request"


class LinkInvalid(Exception):
    """The token was altered, truncated or signed with another key."""


class LinkExpired(Exception):
    """The token is genuine but older than OPSCORE_INFORMATION_LINK_DAYS."""


@dataclass(frozen=True)
class InformationLink:
    task_id: int
    request: int


def token_for(*, task_id: int, request: int) -> str:
    return signing.dumps({"task": task_id, "request": request}, salt=SALT)


def read_token(token: str) -> InformationLink:
    max_age = settings.OPSCORE_INFORMATION_LINK_DAYS * 86400
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise LinkExpired(str(error)) from error
    except signing.BadSignature as error:
        raise LinkInvalid(str(error)) from error
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), int) for key in ("task", "request")
    ):
        raise LinkInvalid("the link does not name a request")
    return InformationLink(task_id=data["task"], request=data["request"])


def answer_url(*, task_id: int, request: int) -> str:
    path = reverse(
        "approvals:answer_information", args=[token_for(task_id=task_id, request=request)]
    )
    return f"{settings.OPSCORE_BASE_URL.rstrip('/')}{path}"
