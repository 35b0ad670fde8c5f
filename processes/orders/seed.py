"""The order workflow's reference data, written once by a processes data migration."""

from django.apps.registry import Apps

from processes import seeding
from processes.orders import escalation, events, rules


def seed(*, apps: Apps) -> None:
    seeding.seed_groups(apps=apps, names=escalation.QUEUE_GROUPS)
    seeding.seed_escalation_policies(apps=apps, policies=escalation.ESCALATION_POLICIES)
    seeding.seed_rule_sets(
        apps=apps,
        rule_sets=rules.RULE_SETS,
        note="Seeded: the reference workflow's original thresholds.",
    )
    seeding.seed_event_types(apps=apps, event_types=events.EVENT_TYPES)
