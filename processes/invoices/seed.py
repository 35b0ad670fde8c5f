"""The invoice workflow's reference data, written once by a processes data migration."""

from django.apps.registry import Apps

from processes import seeding
from processes.invoices import escalation, rules


def seed(*, apps: Apps) -> None:
    seeding.seed_groups(apps=apps, names=escalation.QUEUE_GROUPS)
    seeding.seed_escalation_policies(apps=apps, policies=escalation.ESCALATION_POLICIES)
    seeding.seed_rule_sets(
        apps=apps,
        rule_sets=rules.RULE_SETS,
        note="Seeded: the reference workflow's original thresholds.",
    )
