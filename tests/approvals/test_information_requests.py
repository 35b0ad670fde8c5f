"""A reviewer's "request information" reaches the requester by email, over real SMTP, with a
signed link; their answer brings the task back to the reviewers' queue and onto its timeline.
A tampered, expired, superseded or second use of a link is refused and changes nothing."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from approvals import selectors
from approvals.models import NotificationKind, ReviewTask, TaskNotification, TaskStatus
from approvals.services import (
    NobodyToAsk,
    approve_task,
    claim_task,
    deliver_notifications,
    request_information,
)
from audit.models import Event
from opscore.actors import SYSTEM, Actor
from privacy import sealing
from privacy.services import erase_subject
from tests.factories import order_in_review, reviewer, user_with_perms

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https://ops\.example\.test/information/[^/\s]+/")


def _task(order) -> ReviewTask:
    return ReviewTask.objects.get(instance_id=order.pk, step="manual.review")


def _timeline(order) -> list[tuple[str, str]]:
    return list(
        Event.objects.filter(instance_id=order.pk, type__startswith="task.")
        .order_by("seq")
        .values_list("type", "actor_ref")
    )


def _snapshot(task: ReviewTask) -> tuple:
    task.refresh_from_db()
    return (
        task.status,
        task.assignee_id,
        task.information_requested,
        task.information_answer,
        task.information_answered_at,
        Event.objects.count(),
    )


@pytest.fixture
def asked(smtp):
    """rita holds a task on ada's order and asked ada a question; the email went out."""
    ada = user_with_perms(username="ada")
    rita = reviewer("rita")
    order = order_in_review(actor=Actor.for_user(ada), value=2400)
    claim_task(task=_task(order), actor=Actor.for_user(rita))
    request_information(
        task=_task(order), actor=Actor.for_user(rita), message="Which loading bay?\nAnd when?"
    )
    assert deliver_notifications() == (1, 0)
    return order, rita, smtp


def _plain(mail) -> str:
    part = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode().replace("\r\n", "\n")


def _link(smtp, index: int = -1) -> str:
    return LINK.search(_plain(smtp.received()[index])).group(0)


def test_the_requester_is_emailed_a_link_and_their_answer_brings_the_task_back(asked):
    order, rita, smtp = asked
    task = _task(order)
    [mail] = smtp.received()
    link = _link(smtp)

    assert mail["To"] == "ada@example.test"
    assert "".join(mail["Subject"].splitlines()) == f"[opscore] Information requested: {order}"
    assert "Which loading bay?\nAnd when?" in _plain(mail)
    assert task.awaiting_information
    assert task not in selectors.my_tasks(user=rita)  # with the requester, out of the queue
    assert task not in selectors.team_queue(user=rita)

    page = Client().get(link)  # no login: the signed link is the credential
    assert page.status_code == 200
    assert "Which loading bay?" in page.text
    answered = Client().post(link, {"answer": "Bay 4, after 14:00."})

    assert answered.status_code == 200
    assert "Your answer on" in answered.text
    task.refresh_from_db()
    assert task.information_answer == "Bay 4, after 14:00."
    assert task.status == TaskStatus.CLAIMED
    assert task.assignee == rita
    assert task in selectors.my_tasks(user=rita)  # back in the reviewer's queue
    assert _timeline(order)[-3:] == [
        ("task.information_requested", "rita"),
        ("task.notification_sent", "system"),
        ("task.information_received", "ada"),
    ]
    event = Event.objects.filter(type="task.information_received").get()
    assert event.payload["answer"] == "Bay 4, after 14:00."


def test_a_second_answer_through_the_same_link_is_refused_and_changes_nothing(asked):
    order, _, smtp = asked
    link = _link(smtp)
    Client().post(link, {"answer": "Bay 4."})
    before = _snapshot(_task(order))

    again = Client().post(link, {"answer": "Actually bay 6."})

    assert again.status_code == 409
    assert "This request was answered on" in again.text
    assert "Nothing was changed." in again.text
    assert _snapshot(_task(order)) == before


def test_a_tampered_link_is_refused_and_changes_nothing(asked):
    order, _, smtp = asked
    link = _link(smtp)
    token = link.rstrip("/").rsplit("/", 1)[1]
    tampered = link.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    before = _snapshot(_task(order))

    for response in (Client().get(tampered), Client().post(tampered, {"answer": "Bay 4."})):
        assert response.status_code == 400
        assert "This link is not valid" in response.text
    assert Client().get("/information/not-a-token/").status_code == 400
    assert _snapshot(_task(order)) == before


def test_an_expired_link_is_refused_and_changes_nothing(asked, settings):
    order, _, smtp = asked
    link = _link(smtp)
    before = _snapshot(_task(order))

    later = timezone.now() + timedelta(days=settings.OPSCORE_INFORMATION_LINK_DAYS, hours=1)
    with time_machine.travel(later):
        response = Client().post(link, {"answer": "Bay 4."})

    assert response.status_code == 410
    assert "This link has expired" in response.text
    assert _snapshot(_task(order)) == before


