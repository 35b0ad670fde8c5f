from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from approvals import services
from approvals.models import ReviewTask
from opscore.actors import Actor
from workflows import engine


class Command(BaseCommand):
    help = "Approve or reject a review task as a named person (the same rules as admin and API)."

    def add_arguments(self, parser):
        parser.add_argument("task", type=int)
        parser.add_argument("decision", choices=["approve", "reject"])
        parser.add_argument("--as", dest="username", required=True)
        parser.add_argument("--reason", default="", help="Required to reject; a comment otherwise.")

    def handle(self, *args, task: int, decision: str, username: str, reason: str, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        review_task = ReviewTask.objects.filter(pk=task).first()
        if review_task is None:
            raise CommandError(f"no task {task}")
        actor = Actor.for_user(user)
        try:
            if decision == "approve":
                done = services.approve_task(task=review_task, actor=actor, comment=reason)
            else:
                done = services.reject_task(task=review_task, actor=actor, reason=reason)
        except engine.WorkflowError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"task {done.pk} {done.status} by {username} ({done.outcome})")
