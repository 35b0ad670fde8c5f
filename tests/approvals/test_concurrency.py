"""Two people approving the same task at the same moment, on separate connections."""

import threading

import pytest
from django.db import connection

from approvals import selectors
from approvals.models import TaskStatus
from approvals.services import TaskConflict, approve_task
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer


@pytest.mark.postgres
def test_two_concurrent_approvals_of_one_task_exactly_one_wins(live_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks between concurrent transactions")
    rita, tom = reviewer("rita"), reviewer("tom")
    order = order_in_review()
    task = selectors.active_task_for(instance=order)
    # Both start from the same stale view of the task, as two browser tabs would.
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def approve(user) -> None:
        try:
            barrier.wait(timeout=10)
            approve_task(task=task, actor=Actor.for_user(user))
            outcomes[user.username] = "won"
        except TaskConflict as error:
            outcomes[user.username] = f"conflict: {error}"
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (rita, tom)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o.split(":")[0] for o in outcomes.values()) == ["conflict", "won"], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome == "won")
    loser = next(outcome for outcome in outcomes.values() if outcome != "won")
    assert f"already approved by {winner}" in loser
    task.refresh_from_db()
    order.refresh_from_db()
    assert (task.status, task.decided_by.username) == (TaskStatus.APPROVED, winner)
    assert order.state == OrderState.DISPATCHING
    assert order.version == 2  # one approve transition, not two


@pytest.mark.postgres
def test_concurrent_sweeps_send_each_escalation_once(live_db, smtp):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SKIP LOCKED between concurrent sweeps")
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from approvals.models import ReviewTask
    from approvals.services import sweep_review_deadlines
    from tests.factories import UserFactory

    sue = UserFactory(username="sue", email="sue@example.test")
    sue.groups.add(Group.objects.get(name="supervisors"))
    orders = [order_in_review() for _ in range(12)]
    ReviewTask.objects.update(next_action_at=timezone.now() - timedelta(minutes=1))
    ReviewTask.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    ReviewTask.objects.update(reminder_at=None)
    # next_action_at was the reminder; with none, the deadline is what is due.
    barrier = threading.Barrier(3)

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            sweep_review_deadlines(batch_size=5)
            sweep_review_deadlines(batch_size=5)
            sweep_review_deadlines(batch_size=5)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sweep_review_deadlines()

    received = smtp.received()
    assert len(received) == len(orders)
    assert len({mail["X-Opscore-Notification"] for mail in received}) == len(orders)
    assert set(ReviewTask.objects.values_list("escalation_level", flat=True)) == {1}