def test_a_newer_request_replaces_the_link_of_the_older_one(asked):
    order, rita, smtp = asked
    first = _link(smtp)
    request_information(task=_task(order), actor=Actor.for_user(rita), message="And the PO?")
    deliver_notifications()
    second = _link(smtp)
    before = _snapshot(_task(order))

    refused = Client().post(first, {"answer": "Bay 4."})

    assert refused.status_code == 409
    assert "A newer request replaced this one" in refused.text
    assert _snapshot(_task(order)) == before
    assert Client().post(second, {"answer": "PO-77."}).status_code == 200
    assert _task(order).information_answer == "PO-77."


def test_an_empty_answer_is_refused_with_the_form_shown_again(asked):
    order, _, smtp = asked
    link = _link(smtp)
    before = _snapshot(_task(order))

    response = Client().post(link, {"answer": "   "})

    assert response.status_code == 400
    assert "Write an answer before sending it." in response.text
    assert 'name="answer"' in response.text
    assert _snapshot(_task(order)) == before


def test_a_decided_task_takes_no_answer(asked):
    order, rita, smtp = asked
    link = _link(smtp)
    approve_task(task=_task(order), actor=Actor.for_user(rita))
    before = _snapshot(_task(order))

    response = Client().post(link, {"answer": "Bay 4."})

    assert response.status_code == 409
    assert "approved already" in response.text
    assert _snapshot(_task(order)) == before


def test_an_instance_an_integration_started_asks_its_requester_email(smtp):
    order = order_in_review(
        actor=Actor.for_integration("shop"), requester_email="buyer@shop.example", value=2400
    )
    rita = reviewer("rita")
    request_information(task=_task(order), actor=Actor.for_user(rita), message="PO number?")
    deliver_notifications()
    [mail] = smtp.received()

    assert mail["To"] == "buyer@shop.example"
    assert Client().post(_link(smtp), {"answer": "PO-1"}).status_code == 200
    assert _timeline(order)[-1] == ("task.information_received", "shop")


def test_with_nobody_to_ask_the_request_is_refused_and_changes_nothing(smtp):
    order = order_in_review(value=2400)  # started by the system, no requester_email
    task = _task(order)
    before = _snapshot(task)

    with pytest.raises(NobodyToAsk, match="nobody to ask"):
        request_information(task=task, actor=Actor.for_user(reviewer("rita")), message="Why?")

    assert _snapshot(task) == before
    assert not TaskNotification.objects.filter(kind=NotificationKind.INFORMATION_REQUEST).exists()


def test_the_task_api_shows_the_answer_and_the_task_back_in_my_queue(asked):
    order, rita, smtp = asked
    task = _task(order)
    api = Client()
    api.force_login(rita)
    waiting = api.get("/api/v1/tasks/").json()

    Client().post(_link(smtp), {"answer": "Bay 4."})
    mine = api.get("/api/v1/tasks/").json()
    one = api.get(f"/api/v1/tasks/{task.pk}").json()

    assert waiting == []
    assert [row["id"] for row in mine] == [task.pk]
    assert one["information_requested"] == "Which loading bay?\nAnd when?"
    assert one["information_answer"] == "Bay 4."
    assert one["information_answered_at"] is not None


REQUESTER_SCHEMA = {
    "type": "object",
    "required": ["requester_email"],
    "x-subject": "requester_email",
    "properties": {"requester_email": {"type": "string", "x-personal": True}},
}


def _order_with_sealed_requester(address: str):
    """An order an integration started from an event type declaring its requester personal:
    the context holds the address sealed, as ingestion stores it."""
    sealed = sealing.seal_payload(
        schema=REQUESTER_SCHEMA, payload={"requester_email": address}, fallback_ref="unused"
    )
    return order_in_review(actor=Actor.for_integration("shop"), value=2400, **sealed)


def test_a_sealed_requester_email_is_mailed_and_the_log_keeps_only_ciphertext(smtp):
    order = _order_with_sealed_requester("buyer@shop.example")
    rita = reviewer("rita")

    request_information(task=_task(order), actor=Actor.for_user(rita), message="PO number?")
    assert deliver_notifications() == (1, 0)
    [mail] = smtp.received()

    assert mail["To"] == "buyer@shop.example"
    [notification] = TaskNotification.objects.filter(kind=NotificationKind.INFORMATION_REQUEST)
    assert sealing.is_sealed(notification.recipients[0])
    logged = json.dumps(list(Event.objects.values_list("payload", flat=True)))
    assert "buyer@shop.example" not in logged
    assert Client().post(_link(smtp), {"answer": "PO-1"}).status_code == 200
    assert _timeline(order)[-1] == ("task.information_received", "shop")


def test_a_requester_erased_before_the_email_left_is_not_mailed(smtp):
    order = _order_with_sealed_requester("gone@shop.example")
    request_information(task=_task(order), actor=Actor.for_user(reviewer("rita")), message="?")
    erase_subject(ref="gone@shop.example", reason="customer asked", actor=SYSTEM)

    assert deliver_notifications() == (0, 1)

    assert smtp.received() == []
    [notification] = TaskNotification.objects.filter(kind=NotificationKind.INFORMATION_REQUEST)
    assert notification.sent_at is None
    assert "erased" in notification.last_error
    assert "task.notification_sent" not in [kind for kind, _ in _timeline(order)]
