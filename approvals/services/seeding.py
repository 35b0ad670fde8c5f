"""The review groups and reference escalation policies, created if missing."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from approvals.models import EscalationPolicy


def seed_reference_policies() -> int:
    """Create the review groups and the reference escalation policies, if missing.

    Idempotent; never changes a policy that exists (people may have tuned it since).
    """
    from approvals.reference import REFERENCE_POLICIES, REVIEW_GROUPS

    created = 0
    with transaction.atomic():
        for name in REVIEW_GROUPS:
            Group.objects.get_or_create(name=name)
        for spec in REFERENCE_POLICIES:
            if EscalationPolicy.objects.filter(
                workflow=spec["workflow"], step=spec["step"]
            ).exists():
                continue
            EscalationPolicy.objects.create(
                **{**spec, "escalate_to": Group.objects.get(name=spec["escalate_to"])}
            )
            created += 1
    return created
