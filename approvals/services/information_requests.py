"""Asking the requester for information, and their answer bringing the task back.

A reviewer's request takes the task out of the working queues and owes the requester an
email with a signed link (approvals.information_links); the answer given through that link is
recorded on the task and in the log, and the task is back where it was, with whoever held it
or in its queue. The SLA keeps running meanwhile: waiting on the requester is part of the
time the step takes, and escalation still watches it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from approvals import information_links, selectors
from approvals.models import NotificationKind, ReviewTask, TaskNotification
from approvals.services._task_access import lock_task, require_active, require_user
from approvals.services._task_events import record_task_event
from approvals.services.errors import TaskError
from approvals.services.four_eyes import require_member
from opscore.actors import Actor
from opscore.scrubbing import recordable

DELIVER_JOB = "approvals.jobs.deliver_notifications"
MAX_ANSWER_LENGTH = 10_000


class NobodyToAsk(TaskError):
    """The instance has no requester with an address to send the request to."""


class InformationLinkRefused(TaskError):
    """An answer through a link that cannot be used; nothing was changed."""


class LinkInvalid(InformationLinkRefused):
    pass


class LinkExpired(InformationLinkRefused):
    pass


class AlreadyAnswered(InformationLinkRefused):
    pass


class RequestClosed(InformationLinkRefused):
    """The task was decided or closed, or a newer request replaced this one."""


def request_information(*, task: ReviewTask, actor: Actor, message: str) -> ReviewTask:
    """Ask the instance's requester for more before deciding.

    The question is recorded on the task and in the log, the task leaves the working queues
    (its holder keeps it) until the requester answers, and an email with a link to answer is
    owed to the requester, sent by a worker once this transaction commits (and retried by the
    deadline sweeper if the mail server refuses). Refused, with nothing changed, without a
    message, on a closed task, to someone outside the task's queue, or when there is nobody
    to ask (NobodyToAsk): see `approvals.selectors.requester_of`.
    """
    if not message.strip():
        raise TaskError("say what information is needed")
    user = require_user(actor)
    with transaction.atomic():
        locked = lock_task(task)
        require_active(locked)
        require_member(locked, user)
        instance = selectors.task_instance(task=locked)
        requester = selectors.requester_of(instance=instance)
        if requester is None:
            raise NobodyToAsk(
                f"nobody to ask: {instance} was not started by a person with an email address "
                "and its context has no requester_email; decide with what you have, or reject "
                "with a reason"
            )
        address, _ = requester
        number = selectors.information_requests_sent(task=locked) + 1
        locked.information_requested = recordable(message.strip())
        locked.information_requested_at = timezone.now()
        locked.information_answer = ""
        locked.information_answered_at = None
        locked.save()
        TaskNotification.objects.create(
            task=locked,
            kind=NotificationKind.INFORMATION_REQUEST,
            level=number,
            recipients=[address],
        )
        record_task_event(
            locked,
            instance=instance,
            type="task.information_requested",
            actor=actor,
            extra={"message": locked.information_requested, "request": number},
        )
        # With the ORM broker the queue row joins this transaction: sent once it commits.
        async_task(DELIVER_JOB, task_name=f"information-request:{locked.pk}:{number}")
    return locked


def _link(token: str) -> information_links.InformationLink:
    try:
        return information_links.read_token(token)
    except information_links.LinkExpired as error:
        raise LinkExpired(
            "this link has expired: ask the reviewer to send the request again"
        ) from error
    except information_links.LinkInvalid as error:
        raise LinkInvalid(
            "this link is not valid: it may have been altered or cut short"
        ) from error


def _current(task: ReviewTask, link: information_links.InformationLink) -> None:
    if not task.is_active:
        raise RequestClosed(f"{task.title} has been {task.get_status_display().lower()} already")
    if link.request != selectors.information_requests_sent(task=task):
        raise RequestClosed("a newer request replaced this one: answer the latest email")
    if not task.awaiting_information:
        raise AlreadyAnswered(
            f"this request was answered on {task.information_answered_at:%Y-%m-%d %H:%M:%S %Z}"
        )


def open_information_request(*, token: str) -> ReviewTask:
    """The task a link asks about, if the link may still be answered (else the refusal)."""
    link = _link(token)
    task = ReviewTask.objects.select_related("queue").filter(pk=link.task_id).first()
    if task is None:
        raise LinkInvalid("this link is not valid: it names no request")
    _current(task, link)
    return task


def answer_information_request(*, token: str, answer: str) -> ReviewTask:
    """Record the requester's answer and bring the task back to the reviewers.

    Refused with nothing changed when the link was altered (LinkInvalid) or is too old
    (LinkExpired), when this request was answered already (AlreadyAnswered), and when the
    task was closed or asked again since (RequestClosed). The answer is recorded on the task
    and as `task.information_received` on the instance's timeline, as from the requester.
    """
    answer = answer.strip()
    if not answer:
        raise TaskError("write an answer before sending it")
    if len(answer) > MAX_ANSWER_LENGTH:
        raise TaskError(f"an answer is at most {MAX_ANSWER_LENGTH:,} characters")
    link = _link(token)
    with transaction.atomic():
        try:
            locked = lock_task(ReviewTask(pk=link.task_id))
        except ReviewTask.DoesNotExist as error:
            raise LinkInvalid("this link is not valid: it names no request") from error
        _current(locked, link)
        instance = selectors.task_instance(task=locked)
        requester = selectors.requester_of(instance=instance)
        if requester is None:
            raise RequestClosed("the requester of this work can no longer answer for it")
        _, as_requester = requester
        locked.information_answer = recordable(answer)
        locked.information_answered_at = timezone.now()
        locked.save()
        record_task_event(
            locked,
            instance=instance,
            type="task.information_received",
            actor=as_requester,
            extra={"answer": locked.information_answer, "request": link.request},
        )
    return locked
