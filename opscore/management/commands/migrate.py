"""Django's `migrate`, logged in as the owner role when OPSCORE_MIGRATION_DATABASE_URL is set,
and not refused by the checks that judge stored rows (see opscore.migrating)."""

from django.core.management.commands import migrate

from opscore.db.roles import connected_as_owner
from opscore.migrating import checking_before_migrate


class Command(migrate.Command):
    def check(self, *args, **kwargs):
        with checking_before_migrate():
            return super().check(*args, **kwargs)

    def handle(self, *args, **options):
        with connected_as_owner(options["database"]):
            return super().handle(*args, **options)
