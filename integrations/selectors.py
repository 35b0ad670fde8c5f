"""Reads for the trigger layer: key lookup, inbound events, rejections."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations import lookups
from integrations.models import ApiKey, EventType, InboundEvent, Rejection, Scope, TriggerBinding
from workflows.selectors import Visibility, visibility_for_integration


def active_api_key(*, key: str) -> ApiKey | None:
    """The live key (with its integration and service user) for a plaintext key, or None."""
    return lookups.active_api_key(key=key)


def active_event_type(*, name: str) -> EventType | None:
    """The active event type (with its binding) named `name`, or None; read-only."""
    return lookups.active_event_type(name=name)


def inbound_events(
    *,
    type: str | None = None,
    source: str | None = None,
    channel: str | None = None,
    integration_id: int | None = None,
) -> QuerySet[InboundEvent]:
    events = InboundEvent.objects.all()
    if type:
        events = events.filter(type=type)
    if source:
        events = events.filter(source=source)
    if channel:
        events = events.filter(channel=channel)
    if integration_id is not None:
        events = events.filter(integration_id=integration_id)
    return events


def rejections(*, channel: str | None = None) -> QuerySet[Rejection]:
    found = Rejection.objects.all()
    return found.filter(channel=channel) if channel else found


def instance_ids_reached_by(*, integration_id: int, workflow: str) -> QuerySet[InboundEvent]:
    """Ids of `workflow`'s instances the integration's events started or signalled (a subquery).

    What an integration may read of the engine is what it caused; its inbound event rows
    already say so (found by the integration foreign key's index), so the instance needs no
    column and ingestion no extra index write.
    """
    return InboundEvent.objects.filter(
        integration_id=integration_id, workflow=workflow, instance_id__isnull=False
    ).values("instance_id")


def trigger_bindings_of(*, workflow: str) -> list[tuple[str, str, str]]:
    """The stored bindings reaching `workflow`, as (event type, action, transition)."""
    return list(
        TriggerBinding.objects.filter(workflow=workflow).values_list(
            "event_type__name", "action", "transition"
        )
    )


def instance_visibility_for(credential) -> Visibility | None:
    """What an API key may read of the workflow instances (None for another credential): all
    of them with `instances:read_all`, else those its integration's events reached."""
    if not isinstance(credential, ApiKey):
        return None
    if Scope.INSTANCES_READ_ALL in credential.scopes:
        return visibility_for_integration(reached=None)
    return visibility_for_integration(
        reached=lambda workflow: instance_ids_reached_by(
            integration_id=credential.integration_id, workflow=workflow
        )
    )
