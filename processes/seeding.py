"""Write the reference data a concrete workflow needs: queue groups, escalation policies, rule
sets, event types and their bindings.

Called by the processes data migrations, so it runs once per database, with the registry the
caller hands in (a migration's historical `apps`). Each function creates only what is
missing and never changes what exists: people may have tuned a policy or published a new
rule set version since, and a later migration must not undo that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps.registry import Apps
from django.utils import timezone

from decisions.tables import DecisionTable, check_table, content_digest, to_jdm
from integrations.models import binding_errors

PUBLISHED = "published"


def _record_creation(*, apps: Apps, instance: Any) -> None:
    """The simple-history row a live save writes, for a row written through a migration's
    models (they send no signals): its History page starts with the seeded version."""
    opts = instance._meta
    history = apps.get_model(opts.app_label, f"Historical{opts.object_name}")
    if history.objects.filter(id=instance.pk).exists():
        return
    values = {field.attname: getattr(instance, field.attname) for field in opts.concrete_fields}
    history.objects.create(**values, history_date=timezone.now(), history_type="+")


def seed_groups(*, apps: Apps, names: Iterable[str]) -> None:
    group_model = apps.get_model("auth", "Group")
    for name in names:
        group_model.objects.get_or_create(name=name)


def seed_escalation_policies(*, apps: Apps, policies: Iterable[dict[str, Any]]) -> None:
    """Each policy's `escalate_to` names a group, created if missing."""
    group_model = apps.get_model("auth", "Group")
    policy_model = apps.get_model("approvals", "EscalationPolicy")
    for spec in policies:
        if policy_model.objects.filter(workflow=spec["workflow"], step=spec["step"]).exists():
            continue
        group, _ = group_model.objects.get_or_create(name=spec["escalate_to"])
        policy = policy_model.objects.create(**{**spec, "escalate_to": group})
        _record_creation(apps=apps, instance=policy)


def seed_rule_sets(
    *, apps: Apps, rule_sets: Iterable[tuple[str, str, str, DecisionTable]], note: str
) -> None:
    """Each rule set with its table published as version 1."""
    rule_set_model = apps.get_model("decisions", "RuleSet")
    version_model = apps.get_model("decisions", "RuleSetVersion")
    for slug, name, description, table in rule_sets:
        if rule_set_model.objects.filter(slug=slug).exists():
            continue
        check_table(table)
        rule_set = rule_set_model.objects.create(slug=slug, name=name, description=description)
        _record_creation(apps=apps, instance=rule_set)
        content = to_jdm(table)
        now = timezone.now()
        version = version_model.objects.create(
            rule_set=rule_set,
            number=1,
            status=PUBLISHED,
            content=content,
            content_digest=content_digest(content),
            note=note,
            submitted_at=now,
            published_at=now,
        )
        _record_creation(apps=apps, instance=version)


def seed_event_types(
    *, apps: Apps, event_types: Iterable[tuple[str, str, dict[str, Any], dict[str, str]]]
) -> None:
    """Each event type with its trigger binding, refused like the admin refuses it
    (`TriggerBinding.clean`): a signal binding names a signal its workflow declares."""
    event_type_model = apps.get_model("integrations", "EventType")
    binding_model = apps.get_model("integrations", "TriggerBinding")
    for name, description, schema, binding in event_types:
        errors = binding_errors(**binding)
        if errors:
            raise ValueError(f"event type {name!r}: binding refused: {errors}")
        event_type, _ = event_type_model.objects.get_or_create(
            name=name, defaults={"description": description, "schema": schema}
        )
        if not binding_model.objects.filter(event_type=event_type).exists():
            binding_model.objects.create(event_type=event_type, **binding)
