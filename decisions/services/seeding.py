"""The reference rule sets, each with a published version 1, created if missing."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from decisions.models import RuleSet, RuleSetVersion, VersionStatus
from decisions.reference import REFERENCE_RULE_SETS
from decisions.tables import check_table, content_digest, to_jdm


def seed_reference_rulesets() -> int:
    """Create the reference rule sets, each with a published version 1, if missing.

    Idempotent; never touches a rule set that exists (people may have changed it since).
    Returns how many were created.
    """
    created = 0
    with transaction.atomic():
        for slug, name, description, table in REFERENCE_RULE_SETS:
            if RuleSet.objects.filter(slug=slug).exists():
                continue
            check_table(table)
            rule_set = RuleSet.objects.create(slug=slug, name=name, description=description)
            content = to_jdm(table)
            now = timezone.now()
            RuleSetVersion.objects.create(
                rule_set=rule_set,
                number=1,
                status=VersionStatus.PUBLISHED,
                content=content,
                content_digest=content_digest(content),
                note="Seeded: the reference workflow's original thresholds.",
                submitted_at=now,
                published_at=now,
            )
            created += 1
    return created
