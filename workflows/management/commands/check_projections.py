import time
from functools import partial

from django.core.management.base import BaseCommand, CommandError

from workflows import registry
from workflows.projections import PROJECTION_CHECKS, compare_with_tables


class Command(BaseCommand):
    help = (
        "Rebuild every workflow instance (state, version, context) and every review task "
        "(status, queue, assignee, due time, escalation level) from the event log alone and "
        "compare with the tables, in one snapshot and in flat memory; changes nothing. Exit 1 "
        "listing the differences."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workflow", help="only this workflow type")
        parser.add_argument("--limit", type=int, default=20, help="differences to print")

    def handle(self, *args, workflow: str | None, limit: int, **options):
        definitions = [registry.get(workflow)] if workflow else registry.all_definitions()
        checks = [
            (definition.name, "instance(s)", partial(compare_with_tables, definition=definition))
            for definition in definitions
        ]
        if workflow is None:
            checks.extend(PROJECTION_CHECKS)
        differences = 0
        for label, noun, compare in checks:
            started = time.perf_counter()
            report = compare()
            elapsed = time.perf_counter() - started
            self.stdout.write(
                f"{label}: rebuilt {report.rebuilt} {noun} from the log in {elapsed:.2f}s, "
                f"{report.differences} difference(s)"
            )
            for line in report.mismatches[:limit]:
                self.stdout.write(f"  {line}")
            differences += report.differences
        if differences:
            raise CommandError(f"{differences} difference(s) between the log and the tables")
        self.stdout.write(self.style.SUCCESS("projections match the log"))
