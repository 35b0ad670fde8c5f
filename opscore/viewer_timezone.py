"""Times on pages in the viewer's own zone: the browser names it once (a cookie set by the
admin's base template), each request activates it; without one, OPSCORE_TIME_ZONE holds."""

from __future__ import annotations

from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest
from django.utils import timezone

COOKIE = "opscore_tz"


def zone_named(value: str | None) -> ZoneInfo | None:
    """The IANA zone a cookie names, or None for anything else (an unknown or hostile name)."""
    name = unquote(value or "").strip()
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimezoneMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        zone = zone_named(request.COOKIES.get(COOKIE))
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
