"""Points in time as people read them on a page: local to the viewer's zone, to the second,
with the zone named ("2026-11-29 10:58:19 CET")."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def moment(value: datetime | None) -> str:
    if value is None:
        return "—"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()
