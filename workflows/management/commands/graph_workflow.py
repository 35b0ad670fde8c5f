from django.core.management.base import BaseCommand, CommandError

from workflows import registry
from workflows.diagram import mermaid_state_diagram


class Command(BaseCommand):
    help = "Print a workflow's states and transitions as a Mermaid stateDiagram-v2."

    def add_arguments(self, parser):
        parser.add_argument("workflow", help="a registered workflow's name (see list_workflows)")

    def handle(self, *args, workflow: str, **options):
        try:
            definition = registry.get(workflow)
        except registry.UnknownWorkflow as error:
            known = ", ".join(d.name for d in registry.all_definitions())
            raise CommandError(f"{error} (known: {known})") from None
        self.stdout.write(mermaid_state_diagram(definition), ending="")
