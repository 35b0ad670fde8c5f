"""Django's `migrate`, logged in as the owner role when OPSCORE_MIGRATION_DATABASE_URL is set."""

from django.core.management.commands import migrate

from opscore.db.roles import connected_as_owner


class Command(migrate.Command):
    def handle(self, *args, **options):
        with connected_as_owner(options["database"]):
            return super().handle(*args, **options)
