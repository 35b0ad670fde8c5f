"""Schedules: a cron trigger emits one event per slot, even with two clusters ticking."""

from collections import Counter

import pytest
from django.db import connection
from django_q.models import Schedule as QSchedule
from django_q.models import Task

from integrations import services
from integrations.models import EventType, InboundEvent, Schedule
from tests.conftest import wait_until


def _tick_schedule(cron: str) -> Schedule:
    event_type, _ = EventType.objects.get_or_create(
        name="ops.tick",
        defaults={"schema": {"type": "object", "required": ["report"]}},
    )
    schedule = Schedule.objects.create(
        name="tick", event_type=event_type, cron=cron, payload={"report": "backlog"}
    )
    return services.sync_schedule(schedule=schedule)


@pytest.mark.django_db
def test_a_slot_fired_twice_is_one_event_and_one_replay():
    schedule = _tick_schedule("0 6 * * *")
    slot = "2026-11-25T06:00:00+00:00"
    first = services.fire_schedule(schedule_id=schedule.pk, slot=slot)
    second = services.fire_schedule(schedule_id=schedule.pk, slot=slot)
    assert not first.replayed
    assert second.replayed
    assert second.body == first.body
    event = InboundEvent.objects.get()
    assert (event.source, event.idempotency_key, event.channel) == (
        "schedule:tick",
        slot,
        "schedule",
    )
    services.fire_schedule(schedule_id=schedule.pk, slot="2026-11-26T06:00:00+00:00")
    assert InboundEvent.objects.count() == 2


@pytest.mark.django_db
def test_sync_keeps_one_django_q_schedule_and_removes_it_when_inactive():
    schedule = _tick_schedule("*/15 * * * *")
    q_schedule = QSchedule.objects.get(func=services.FIRE_SCHEDULE_JOB)
    assert (q_schedule.schedule_type, q_schedule.cron, q_schedule.intended_date_kwarg) == (
        QSchedule.CRON,
        "*/15 * * * *",
        "slot",
    )
    schedule.cron = "0 * * * *"
    services.sync_schedule(schedule=schedule)
    assert QSchedule.objects.get(func=services.FIRE_SCHEDULE_JOB).cron == "0 * * * *"
    schedule.is_active = False
    services.sync_schedule(schedule=schedule)
    assert not QSchedule.objects.filter(func=services.FIRE_SCHEDULE_JOB).exists()
    schedule.cron = "every tuesday"
    with pytest.raises(ValueError, match="not a valid cron"):
        services.sync_schedule(schedule=schedule)


@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two clusters racing for a slot is a production (PostgreSQL) concern; "
    "a minute of django-q2 ticks once per CI run is enough",
)
def test_two_clusters_fire_each_slot_once(qcluster):
    # Every five seconds; each cluster's scheduler wakes about every 30 s, so both contend.
    _tick_schedule("* * * * * */5")
    first, second = qcluster(), qcluster()

    def fired() -> list[str]:
        return [
            task.kwargs["slot"]
            for task in Task.objects.filter(func=services.FIRE_SCHEDULE_JOB, success=True)
        ]

    assert wait_until(lambda: len(set(fired())) >= 2, timeout=150, interval=1), (
        first.log() + second.log()
    )
    slots = fired()
    events = Counter(
        InboundEvent.objects.filter(source="schedule:tick").values_list(
            "idempotency_key", flat=True
        )
    )
    assert set(events) == set(slots)
    assert all(count == 1 for count in events.values())
