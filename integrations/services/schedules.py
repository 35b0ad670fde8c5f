"""Schedule triggers: the django-q2 schedule that ticks each one, and the event each tick emits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from croniter import croniter
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule as QSchedule

from audit.services import record_config_change
from integrations.digests import canonical_json
from integrations.models import Channel, Schedule
from integrations.services.ingestion import Caller, IngestResult, ingest_event
from opscore.actors import SYSTEM, Actor

FIRE_SCHEDULE_JOB = "integrations.jobs.fire_schedule"


def validate_cron(expression: str) -> None:
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression")


def sync_schedule(*, schedule: Schedule) -> Schedule:
    """Create, update or remove the django-q2 schedule that ticks this trigger.

    django-q2 passes each run's intended slot (`slot`), which becomes the idempotency key:
    two clusters ticking the same slot produce one event. With catch_up off, a stretch of
    missed slots fires once, for the first missed slot, never once per slot.
    """
    validate_cron(schedule.cron)
    with transaction.atomic():
        q_schedule = schedule.q_schedule
        if not schedule.is_active:
            schedule.q_schedule = None
            schedule.save(update_fields=["q_schedule"])
            if q_schedule is not None:
                q_schedule.delete()
            return schedule
        if q_schedule is None:
            q_schedule = QSchedule(func=FIRE_SCHEDULE_JOB)
        q_schedule.name = f"trigger:{schedule.name}"[:100]
        q_schedule.args = repr(schedule.pk)
        q_schedule.schedule_type = QSchedule.CRON
        q_schedule.cron = schedule.cron
        q_schedule.repeats = -1
        q_schedule.intended_date_kwarg = "slot"
        q_schedule.next_run = croniter(schedule.cron, timezone.localtime()).get_next(datetime)
        q_schedule.save()
        if schedule.q_schedule_id != q_schedule.pk:
            schedule.q_schedule = q_schedule
            schedule.save(update_fields=["q_schedule"])
    return schedule


def schedule_fields(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "event_type": schedule.event_type.name,
        "cron": schedule.cron,
        "payload": schedule.payload,
        "correlation_key": schedule.correlation_key,
        "is_active": schedule.is_active,
    }


def delete_schedule(*, schedule: Schedule, actor: Actor = SYSTEM, channel: str = "system") -> None:
    """Remove the trigger and the django-q2 schedule that ticks it, together; one
    `config.schedule.deleted` event."""
    with transaction.atomic():
        record_config_change(
            actor=actor,
            channel=channel,
            kind="schedule",
            action="deleted",
            target=schedule,
            label=schedule.name,
            before=schedule_fields(schedule),
            after=None,
        )
        q_schedule = schedule.q_schedule
        schedule.delete()
        if q_schedule is not None:
            q_schedule.delete()


def fire_schedule(*, schedule_id: int, slot: str) -> IngestResult | None:
    """Emit the schedule's event for `slot`; the same slot twice is a replay, never a new event."""
    schedule = Schedule.objects.select_related("event_type").filter(pk=schedule_id).first()
    if schedule is None or not schedule.is_active:
        return None
    envelope = {
        "type": schedule.event_type.name,
        "source": f"schedule:{schedule.name}"[:100],
        "occurred_at": slot,
        "correlation_key": schedule.correlation_key.replace("{slot}", slot) or None,
        "payload": {**schedule.payload},
    }
    # Not the engine's SYSTEM actor: a schedule is an outside caller, limited to signals.
    caller = Caller(
        channel=Channel.SCHEDULE,
        actor=Actor(kind="system", ref=f"schedule:{schedule.name}"[:150]),
        may_send=lambda type_: True,
        namespace=f"schedule:{schedule.name}"[:100],
    )
    return ingest_event(body=canonical_json(envelope).encode(), idempotency_key=slot, caller=caller)
