import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals import selectors, services
from approvals.models import ReviewTask, TaskStatus
from approvals.projections import rebuild_tasks
from opscore.actors import Actor
from tests.factories import order_in_review, reviewer

pytestmark = pytest.mark.django_db


def test_review_tasks_rebuild_from_the_log_alone(capsys):
    first, second = reviewer(), reviewer()
    claimed = selectors.active_task_for(instance=order_in_review())
    decided = selectors.active_task_for(instance=order_in_review())
    untouched = selectors.active_task_for(instance=order_in_review())
    services.claim_task(task=claimed, actor=Actor.for_user(first))
    services.claim_task(task=decided, actor=Actor.for_user(second))
    services.approve_task(task=decided, actor=Actor.for_user(second))

    rebuilt = rebuild_tasks()
    assert rebuilt[claimed.pk]["status"] == TaskStatus.CLAIMED
    assert rebuilt[claimed.pk]["assignee"] == first.username
    assert rebuilt[decided.pk]["status"] == TaskStatus.APPROVED
    assert rebuilt[untouched.pk]["status"] == TaskStatus.OPEN
    assert rebuilt[untouched.pk]["assignee"] is None
    call_command("rebuild_projections")
    out = capsys.readouterr().out
    assert "review tasks: rebuilt 3 task(s)" in out
    assert "projections match the log" in out


def test_a_task_changed_behind_the_services_is_reported(capsys):
    task = selectors.active_task_for(instance=order_in_review())
    # A write that bypassed the services: the log no longer explains the table.
    ReviewTask.objects.filter(pk=task.pk).update(status=TaskStatus.APPROVED)
    with pytest.raises(CommandError, match="1 difference"):
        call_command("rebuild_projections")
    assert f"review task #{task.pk}: status is 'approved' in the table, 'open' from the log" in (
        capsys.readouterr().out
    )
