from django.core.management.base import BaseCommand

from observability.alerts.services import evaluate_alert_rules


class Command(BaseCommand):
    help = (
        "Evaluate every alert rule and send owed notices, once. The schedule opscore.alerts "
        "does this every minute inside a django-q2 cluster; run this from cron or a systemd "
        "timer too, so that a silent cluster is noticed when no cluster is left to notice it."
    )

    def handle(self, *args, **options):
        report = evaluate_alert_rules()
        self.stdout.write(str(report))
        for name, error in report.failed.items():
            self.stderr.write(f"rule {name!r} not evaluated: {error}")
