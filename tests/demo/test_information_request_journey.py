"""The requester's side of the demo: a reviewer asks for information on the task page, the
mail lands in the demo's sink over SMTP, the requester reads it in admin, follows its link and
answers; the task is back in the reviewer's queue with the answer on it."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from approvals.models import ReviewTask
from approvals.services import deliver_notifications
from demo.models import ReceivedMail
from opscore.actors import Actor
from tests.conftest import wait_until
from tests.factories import order_in_review

PASSWORD = "pw-for-tests-123"


def _logged_in(username: str) -> Client:
    client = Client()
    response = client.post(
        reverse("admin:login"), {"username": username, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302, response.text
    return client


def test_the_requester_answers_from_their_demo_mailbox_and_the_task_returns(mail_sink):
    from django.contrib.auth.models import User

    call_command("seed_demo", "--password", PASSWORD)
    requester = User.objects.get(username="requester")
    order = order_in_review(actor=Actor.for_user(requester), value=2400)
    task = ReviewTask.objects.get(instance_id=order.pk, step="manual.review")
    reviewer = _logged_in("reviewer")
    reviewer.post(reverse("admin:approvals_teamtask_work", args=[task.pk]), {"decision": "claim"})
    asked = reviewer.post(
        reverse("admin:approvals_mytask_work", args=[task.pk]),
        {"decision": "request_info", "text": "Which loading bay?"},
        follow=True,
    )
    my_tasks = reverse("admin:approvals_mytask_changelist")

    assert "the requester is emailed" in asked.text
    assert str(order) not in reviewer.get(my_tasks).text  # with the requester now

    assert deliver_notifications() == (1, 0)  # what the worker does once the request commits
    assert wait_until(lambda: ReceivedMail.objects.exists(), timeout=10)
    mail = ReceivedMail.objects.get()
    inbox = _logged_in("requester")
    listing = inbox.get(reverse("admin:demo_receivedmail_changelist"))
    page = inbox.get(reverse("admin:demo_receivedmail_change", args=[mail.pk]))
    link = re.search(r'<a href="(https://ops\.example\.test/information/[^"]+)"', page.text)[1]

    assert mail.recipient_list == ["requester@opscore.invalid"]
    assert f"Information requested: {order}" in listing.text
    assert "Which loading bay?" in page.text

    path = link.removeprefix("https://ops.example.test")
    assert "Which loading bay?" in inbox.get(path).text
    answered = inbox.post(path, {"answer": "Bay 4, after 14:00."})

    assert answered.status_code == 200
    assert str(order) in reviewer.get(my_tasks).text  # back in the reviewer's queue
    task_page = reviewer.get(reverse("admin:approvals_mytask_change", args=[task.pk])).text
    assert "Bay 4, after 14:00." in task_page
    assert "information_received" in task_page or "information received" in task_page.lower()
