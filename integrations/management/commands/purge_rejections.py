"""Delete refused requests older than the retention window (also run daily by django-q2)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations import services


class Command(BaseCommand):
    help = "Delete rejections older than --days (default OPSCORE_REJECTION_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=settings.OPSCORE_REJECTION_RETENTION_DAYS,
            help="Keep rejections received in the last N days (default: %(default)s).",
        )

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        purged = services.purge_rejections(older_than=timedelta(days=days))
        self.stdout.write(f"purged {purged} rejections received more than {days} days ago")
