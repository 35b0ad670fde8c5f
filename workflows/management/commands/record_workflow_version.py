from django.core.management.base import BaseCommand, CommandError

from workflows import registry
from workflows.versions import ShapeConflict, record_shape, shape_path, shown_path


class Command(BaseCommand):
    # Like makemigrations: it fixes what the checks report, so they must not stop it.
    requires_system_checks: list[str] = []
    help = (
        "Record the shape (states, steps, edges) of each named workflow's current version, "
        "as a file to commit beside its app; the checks compare later versions with it."
    )

    def add_arguments(self, parser):
        parser.add_argument("workflows", nargs="*", help="workflow names (default: all)")

    def handle(self, *args, workflows: list[str], **options):
        try:
            definitions = [registry.get(name) for name in workflows] or registry.all_definitions()
        except registry.UnknownWorkflow as error:
            raise CommandError(str(error)) from None
        for definition in definitions:
            try:
                written = record_shape(definition)
            except ShapeConflict as error:
                raise CommandError(str(error)) from None
            path = shape_path(definition, definition.version)
            verb = "recorded" if written else "already recorded"
            self.stdout.write(
                f"{definition.name} v{definition.version}: {verb} ({shown_path(path)})"
            )
