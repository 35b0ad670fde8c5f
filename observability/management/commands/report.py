"""manage.py report <name> [--since] [--until] [--format table|csv|json]; report --list."""

from django.core.management.base import BaseCommand, CommandError

from observability.reports import BadWindow, UnknownReport, all_reports, get_report, make_window
from observability.reports.rendering import FORMATS, render


class Command(BaseCommand):
    help = "Print a report read from the event log. `report --list` names them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", nargs="?", help="The report to run (see --list).")
        parser.add_argument("--list", action="store_true", help="List the reports and exit.")
        parser.add_argument(
            "--since", help="Start: ISO date/datetime (UTC if naive) or a span back: 24h, 7d."
        )
        parser.add_argument("--until", help="End (exclusive), same forms; default now.")
        parser.add_argument("--format", choices=FORMATS, default="table")

    def handle(self, *args, **options) -> None:
        if options["list"]:
            for report in all_reports():
                self.stdout.write(f"{report.name:20} {report.title}: {report.description}")
            return
        if not options["name"]:
            raise CommandError("name a report, or list them with --list")
        try:
            report = get_report(options["name"])
            window = make_window(
                since=options["since"], until=options["until"], default_span=report.default_span
            )
        except (UnknownReport, BadWindow) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(render(report.build(window), format=options["format"]), ending="")
