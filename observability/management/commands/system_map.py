"""Print the system map; with --strict, exit 1 when anything is flagged (for CI)."""

from django.core.management.base import BaseCommand, CommandError

from observability.system_map import render_json, render_markdown, render_text, system_map
from workflows.registry import UnknownWorkflow

RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


class Command(BaseCommand):
    help = (
        "The five-line audit of each workflow (trigger, decide, execute, record, watch), "
        "flagging people without an SLA and escalation and parts nobody watches."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workflow", help="Only this workflow.")
        parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
        parser.add_argument(
            "--strict", action="store_true", help="Exit 1 when anything is flagged."
        )

    def handle(self, *args, workflow=None, format="text", strict=False, **options):
        try:
            maps = system_map(workflow=workflow)
        except UnknownWorkflow as error:
            raise CommandError(str(error)) from error
        self.stdout.write(RENDERERS[format](maps))
        flagged = sum(len(mapped.flags) for mapped in maps)
        if strict and flagged:
            self.stderr.write(f"system map: {flagged} flagged")
            raise SystemExit(1)
