import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit.triggers import revoke_event_rewrites
from opscore.db.roles import create_roles_and_grants


class Command(BaseCommand):
    help = (
        "PostgreSQL: create the owner role (runs migrations, owns the tables) and the runtime "
        "role (the application: reads and writes rows, cannot alter, disable or drop triggers "
        "or tables) with their grants on this database. Run with DATABASE_URL naming a "
        "superuser; passwords come from OPSCORE_DB_OWNER_PASSWORD and "
        "OPSCORE_DB_RUNTIME_PASSWORD when set. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", required=True, help="the owner role's name")
        parser.add_argument("--runtime", required=True, help="the runtime role's name")
        parser.add_argument(
            "--adopt-existing",
            action="store_true",
            help="hand every table, sequence and function already in the database to the "
            "owner (a database migrated before by another role)",
        )

    def handle(self, *args, owner: str, runtime: str, adopt_existing: bool, **options):
        try:
            done = create_roles_and_grants(
                connection,
                owner=owner,
                runtime=runtime,
                owner_password=os.environ.get("OPSCORE_DB_OWNER_PASSWORD", ""),
                runtime_password=os.environ.get("OPSCORE_DB_RUNTIME_PASSWORD", ""),
                adopt_existing=adopt_existing,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        revoked = revoke_event_rewrites(connection)
        for line in done:
            self.stdout.write(line)
        for line in revoked:
            self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS(
                f"run migrate with OPSCORE_MIGRATION_DATABASE_URL as {owner}, "
                f"the application with DATABASE_URL as {runtime}"
            )
        )
