"""Mint an API key for an integration (created if missing); the key is the last line printed."""

from django.core.management.base import BaseCommand, CommandError

from integrations import services
from integrations.models import Scope
from opscore.actors import command_actor


class Command(BaseCommand):
    help = "Create an API key for <integration> and print it (shown once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Integration name; created if it does not exist.")
        parser.add_argument(
            "--scope",
            action="append",
            choices=[scope.value for scope in Scope],
            help="Endpoint scope (repeatable). Default: every scope but instances:read_all, "
            "so a key reads only the instances its own events reached.",
        )
        parser.add_argument(
            "--event-type",
            action="append",
            help="Event type it may send (repeatable). Default: every type (*).",
        )
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, integration: str, scope, event_type, name: str, **options):
        actor = command_actor("create_api_key")
        found, created = services.ensure_integration(
            name=integration, actor=actor, channel="command"
        )
        if not found.is_active:
            raise CommandError(f"integration {integration!r} is deactivated")
        api_key, plaintext = services.create_api_key(
            integration=found,
            scopes=scope or [s.value for s in Scope if s != Scope.INSTANCES_READ_ALL],
            event_types=event_type or ["*"],
            name=name,
            actor=actor,
            channel="command",
        )
        if created:
            self.stderr.write(f"created integration {found.name}")
        self.stderr.write(
            f"key {api_key.prefix} for {found.name}: scopes {', '.join(api_key.scopes)}; "
            f"event types {', '.join(api_key.event_types)}. It is shown only this once."
        )
        self.stdout.write(plaintext)
