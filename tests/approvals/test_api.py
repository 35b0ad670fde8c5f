"""The task API: list my tasks, claim, approve, reject; refusals as 4xx with a reason."""

import pytest

from approvals import selectors
from approvals.models import TaskStatus
from approvals.services import approve_task
from opscore.actors import Actor
from processes.orders.models import OrderState
from tests.factories import order_in_review, reviewer

pytestmark = pytest.mark.django_db


def _post(client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


def test_claim_approve_through_the_api(client):
    rita = reviewer("rita")
    order = order_in_review()
    task = selectors.active_task_for(instance=order)
    client.force_login(rita)

    claimed = _post(client, f"/api/v1/tasks/{task.pk}/claim")
    assert claimed.status_code == 200
    assert (claimed.json()["status"], claimed.json()["assignee"]) == ("claimed", "rita")
    mine = client.get("/api/v1/tasks/").json()
    assert [t["id"] for t in mine] == [task.pk]

    approved = _post(client, f"/api/v1/tasks/{task.pk}/approve", {"comment": "fine"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == "rita"
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
    assert client.get("/api/v1/tasks/").json() == []


def test_reject_without_a_reason_is_a_400_and_changes_nothing(client):
    client.force_login(reviewer("rita"))
    task = selectors.active_task_for(instance=order_in_review())
    response = _post(client, f"/api/v1/tasks/{task.pk}/reject", {"reason": ""})
    assert response.status_code == 400
    assert "reason" in str(response.json())
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN

    response = _post(client, f"/api/v1/tasks/{task.pk}/reject", {"reason": "bad address"})
    assert response.status_code == 200
    assert response.json()["reason"] == "bad address"


def test_deciding_a_task_someone_else_decided_is_a_409(client):
    task = selectors.active_task_for(instance=order_in_review())
    approve_task(task=task, actor=Actor.for_user(reviewer("tom")))
    client.force_login(reviewer("rita"))
    response = _post(client, f"/api/v1/tasks/{task.pk}/approve")
    assert response.status_code == 409
    assert "already approved by tom" in str(response.json())


def test_claiming_a_task_someone_else_holds_is_a_409(client):
    task = selectors.active_task_for(instance=order_in_review())
    client.force_login(reviewer("tom"))
    assert _post(client, f"/api/v1/tasks/{task.pk}/claim").status_code == 200
    client.force_login(reviewer("rita"))
    response = _post(client, f"/api/v1/tasks/{task.pk}/claim")
    assert response.status_code == 409
    assert "already claimed by tom" in str(response.json())


def test_unknown_queue_names_are_a_400(client):
    client.force_login(reviewer("rita"))
    assert client.get("/api/v1/tasks/?queue=everything").status_code == 400


def test_anonymous_callers_are_refused(client):
    response = client.get("/api/v1/tasks/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
