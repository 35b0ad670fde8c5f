"""Reads of the event log that several reports share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef
from django.utils.dateparse import parse_datetime

from audit.models import Event
from observability.reports.window import Window
from workflows import registry
from workflows.registry import WorkflowDefinition

STATE_EVENTS = ("workflow.started", "workflow.transition")
STREAM_CHUNK = 2000


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


def state_events_touching(window: Window) -> Iterator[tuple[int, int, str, datetime, dict]]:
    """Every state event (start, transition) up to `until` of each instance that changed
    state inside the window, grouped by instance in log order.

    The whole earlier history of such an instance is read too: a step or cycle that ends in
    the window usually began before it.
    """
    touched = Event.objects.filter(
        instance_type=OuterRef("instance_type"),
        instance_id=OuterRef("instance_id"),
        type__in=STATE_EVENTS,
        occurred_at__gte=window.since,
        occurred_at__lt=window.until,
    )
    rows = (
        Event.objects.filter(type__in=STATE_EVENTS, occurred_at__lt=window.until)
        .filter(Exists(touched))
        .order_by("instance_type_id", "instance_id", "seq")
        .values_list("instance_type_id", "instance_id", "type", "occurred_at", "payload")
    )
    yield from rows.iterator(chunk_size=STREAM_CHUNK)
