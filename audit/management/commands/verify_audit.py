import time

from django.core.management.base import BaseCommand, CommandError

from audit.anchors import AnchorError, latest_checkpoint
from audit.selectors import verify_chain


class Command(BaseCommand):
    help = (
        "Recompute the audit log's keyed hash chain and check it against the latest checkpoint "
        "outside the database; exit 1 naming the first broken sequence number."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args, chunk_size: int, quiet: bool, **options):
        started = time.perf_counter()

        def progress(checked: int) -> None:
            if not quiet:
                rate = checked / max(time.perf_counter() - started, 1e-9)
                self.stderr.write(f"  … {checked} events checked ({rate:,.0f}/s)")

        try:
            checkpoint = latest_checkpoint()
        except AnchorError as exc:
            raise CommandError(f"audit checkpoint refused: {exc}", returncode=1) from None
        if checkpoint is None:
            self.stdout.write("no checkpoint outside the database yet: checking the chain alone")
        report = verify_chain(chunk_size=chunk_size, on_progress=progress, checkpoint=checkpoint)
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
            if checkpoint is not None:
                summary += f", agrees with the checkpoint at #{checkpoint.seq} ({checkpoint.at})"
            self.stdout.write(self.style.SUCCESS(f"{summary}: chain intact"))
            return
        self.stdout.write(summary)
        raise CommandError(
            f"audit chain broken at sequence {report.first_break.seq}: {report.first_break.reason}",
            returncode=1,
        )
