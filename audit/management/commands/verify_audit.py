import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.anchors import AnchorError, checkpoint_at, latest_checkpoint
from audit.models import Event
from audit.selectors import verify_chain


class Command(BaseCommand):
    help = (
        "Recompute the audit log's keyed hash chain and check it against the latest checkpoint "
        "outside the database; exit 1 naming the first broken sequence number. With "
        "--from-anchor, prove events #1 to a checkpoint's sequence from the checkpoint alone, "
        "without reading the chain head row."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--quiet", action="store_true", help="no progress lines")
        parser.add_argument(
            "--from-anchor",
            action="store_true",
            help="prove the range up to a checkpoint (the latest, or --checkpoint-seq) without "
            "trusting the chain head row; events after it are not read",
        )
        parser.add_argument(
            "--checkpoint-seq",
            type=int,
            help="with --from-anchor: the checkpoint written at this sequence number",
        )
        parser.add_argument(
            "--anchor-file",
            type=Path,
            help="a checkpoint file to read instead of OPSCORE_AUDIT_ANCHOR_DIR's, e.g. the "
            "copy the outbound anchor endpoint kept",
        )

    def handle(
        self,
        *args,
        chunk_size: int,
        quiet: bool,
        from_anchor: bool,
        checkpoint_seq: int | None,
        anchor_file: Path | None,
        **options,
    ):
        if checkpoint_seq is not None and not from_anchor:
            raise CommandError("--checkpoint-seq goes with --from-anchor")
        if anchor_file is not None and not anchor_file.is_file():
            raise CommandError(f"--anchor-file: {anchor_file} is not a file")
        started = time.perf_counter()

        def progress(checked: int) -> None:
            if not quiet:
                rate = checked / max(time.perf_counter() - started, 1e-9)
                self.stderr.write(f"  … {checked} events checked ({rate:,.0f}/s)")

        try:
            if checkpoint_seq is not None:
                checkpoint = checkpoint_at(seq=checkpoint_seq, path=anchor_file)
            else:
                checkpoint = latest_checkpoint(path=anchor_file)
        except AnchorError as exc:
            raise CommandError(f"audit checkpoint refused: {exc}", returncode=1) from None
        if from_anchor and checkpoint is None:
            which = f"at #{checkpoint_seq}" if checkpoint_seq is not None else "yet"
            raise CommandError(
                f"--from-anchor: no checkpoint {which}; nothing can be proved without one",
                returncode=1,
            )
        if checkpoint is None:
            self.stdout.write("no checkpoint outside the database yet: checking the chain alone")
        report = verify_chain(
            chunk_size=chunk_size,
            on_progress=progress,
            checkpoint=checkpoint,
            upto_checkpoint=from_anchor,
        )
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
        if not report.intact:
            self.stdout.write(summary)
            raise CommandError(
                f"audit chain broken at sequence {report.first_break.seq}: "
                f"{report.first_break.reason}",
                returncode=1,
            )
        if from_anchor:
            later = Event.objects.filter(seq__gt=checkpoint.seq).count()
            self.stdout.write(
                self.style.SUCCESS(
                    f"{summary}: proved sequences #1-#{checkpoint.seq} against the checkpoint of "
                    f"{checkpoint.at} (hash {checkpoint.hash[:16]}…, audit key "
                    f"{checkpoint.key_id!r}); the chain head row was not read"
                )
            )
            self.stdout.write(
                f"{later} events after #{checkpoint.seq} are not covered by this checkpoint"
            )
            return
        if checkpoint is not None:
            summary += f", agrees with the checkpoint at #{checkpoint.seq} ({checkpoint.at})"
        self.stdout.write(self.style.SUCCESS(f"{summary}: chain intact"))
