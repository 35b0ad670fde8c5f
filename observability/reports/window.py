"""The time window a report covers: [since, until), parsed from ISO dates or spans like 7d."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

SPAN = re.compile(r"^(\d+)([mhdw])$")
SPAN_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadWindow(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def label(self) -> str:
        return f"{self.since.isoformat()} .. {self.until.isoformat()}"


def parse_moment(text: str, *, now: datetime) -> datetime:
    """An ISO date or datetime (naive means UTC), or a span back from `now` (30m, 24h, 7d, 2w)."""
    value = text.strip()
    span = SPAN.match(value)
    if span:
        try:
            return now - timedelta(**{SPAN_UNITS[span.group(2)]: int(span.group(1))})
        except (OverflowError, ValueError):  # past datetime's range, or digits past int()'s
            raise BadWindow(f"{text[:40]!r} reaches back before the calendar starts") from None
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise BadWindow(
            f"{text[:40]!r} is not a date: give an ISO date or datetime "
            "(2026-11-01, 2026-11-01T08:00:00Z) or a span back from now (30m, 24h, 7d, 2w)"
        )
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def make_window(
    *, since: str | None, until: str | None, default_span: timedelta, now: datetime | None = None
) -> Window:
    now = now or timezone.now()
    end = parse_moment(until, now=now) if until else now
    start = parse_moment(since, now=now) if since else end - default_span
    if start >= end:
        raise BadWindow(
            f"the window is empty: since {start.isoformat()} is not before until {end.isoformat()}"
        )
    return Window(since=start, until=end)
