from workflows.management.commands import check_projections


class Command(check_projections.Command):
    help = (
        "Deprecated name of check_projections, which it runs: it compares the tables with "
        "the log and changes nothing."
    )

    def handle(self, *args, **options):
        self.stderr.write(
            "rebuild_projections is deprecated: it only compares (nothing is rebuilt); "
            "run check_projections"
        )
        super().handle(*args, **options)
