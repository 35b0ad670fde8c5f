from django.core.management.base import BaseCommand

from workflows import registry


class Command(BaseCommand):
    help = "List the registered workflow types, their steps and terminal states."

    def handle(self, *args, **options):
        for definition in registry.all_definitions():
            self.stdout.write(f"{definition.name}: {definition.description}")
            for step in definition.steps:
                self.stdout.write(f"  {step.name:<20} {step.kind:<8} in state {step.state}")
            terminal = ", ".join(sorted(definition.terminal_states))
            self.stdout.write(f"  terminal states: {terminal}")
