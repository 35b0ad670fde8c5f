"""Reads of the event log that several reports share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models.fields.json import KT
from django.utils.dateparse import parse_datetime

from audit.models import Event
from observability.reports.window import Window
from workflows import registry
from workflows.declaration import WorkflowDefinition

STATE_EVENTS = ("workflow.started", "workflow.transition")
STREAM_CHUNK = 2000
# Instance ids per IN (...): well under SQLite's bound on query parameters.
INSTANCE_BATCH = 500


def definitions_by_content_type() -> dict[int, WorkflowDefinition]:
    """Which workflow an event's instance_type stands for."""
    return {
        ContentType.objects.get_for_model(definition.model).pk: definition
        for definition in registry.all_definitions()
    }


def payload_time(value: Any) -> datetime | None:
    """A time the engine put in a payload (DjangoJSONEncoder wrote it as ISO 8601)."""
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) and value else None


def state_events_touching(
    window: Window,
) -> Iterator[tuple[int, int, str, datetime, str | None, str | None]]:
    """Every state event (start, transition) up to `until` of each instance that changed
    state inside the window, grouped by instance in log order, with a transition's source
    and target state.

    The whole earlier history of such an instance is read too: a step or cycle that ends in
    the window usually began before it. The instances are found first, then their events are
    read in batches of instances (the log's instance index), so the cost follows the instances
    the window touched, not the length of the log before it.
    """
    touched: dict[int, list[int]] = defaultdict(list)
    for type_id, instance_id in (
        Event.objects.filter(
            type__in=STATE_EVENTS,
            occurred_at__gte=window.since,
            occurred_at__lt=window.until,
            instance_type__isnull=False,
        )
        .values_list("instance_type_id", "instance_id")
        .distinct()
        .order_by("instance_type_id", "instance_id")
        .iterator(chunk_size=STREAM_CHUNK)
    ):
        touched[type_id].append(instance_id)
    for type_id, instance_ids in touched.items():
        for start in range(0, len(instance_ids), INSTANCE_BATCH):
            rows = (
                Event.objects.filter(
                    instance_type_id=type_id,
                    instance_id__in=instance_ids[start : start + INSTANCE_BATCH],
                    type__in=STATE_EVENTS,
                    occurred_at__lt=window.until,
                )
                # Only the two keys pairing needs: a started event's payload holds the whole
                # context, and decoding it is most of what reading the row would cost.
                .annotate(source=KT("payload__source"), target=KT("payload__target"))
                .order_by("instance_id", "seq")
                .values_list(
                    "instance_type_id", "instance_id", "type", "occurred_at", "source", "target"
                )
            )
            yield from rows.iterator(chunk_size=STREAM_CHUNK)
