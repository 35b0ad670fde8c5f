"""Deadlines counted in business hours: an SLA of 2 hours opened at 16:30 on a Friday falls due
at 09:30 on Monday under a 09:00-17:00 weekday calendar."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


class InvalidCalendar(ValueError):
    pass


def _parse(calendar: dict[str, Any]) -> tuple[ZoneInfo, set[int], time, time]:
    try:
        zone = ZoneInfo(calendar.get("timezone", "UTC"))
        weekdays = {int(day) for day in calendar.get("weekdays", [0, 1, 2, 3, 4])}
        start = time.fromisoformat(calendar.get("start", "09:00"))
        end = time.fromisoformat(calendar.get("end", "17:00"))
    except (KeyError, ValueError, TypeError) as error:
        raise InvalidCalendar(f"business-hours calendar is malformed: {error}") from error
    if not weekdays or not weekdays <= set(range(7)) or start >= end:
        raise InvalidCalendar("business-hours calendar needs weekdays 0-6 and start before end")
    return zone, weekdays, start, end


def check_calendar(calendar: dict[str, Any]) -> None:
    _parse(calendar)


def add_business_time(
    *, start: datetime, duration: timedelta, calendar: dict[str, Any] | None
) -> datetime:
    """`start` plus `duration`, counting only the calendar's open hours (all hours if None)."""
    if not calendar:
        return start + duration
    zone, weekdays, opens, closes = _parse(calendar)
    current = start.astimezone(zone)
    remaining = duration
    # A year of closed days is a malformed calendar, not a deadline.
    for _ in range(366 * 2):
        day = current.date()
        window_start = datetime.combine(day, opens, tzinfo=zone)
        window_end = datetime.combine(day, closes, tzinfo=zone)
        if day.weekday() in weekdays and current < window_end:
            current = max(current, window_start)
            available = window_end - current
            if remaining <= available:
                return (current + remaining).astimezone(start.tzinfo)
            remaining -= available
        current = datetime.combine(day + timedelta(days=1), opens, tzinfo=zone)
    raise InvalidCalendar("business-hours calendar never opens")
