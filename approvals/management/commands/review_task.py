"""Approve or reject a review task from the command line, as the person running it.

Whoever runs a command is an OS user, not a Django login: `--as` names the person the decision
is recorded for, and must be the OS user's own username. Acting as anybody else is break-glass:
it needs `--break-glass "<reason>"`, and the event records the channel, the OS user and the
reason, so one operator cannot quietly approve two levels of an invoice as two people.
"""

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from approvals import services
from approvals.models import ReviewTask
from opscore.actors import Actor
from workflows import engine


class Command(BaseCommand):
    help = "Approve or reject a review task as yourself (the same rules as admin and API)."

    def add_arguments(self, parser):
        parser.add_argument("task", type=int)
        parser.add_argument("verdict", choices=["approve", "reject"])
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            help="Who decides: your own username (the OS user running the command).",
        )
        parser.add_argument("--reason", default="", help="Required to reject; a comment otherwise.")
        parser.add_argument(
            "--break-glass",
            dest="break_glass",
            default="",
            help="Act as someone other than yourself; why (recorded in the event).",
        )

    def handle(
        self,
        *args,
        task: int,
        verdict: str,
        username: str,
        reason: str,
        break_glass: str,
        **options,
    ):
        os_user = getpass.getuser()
        break_glass = break_glass.strip()
        if username != os_user and not break_glass:
            raise CommandError(
                f"you run this as OS user {os_user!r} and cannot decide as {username!r}; "
                'pass --break-glass "<reason>" to act for someone else (it is recorded)'
            )
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        review_task = ReviewTask.objects.filter(pk=task).first()
        if review_task is None:
            raise CommandError(f"no task {task}")
        actor = Actor.for_user(user)
        channel = {"name": "command", "os_user": os_user}
        if username != os_user:
            channel["break_glass"] = break_glass
        try:
            if verdict == "approve":
                done = services.approve_task(
                    task=review_task, actor=actor, comment=reason, channel=channel
                )
            else:
                done = services.reject_task(
                    task=review_task, actor=actor, reason=reason, channel=channel
                )
        except engine.WorkflowError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"task {done.pk} {done.status} by {username} ({done.outcome})")
