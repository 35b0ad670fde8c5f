"""A database that only ran its migrations can work its queues and passes the checks."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

pytestmark = pytest.mark.django_db

DECIDING = {
    "reviewers": {"approvals.work_reviewtask", "processes.review_order"},
    "managers": {"approvals.work_reviewtask", "processes.approve_invoice"},
    "finance": {"approvals.work_reviewtask", "processes.finance_approve_invoice"},
    "supervisors": {
        "approvals.work_reviewtask",
        "processes.review_order",
        "processes.approve_invoice",
        "processes.finance_approve_invoice",
    },
}


def _held(group: Group) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_each_queue_and_escalation_group_holds_what_deciding_its_steps_takes():
    for name, needed in DECIDING.items():
        assert needed <= _held(Group.objects.get(name=name)), name


def test_migrated_database_passes_the_database_checks_that_migrate_runs():
    call_command("check", databases=["default"])
