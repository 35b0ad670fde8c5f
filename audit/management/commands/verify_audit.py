import time

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain; exit 1 naming the first broken sequence number."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args, chunk_size: int, quiet: bool, **options):
        started = time.perf_counter()

        def progress(checked: int) -> None:
            if not quiet:
                rate = checked / max(time.perf_counter() - started, 1e-9)
                self.stderr.write(f"  … {checked} events checked ({rate:,.0f}/s)")

        report = verify_chain(chunk_size=chunk_size, on_progress=progress)
        elapsed = time.perf_counter() - started
        rate = report.checked / elapsed if elapsed > 0 else 0.0
        summary = f"checked {report.checked} events in {elapsed:.2f}s ({rate:,.0f} events/s)"
        if report.legacy:
            self.stdout.write(
                self.style.WARNING(
                    f"events #1-#{report.legacy} predate the keyed chain (plain SHA-256): "
                    "they verify, but anyone who can write the table could recompute them"
                )
            )
        if report.intact:
            self.stdout.write(self.style.SUCCESS(f"{summary}: chain intact"))
            return
        self.stdout.write(summary)
        raise CommandError(
            f"audit chain broken at sequence {report.first_break.seq}: {report.first_break.reason}",
            returncode=1,
        )
