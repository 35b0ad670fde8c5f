from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from decisions import services
from decisions.errors import DecisionError
from decisions.models import RuleSetVersion
from opscore.actors import SYSTEM


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"{value!r} is not an ISO date-time (e.g. 2026-03-01T00:00:00Z)")
    return moment


class Command(BaseCommand):
    help = (
        "Backtest a rule set version against past decisions (the last N, or a date range) "
        "and store the result, which the publish screen shows."
    )

    def add_arguments(self, parser):
        parser.add_argument("rule_set", help="rule set slug, e.g. order-carrier")
        parser.add_argument("version", type=int, help="version number")
        parser.add_argument("--last", type=int, default=services.DEFAULT_BACKTEST_SIZE)
        parser.add_argument("--since", help="ISO date-time; with --until, replaces --last")
        parser.add_argument("--until", help="ISO date-time (exclusive)")

    def handle(self, *args, rule_set, version, last, since, until, **options):
        try:
            target = RuleSetVersion.objects.get(rule_set__slug=rule_set, number=version)
        except RuleSetVersion.DoesNotExist:
            raise CommandError(f"{rule_set} has no version {version}") from None
        try:
            backtest = services.run_backtest(
                version=target, actor=SYSTEM, last=last, since=_moment(since), until=_moment(until)
            )
        except DecisionError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{target}: {backtest.changed} of {backtest.decisions_evaluated} outcomes change, "
            f"{backtest.errors} error(s), {backtest.duration_ms} ms ({backtest.window})"
        )
        for change in backtest.breakdown:
            self.stdout.write(f"  {change['from']} -> {change['to']}: {change['count']}")
