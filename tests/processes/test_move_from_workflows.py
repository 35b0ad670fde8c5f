"""A database migrated while orders lived in the workflows app keeps its orders reachable."""

from datetime import timedelta

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from approvals.selectors import task_instance, tasks_for
from processes.orders.models import Order, OrderState


def _migrate(*, before_the_move: bool):
    """Migrate every app to its last migration, or to just before orders left workflows."""
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    if before_the_move:
        targets = [node for node in targets if node[0] not in ("workflows", "processes")]
        targets += [("workflows", "0004_execution_request_id")]
        executor.migrate([*targets, ("processes", None)])
    else:
        executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_an_order_its_history_its_review_task_and_permissions_survive_the_move(live_db):
    old = _migrate(before_the_move=True)
    content_type = old.get_model("contenttypes", "ContentType")
    order_type = content_type.objects.get(app_label="workflows", model="order")
    old_order = old.get_model("workflows", "Order")
    now = timezone.now()
    order = old_order.objects.create(
        correlation_key="SO-MOVED", state=OrderState.IN_REVIEW, version=1, context={"input": {}}
    )
    old.get_model("workflows", "HistoricalOrder").objects.create(
        id=order.pk,
        correlation_key=order.correlation_key,
        state=OrderState.IN_REVIEW,
        version=1,
        context={"input": {}},
        created_at=order.created_at,
        updated_at=order.updated_at,
        history_date=now,
        history_type="+",
    )
    group = old.get_model("auth", "Group").objects.create(name="moved-reviewers")
    group.permissions.add(
        old.get_model("auth", "Permission").objects.get(
            content_type=order_type, codename="review_order"
        )
    )
    reviewer = old.get_model("auth", "User").objects.create(username="moved-rita", is_staff=True)
    reviewer.groups.add(group)
    task = old.get_model("approvals", "ReviewTask").objects.create(
        instance_type=order_type,
        instance_id=order.pk,
        instance_version=1,
        title="order SO-MOVED",
        workflow="order",
        step="manual.review",
        queue=group,
        opened_at=now,
        due_at=now + timedelta(hours=2),
    )

    _migrate(before_the_move=False)

    moved = Order.objects.get(correlation_key="SO-MOVED")
    assert (moved.pk, moved.state) == (order.pk, OrderState.IN_REVIEW)
    assert [row.history_type for row in moved.history.all()] == ["+"]
    assert ContentType.objects.get_for_model(Order).pk == order_type.pk
    assert [found.pk for found in tasks_for(instance=moved)] == [task.pk]
    assert task_instance(task=tasks_for(instance=moved).get()) == moved
    assert User.objects.get(username="moved-rita").has_perm("processes.review_order")
    assert not ContentType.objects.filter(app_label="workflows", model="order").exists()
