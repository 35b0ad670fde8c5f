"""Emails about review tasks, rendered from templates under templates/approvals/email/:
reminders, escalations and expiries with a link to the task in admin; information requests
with a signed link where the requester answers."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from approvals import information_links
from approvals.models import NotificationKind, ReviewTask, TaskNotification
from opscore import request_context
from privacy import sealing

SUBJECTS = {
    NotificationKind.REMINDER: "[opscore] Reminder: {title} is due {due}",
    NotificationKind.ESCALATION: "[opscore] Escalated (level {level}): {title} is overdue",
    NotificationKind.EXPIRY: "[opscore] Expired: {title} was not decided in time",
    NotificationKind.INFORMATION_REQUEST: "[opscore] Information requested: {title}",
}


def addresses_of_users(users: Iterable) -> list[str]:
    return sorted({user.email for user in users if user.is_active and user.email})


def addresses_of_group(group: Group) -> list[str]:
    return addresses_of_users(group.user_set.filter(is_active=True).exclude(email=""))


def task_url(task: ReviewTask) -> str:
    path = reverse("admin:approvals_reviewtask_change", args=[task.pk])
    return f"{settings.OPSCORE_BASE_URL.rstrip('/')}{path}"


class RecipientErased(Exception):
    """The person to tell was erased (`erase_subject`) after the email was owed."""


def recipient_addresses(notification: TaskNotification) -> list[str]:
    """The addresses to send to; a requester's is stored sealed and revealed only here."""
    revealed = sealing.reveal_many(list(notification.recipients))
    unreadable = [value for value in revealed if not isinstance(value, str) or "@" not in value]
    if unreadable:
        raise RecipientErased("the recipient's address was erased; there is nobody to tell")
    return revealed


def build_message(notification: TaskNotification) -> EmailMultiAlternatives:
    task = notification.task
    context = {
        "task": task,
        "kind": notification.kind,
        "level": notification.level,
        "url": (
            information_links.answer_url(task_id=task.pk, request=notification.level)
            if notification.kind == NotificationKind.INFORMATION_REQUEST
            else task_url(task)
        ),
        "escalated_to": task.escalated_to.name if task.escalated_to_id else "",
        "link_days": settings.OPSCORE_INFORMATION_LINK_DAYS,
    }
    subject = SUBJECTS[notification.kind].format(
        title=task.title, level=notification.level, due=f"{task.due_at:%Y-%m-%d %H:%M %Z}"
    )
    template = f"approvals/email/{notification.kind}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipient_addresses(notification),
        headers={
            "X-Opscore-Notification": f"{task.pk}:{notification.kind}:{notification.level}",
            # The sweep that sent it: its log lines say which deadline it acted on.
            **request_context.outbound_headers(),
        },
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


def send(notification: TaskNotification) -> None:
    """Send one notification; with nobody to tell there is nothing to send."""
    if not notification.recipients:
        return
    build_message(notification).send(fail_silently=False)
