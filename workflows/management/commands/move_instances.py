from django.core.management.base import BaseCommand, CommandError

from workflows import engine, registry


class Command(BaseCommand):
    help = (
        "Move a workflow's live instances out of the states its current version removed or "
        "re-stepped, as its declaration's `moves` says, through the engine."
    )

    def add_arguments(self, parser):
        parser.add_argument("workflow")

    def handle(self, *args, workflow: str, **options):
        try:
            definition = registry.get(workflow)
        except registry.UnknownWorkflow as error:
            raise CommandError(str(error)) from None
        moved = 0
        waiting = definition.model.objects.filter(
            state__in=list(definition.moves), definition_version__lt=definition.version
        ).order_by("pk")
        for instance in waiting.iterator(chunk_size=500):
            engine.move_instance(instance=instance)
            moved += 1
        self.stdout.write(f"{definition.name}: moved {moved} instance(s) to v{definition.version}")
