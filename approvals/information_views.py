"""The page a requester answers an information request on, reached from the email's link.

No login: the signed link is the credential, good for one answer to one request. A refused
link gets a page saying why, with nothing changed."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from approvals import services

logger = logging.getLogger(__name__)

TEMPLATE = "approvals/information_request.html"
REFUSAL_STATUS = {
    services.LinkInvalid: 400,
    services.LinkExpired: 410,
    services.AlreadyAnswered: 409,
    services.RequestClosed: 409,
}


def _page(request: HttpRequest, *, status: int = 200, **context) -> HttpResponse:
    response = TemplateResponse(request, TEMPLATE, context, status=status)
    response["X-Robots-Tag"] = "noindex"
    return response


def _refused(request: HttpRequest, error: services.InformationLinkRefused) -> HttpResponse:
    logger.warning("information link refused", extra={"reason": type(error).__name__})
    return _page(request, status=REFUSAL_STATUS.get(type(error), 400), refused=str(error))


@never_cache
@require_http_methods(["GET", "POST"])
def answer_information(request: HttpRequest, token: str) -> HttpResponse:
    answer = request.POST.get("answer", "") if request.method == "POST" else ""
    try:
        task = services.open_information_request(token=token)
    except services.InformationLinkRefused as error:
        return _refused(request, error)
    if request.method == "GET":
        return _page(request, task=task)
    try:
        task = services.answer_information_request(token=token, answer=answer)
    except services.InformationLinkRefused as error:
        return _refused(request, error)
    except services.TaskError as error:
        return _page(request, status=400, task=task, error=str(error), answer=answer)
    return _page(request, task=task, answered=True)
