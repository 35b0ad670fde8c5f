import getpass

from django.core.management.base import BaseCommand, CommandError

from opscore.actors import Actor
from privacy.services import ReasonRequired, UnknownSubject, erase_subject


class Command(BaseCommand):
    help = (
        "Erase a data subject's personal data: destroy their key (sealed values everywhere read "
        "as [erased]), scrub plaintext copies from free text, and record the erasure in the "
        "log without the personal data. The audit chain still verifies."
    )

    def add_arguments(self, parser):
        parser.add_argument("ref", help="the subject's reference: the x-subject value (an email)")
        parser.add_argument(
            "--reason",
            required=True,
            help="why (e.g. the erasure request's id); recorded, so name no personal data",
        )

    def handle(self, *args, ref: str, reason: str, **options):
        actor = Actor(kind="system", ref=f"command:{getpass.getuser()}"[:150])
        try:
            report = erase_subject(ref=ref, reason=reason, actor=actor)
        except (UnknownSubject, ReasonRequired) as error:
            raise CommandError(str(error), returncode=1) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"subject #{report.subject_id} erased: key destroyed, {report.values_found} "
                f"personal value(s) found, {report.rows_scrubbed} free-text row(s) scrubbed"
            )
        )
